# t/23_ratelimit.t: per-key and per-session requests per minute, shared by
# every httpd process of the host (each request on a fresh connection, so
# they spread over the processes), the IETF RateLimit fields on every
# authenticated answer, 429 RATE_LIMITED with Retry-After, 401/403 not
# counted, and the usage events of 429s.
use strict;
use warnings;
use Test::More;
use WebotTest;
use WebotAuth;
use Time::HiRes ();

my %PLAN = map { $_->{id} => $_ } @{ api_get('/api/v1/plans')->json->{plans} };
my ($both) = grep { "@{$PLAN{$_}{access}}" eq 'api dashboard' } sort keys %PLAN;
my ($human) = grep { "@{$PLAN{$_}{access}}" eq 'dashboard' } sort keys %PLAN;
my @ENT = entitled_route();

sub rl { my ($r) = @_; my ($q) = ($r->header('RateLimit-Policy') // '') =~ /q=(\d+)/;
         my ($rem, $t) = ($r->header('RateLimit') // '') =~ /r=(\d+);t=(\d+)/; return ($q, $rem, $t) }

subtest 'shared by the processes: 12 parallel requests against 10 per minute' => sub {
  at_minute_start(12);
  my $a = make_account(plan => $both, grant => { '--rate-limit-per-minute' => 10 });
  my @pids;
  pipe(my $rd, my $wr) or die $!;
  for my $i (1 .. 12) {
    my $pid = fork // die;
    if (!$pid) {
      close $rd;
      my $r = api_get('/api/v1/me', key => $a->{key});
      print {$wr} $r->status . "\n";
      close $wr;
      POSIX::_exit(0);
    }
    push @pids, $pid;
  }
  close $wr;
  my @st = <$rd>;
  waitpid $_, 0 for @pids;
  chomp @st;
  my %n;
  $n{$_}++ for @st;
  is_deeply(\%n, { 200 => 10, 429 => 2 }, 'exactly 10 answered, 2 refused');
};

subtest '401 and 403 answers do not count' => sub {
  at_minute_start(12);
  my $a = make_account(plan => $human, grant => { '--rate-limit-per-minute' => 3 });
  my $narrow = webotctl_json(qw(key create --account), $a->{account_id}, qw(--name narrow --scopes jobs:read));
  # 403 FORBIDDEN (scope) x 6 with the narrow key
  my @st = map { api_get('/api/v1/me', key => $narrow->{key})->status } 1 .. 6;
  is_deeply(\@st, [ (403) x 6 ], 'six scope refusals are 403, never 429');
  my $r = api_get('/api/v1/me', key => $narrow->{key});
  is((rl($r))[1], 3, 'and the key\'s remaining budget is still 3');
  # 403 ENTITLEMENT_REQUIRED x 5 (a Human plan's API key)
  SKIP: {
    skip 'no Required route outside the account context is mounted', 2 unless @ENT;
    my ($m, $path, @o) = @ENT;
    @st = map { api_request($m => $path, key => $a->{key}, @o)->status } 1 .. 5;
    is_deeply(\@st, [ (403) x 5 ], 'five entitlement refusals are 403');
    $r = api_get('/api/v1/me', key => $a->{key});
    is((rl($r))[1], 2, '/me afterwards: only itself counted (3 - 1)');
  }
  # CSRF refusals of a session x 5
  my $c = session_for($a);
  my $tok = $c->{headers}{'X-CSRF-Token'};
  $c->set_header('X-CSRF-Token' => undef);
  @st = map { $c->post('/api/v1/auth/logout')->status } 1 .. 5;
  is_deeply(\@st, [ (403) x 5 ], 'five CSRF refusals are 403');
  $r = $c->get('/api/v1/me');
  is($r->status, 200, 'the session still works');
  is((rl($r))[1], 2, 'its budget only counts this request');
  # 401s have no key to count against and carry no RateLimit fields
  $r = api_get('/api/v1/me', key => 'wbt_' . ('Z' x 33));
  is($r->status, 401, 'unknown key: 401');
  ok(!defined $r->header('RateLimit'), 'no RateLimit on a 401');
};

subtest 'sessions have their own budget' => sub {
  at_minute_start(12);
  my $a = make_account(plan => $both, grant => { '--rate-limit-per-minute' => 2 });
  my $c = session_for($a);
  is($c->get('/api/v1/me')->status, 200, 'session request 1');
  is($c->get('/api/v1/me')->status, 200, 'session request 2');
  my $r = $c->get('/api/v1/me');
  error_ok($r, 429, 'RATE_LIMITED', 'session request 3: 429');
  ok($r->header('Retry-After') > 0, 'Retry-After');
  my $c2 = session_for($a);
  is($c2->get('/api/v1/me')->status, 200, 'another session of the same user: its own budget');
  is(api_get('/api/v1/me', key => $a->{key})->status, 200, 'the account\'s key: its own budget');
};

subtest 'the plan\'s limit applies without an override' => sub {
  my $a = make_account(plan => $both);
  my $r = api_get('/api/v1/me', key => $a->{key});
  is($r->header('RateLimit-Policy'), '"minute";q=' . $PLAN{$both}{limits}{rate_limit_per_minute} . ';w=60',
     'RateLimit-Policy from the plan');
  my $none = make_account();
  $r = api_get('/api/v1/me', key => $none->{key});
  like($r->header('RateLimit-Policy') // '', qr/^"minute";q=\d+;w=60$/, 'an account without a plan still has a limit');
};

# Last but one: the check of the next window then waits only for the rest
# of this minute.
my $next_window;
subtest 'a key with 5 per minute: 5 answers, then 429' => sub {
  at_minute_start(12);
  my $a = make_account(plan => $both, grant => { '--rate-limit-per-minute' => 5 });
  for my $i (1 .. 5) {
    my $r = api_get('/api/v1/me', key => $a->{key});
    is($r->status, 200, "request $i: 200") or diag($r->describe);
    is($r->header('RateLimit-Policy'), '"minute";q=5;w=60', "request $i: RateLimit-Policy");
    my (undef, $rem, $t) = rl($r);
    is($rem, 5 - $i, "request $i: remaining " . (5 - $i));
    ok($t >= 1 && $t <= 60, "request $i: t in 1..60 ($t)");
  }
  my $before = psql_value("SELECT count(*) FROM usage_events WHERE account_id = " . q_($a->{account_id})
                          . " AND code = 'RATE_LIMITED'");
  my $r = api_get('/api/v1/me', key => $a->{key});
  my $e = error_ok($r, 429, 'RATE_LIMITED', '6th request: 429');
  is($e && $e->{suggested_action}, 'wait', 'suggested_action wait');
  my (undef, $rem, $t) = rl($r);
  is($rem, 0, 'remaining 0');
  is($r->header('Retry-After'), $t, 'Retry-After equals the RateLimit reset');
  # other routes share the key's budget
  error_ok(api_get('/api/v1/entitlements', key => $a->{key}), 429, 'RATE_LIMITED', '/entitlements too');
  is(psql_value("SELECT count(*) FROM usage_events WHERE account_id = " . q_($a->{account_id})
                . " AND type = 'request.rejected' AND code = 'RATE_LIMITED'"), $before + 2,
     'each 429 is a request.rejected usage event');
  # another key of the same account has its own budget
  my $k2 = webotctl_json(qw(key create --account), $a->{account_id}, qw(--name second));
  is(api_get('/api/v1/me', key => $k2->{key})->status, 200, 'another key of the account: its own window');
  # the next window: checked at the end of the file, once it has begun
  # (the other subtests run meanwhile instead of a sleep)
  $next_window = { key => $a->{key}, at => Time::HiRes::time() + $t + 0.5 };
};

subtest 'the next window gives a fresh budget' => sub {
  plan skip_all => 'the first subtest did not get that far' unless $next_window;
  my $wait = $next_window->{at} - Time::HiRes::time();
  if ($wait > 0) {
    note(sprintf 'waiting %.1fs for the next window', $wait);
    Time::HiRes::sleep($wait);
  }
  my $r = api_get('/api/v1/me', key => $next_window->{key});
  is($r->status, 200, 'next minute: 200 again') or diag($r->describe);
  is((rl($r))[1], 4, 'with a fresh budget');
};

done_testing;
