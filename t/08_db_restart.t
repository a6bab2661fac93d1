# The database goes away and comes back (the test PostgreSQL is stopped and
# started under the running httpd):
#   - while it is down, GET /api/v1/health answers 503 SERVICE_UNAVAILABLE
#     with Retry-After and the contract's error body, never a 500, and the
#     routes that need no database keep working;
#   - once it is back, the FIRST request succeeds, on new connections and on
#     connections kept alive across the outage: mod_dbd's pooled connections
#     are stale after the restart, and the module retries once on a fresh
#     one (prepared statements are prepared again on the new backend);
#   - the same after a quick restart with no request in between.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use WebotTest;
use WebotFoundation;

my $HEALTH = 'GET /api/v1/health';

# Always bring the database back, whatever happens here.
END { pg_start() unless pg_status() }

sub health_new_conn {
  my ($res) = raw_http("$HEALTH HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", count => 1, timeout => 20);
  return $res;
}

sub is_503 {
  my ($res, $name) = @_;
  local $Test::Builder::Level = $Test::Builder::Level + 1;
  subtest $name => sub {
    ok($res, 'answered') or return;
    is($res->{status}, 503, 'status 503') or diag(substr($res->{raw}, 0, 600));
    like($res->{headers}{'retry-after'} // '', qr/^[1-9]\d*$/, 'Retry-After in seconds');
    my $e = $res->{json} && ref $res->{json}{error} eq 'HASH' ? $res->{json}{error} : undef;
    ok($e, 'the body is the contract\'s {"error":{...}}') or diag($res->{body});
    is_deeply([sort keys %{ $res->{json} || {} }], ['error'], 'nothing beside "error"');
    is($e && $e->{code}, 'SERVICE_UNAVAILABLE', 'code SERVICE_UNAVAILABLE');
    is($e && $e->{suggested_action}, 'retry', 'suggested_action retry');
    is($e && $e->{request_id}, $res->{headers}{'x-request-id'}, 'request_id = X-Request-Id');
    unlike($res->{body}, qr/pgsql|postgres|libpq|connect\(|127\.0\.0\.1|port \d/i,
           'no database internals in the body');
  };
}

# requests on a mix of connections; returns the list of statuses
sub burst {
  my ($conns, $n) = @_;
  my @st;
  for my $i (1 .. $n) {
    my $res;
    if ($i % 3 == 0) {
      $res = health_new_conn();
    } else {
      my $c = $conns->[$i % @$conns];
      $res = ka_request($c, $HEALTH, timeout => 20);
      unless ($res) {       # the server may close an idle kept-alive connection
        ka_close($c);
        $conns->[$i % @$conns] = $c = ka_open();
        $res = ka_request($c, $HEALTH, timeout => 20);
      }
    }
    push @st, $res ? $res->{status} : 'none';
  }
  return @st;
}

ok(pg_status(), 'the test PostgreSQL runs');

# --- warm up: every child gets pooled connections --------------------------------------
my @conns = map { ka_open() } 1 .. 6;
my @warm = burst(\@conns, 40);
is_deeply([grep { $_ ne 200 } @warm], [], 'before the outage: 40 health requests, all 200');

# --- down ------------------------------------------------------------------------------------
pg_stop();
ok(!pg_status(), 'PostgreSQL stopped');

my @down;
for my $i (1 .. 6) {
  my $res = $i % 2 ? health_new_conn() : ka_request($conns[$i % @conns], $HEALTH, timeout => 20);
  $res //= health_new_conn();
  push @down, $res;
}
is_503($down[0], 'database down: health on a new connection');
is_503($down[1], 'database down: health on a connection kept alive from before');
{
  my $d = $down[0] && $down[0]{json} ? $down[0]{json}{error}{details} : [];
  ok((grep { ($_->{component} // '') eq 'database' && ($_->{status} // '') eq 'unavailable' } @{ $d || [] }),
     'database down: details name the database as unavailable');
}
my @codes = map { $_ ? $_->{status} : 'none' } @down;
is_deeply([grep { $_ ne 503 } @codes], [], 'database down: every health request is 503 (' . join(',', @codes) . ')');
ok(!grep({ $_->{status} >= 500 && $_->{status} != 503 } grep { $_ } @down), 'never a 500');

{
  my $t0 = time;
  my $res = health_new_conn();
  cmp_ok(time - $t0, '<', 5, 'the 503 comes quickly (no hang on the dead database)');
  my $id = 'db-down-check-' . int(rand(1e9));
  my ($r) = raw_http("$HEALTH HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: $id\r\nConnection: close\r\n\r\n", count => 1);
  is($r && $r->{status}, 503, 'a 503 with a client request id');
  is($r && $r->{headers}{'x-request-id'}, $id, 'the id is echoed');
  sleep 0.3;
  ok((grep { index($_, $id) >= 0 } error_log_tail(400)), 'and the error_log line of the outage names it');
}

# the routes that need no database are unaffected
is(api_get('/api/v1/catalog')->status, 200, 'database down: /catalog still 200');
is(api_get('/api/v1/plans')->status, 200, 'database down: /plans still 200');
is(api_get('/api/v1/openapi.json')->status, 200, 'database down: /openapi.json still 200');
is(api_post('/api/v1/catalog/intent-check', json => { service_option => 'market_scan' })->status, 200,
   'database down: intent-check still 200');

# --- back: the first request succeeds ---------------------------------------------------------
pg_start();
ok(pg_status(), 'PostgreSQL started again');
{
  my $first = health_new_conn();
  is($first && $first->{status}, 200, 'the FIRST request after the restart is 200')
    or diag($first ? substr($first->{raw}, 0, 600) : 'no answer');
  is($first && $first->{json} && $first->{json}{database}, 'ok', 'database ok');
}
my @after = burst(\@conns, 40);
is_deeply([grep { $_ ne 200 } @after], [], 'after the restart: 40 health requests over kept-alive and new '
          . 'connections, all 200 (' . join(',', @after) . ')');

# --- a quick restart with no request in between: every pooled connection is stale -------------------
@warm = burst(\@conns, 30);
is_deeply([grep { $_ ne 200 } @warm], [], 'warm again: all 200');
# the precondition of the test: httpd holds pooled connections that the
# restart will make stale (without the module's retry, the first request on
# each of them would fail)
my $pooled = psql_value("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                        . "AND pid <> pg_backend_pid() AND datname = current_database()");
cmp_ok($pooled, '>=', 2, "httpd holds $pooled pooled connections before the restart");
pg_restart();
ok(pg_status(), 'PostgreSQL restarted (stop + start, no request in between)');
my @quick = burst(\@conns, 40);
is($quick[0], 200, 'the first request after the quick restart is 200');
is_deeply([grep { $_ ne 200 } @quick], [], 'after the quick restart: 40 requests, all 200 (' . join(',', @quick) . ')');

# --- concurrency right after a restart ---------------------------------------------------------------
pg_restart();
{
  my @pids;
  pipe(my $rd, my $wr) or die "pipe: $!";
  for my $k (1 .. 8) {
    my $pid = fork // die "fork: $!";
    if (!$pid) {
      close $rd;
      my @s;
      for (1 .. 5) {
        my $res = health_new_conn();
        push @s, $res ? $res->{status} : 'none';
      }
      print {$wr} join(',', @s), "\n";
      close $wr;
      POSIX::_exit(0);
    }
    push @pids, $pid;
  }
  close $wr;
  my @lines = <$rd>;
  waitpid $_, 0 for @pids;
  my @all = map { chomp; split /,/ } @lines;
  is(scalar @all, 40, '8 clients x 5 requests right after a restart');
  is_deeply([grep { $_ ne 200 } @all], [], 'all 200 (' . join(',', @all) . ')');
}

ka_close($_) for @conns;
require POSIX;
done_testing;
