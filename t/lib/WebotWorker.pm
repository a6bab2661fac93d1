package WebotWorker;

# Helpers for the job worker's tests (t/70_worker*.t). The shared test
# httpd runs with WebotWorker Off, so these tests start httpd instances of
# their own (generated configs, same database, same module) next to an
# executor stand-in (t/executor_standin.pl):
#
#   my $ex = start_standin();                    # ->url, ->calls, ->stop
#   my $h  = start_worker_httpd(name => 'a', executor => $ex->url,
#              conf => {WebotWorkerLease => 4});  # ->url, ->stop, ->graceful
#   my $acct = make_account(plan => 'agent_pro');
#   my @ids = insert_jobs($acct, 10, title => 'mode=slow:2');
#   wait_for(sub { all_status(\@ids, 'ready_for_customer_review') }, 30);
#
# Every instance's error_log is checked for [error] lines when it stops
# (unexpected ones fail the test), like scripts/errlog-check.sh does for
# the shared server.

use strict;
use warnings;

use Exporter 'import';
use Carp qw(croak);
use File::Path qw(make_path);
use IO::Socket::INET;
use POSIX ();
use Test::More ();
use Time::HiRes qw(time sleep);
use WebotTest;

our @EXPORT = qw(
  start_standin start_worker_httpd free_port wait_for
  insert_jobs create_job job_row job_status events_of all_status
  worker_test_dir
);

sub worker_test_dir {
  my $d = ($ENV{WEBOT_TEST_DIR} || croak 'WEBOT_TEST_DIR is not set (run under make test)')
    . '/worker';
  make_path($d);
  return $d;
}

sub free_port {
  my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                Listen => 1, ReuseAddr => 1) or croak "socket: $!";
  my $p = $s->sockport;
  close $s;
  return $p;
}

# wait_for(CODE, SECONDS[, STEP]): polls until CODE returns true; returns
# its last value (false on timeout).
sub wait_for {
  my ($code, $secs, $step) = @_;
  my $end = time + $secs;
  while (1) {
    my $v = $code->();
    return $v if $v;
    return $v if time >= $end;
    sleep($step // 0.2);
  }
}

# ---------------------------------------------------------------------------
# Jobs

my $seq = 0;

# insert_jobs($acct, $n, title => T, option => O, intake => {..},
#             quota_period => PERIOD_START)
# Inserts $n queued jobs straight into the database (as POST /jobs would
# leave them; with quota_period, charged to that quota period) and NOTIFYs
# webot_jobs. Returns the ids.
sub insert_jobs {
  my ($acct, $n, %o) = @_;
  my $title = $o{title} // 'mode=ok';
  my $option = $o{option} // 'tone_rewrites_copy_polish';
  my $family = $o{family} // ($option =~ /^(market_scan|competitor_brief|literature_summary)$/
    ? 'research_brief' : $option =~ /^(csv_normalization|contact_list_dedup|spreadsheet_restructure)$/
    ? 'data_cleanup' : 'create_polish');
  my $intake = json_encode($o{intake} // default_intake($family));
  my $tag = sprintf 'w%d%d%d', $$, time, ++$seq;
  my $q = sub { my $s = shift; $s =~ s/'/''/g; "'$s'" };
  my $period = defined $o{quota_period} ? $q->($o{quota_period}) . '::timestamptz' : 'NULL';
  if (defined $o{quota_period}) {     # charge the quota as POST /jobs does
    psql(sprintf "UPDATE quota_periods SET used = used + %d WHERE account_id = %s"
      . " AND period_start = %s", $n, $q->($acct->{account_id}), $period);
  }
  my @args = ($q->($tag), $q->($acct->{account_id}), $q->($family), $q->($option),
              $q->($title), $q->($intake), $period, $n);
  my @ids = psql(sprintf <<'SQL', @args);
WITH ins AS (
  INSERT INTO jobs (id, account_id, status, service_family, service_option, title,
                    intake, max_revisions, event_seq, created_at, quota_period_start)
  SELECT 'job_' || %s || lpad(g::text, 6, '0'), %s, 'queued', %s, %s, %s, %s::jsonb, 2, 1,
         clock_timestamp(), %s
  FROM generate_series(1, %s) g
  RETURNING id, account_id),
ev AS (
  INSERT INTO job_events (id, job_id, account_id, seq, type, status, message)
  SELECT 'evt_' || md5(random()::text || id), id, account_id, 1, 'job.queued', 'queued',
         'The job was received and is waiting to be picked up.' FROM ins)
SELECT id FROM ins ORDER BY id;
SQL
  psql("NOTIFY webot_jobs");
  return @ids;
}

sub default_intake {
  my ($family) = @_;
  return { audience => 'test', brand_constraints => 'none', tone => 'plain',
           delivery_format => 'text' } if $family eq 'create_polish';
  return { question => 'q?', decision_context => 'test' } if $family eq 'research_brief';
  return { dataset_description => 'rows', target_format => 'csv' };
}

# create_job($base_url, $acct, title => ..., option => ...): POST /jobs.
sub create_job {
  my ($base, $acct, %o) = @_;
  my $option = $o{option} // 'tone_rewrites_copy_polish';
  my $family = $option =~ /^(market_scan|competitor_brief|literature_summary)$/
    ? 'research_brief' : 'create_polish';
  my $r = api_post("$base/api/v1/jobs", key => $acct->{key},
    headers => { 'Idempotency-Key' => idem_key() },
    json => { service_option => $option, title => $o{title} // 'mode=ok',
              intake => $o{intake} // default_intake($family),
              ($o{file_ids} ? (file_ids => $o{file_ids}) : ()) });
  croak 'POST /jobs: ' . $r->describe unless $r->status == 201;
  return $r->json;
}

sub job_row {
  my ($id) = @_;
  my @r = psql("SELECT status, attempts, coalesce(lease_owner,''), coalesce(last_error,''),"
    . " coalesce(deliverable::text,''), event_seq, quota_refunded FROM jobs WHERE id = '$id'");
  return undef unless @r;
  my @f = split /\|/, $r[0], -1;
  return { status => $f[0], attempts => $f[1], lease_owner => $f[2], last_error => $f[3],
           deliverable => $f[4], event_seq => $f[5], quota_refunded => $f[6] };
}

sub job_status { my $r = job_row($_[0]); $r ? $r->{status} : undef }

# events_of($id) -> [[seq, type, status, message], ...] in seq order
sub events_of {
  my ($id) = @_;
  return [ map { [ split /\|/, $_, -1 ] }
           psql("SELECT seq, type, status, message FROM job_events WHERE job_id = '$id' ORDER BY seq") ];
}

# all_status(\@ids, @statuses): true when every job has one of them.
sub all_status {
  my ($ids, @st) = @_;
  my $list = join ',', map { "'$_'" } @$ids;
  my $want = join ',', map { "'$_'" } @st;
  return psql_value("SELECT count(*) FROM jobs WHERE id IN ($list) AND status NOT IN ($want)") == 0;
}

# ---------------------------------------------------------------------------
# The executor stand-in

sub start_standin {
  my (%o) = @_;
  my $dir = worker_test_dir();
  my $name = sprintf 'standin-%d-%d', $$, ++$seq;
  my $log = "$dir/$name.log";
  open my $touch, '>', $log or croak "$log: $!";
  close $touch;
  my $pid = open(my $out, '-|') // croak "fork: $!";
  if (!$pid) {
    open STDERR, '>>', "$dir/$name.err";
    exec $^X, top_dir() . '/t/executor_standin.pl', '--secret-file',
      "$ENV{WEBOT_TEST_DIR}/executor_secret", '--log', $log, '--port', $o{port} // 0
      or POSIX::_exit(127);
  }
  my $line = <$out>;
  croak "executor stand-in did not start" unless $line && $line =~ /^PORT (\d+)/;
  return bless { pid => $pid, port => $1, log => $log, fh => $out }, 'WebotWorker::Standin';
}

package WebotWorker::Standin;
use Time::HiRes ();

sub url  { "http://127.0.0.1:$_[0]{port}/execute" }
sub port { $_[0]{port} }
sub pid  { $_[0]{pid} }

# lines(): parsed log lines [kind, time, job_id, attempt, rest...]
sub lines {
  my ($s) = @_;
  open my $fh, '<', $s->{log} or return ();
  return map { chomp; [ split / / ] } <$fh>;
}

# calls($job_id): start lines of that job (all jobs without an argument)
sub calls {
  my ($s, $id) = @_;
  return grep { $_->[0] eq 'start' && (!defined $id || $_->[2] eq $id) } $s->lines;
}

# done($job_id [, $status]): answers fully written
sub done {
  my ($s, $id, $status) = @_;
  return grep { $_->[0] eq 'done' && (!defined $id || $_->[2] eq $id)
                && (!defined $status || $_->[4] == $status) } $s->lines;
}

sub aborts {
  my ($s, $id) = @_;
  return grep { $_->[0] eq 'abort' && (!defined $id || $_->[2] eq $id) } $s->lines;
}

# counts per job of start lines: {job_id => n}
sub call_counts {
  my ($s) = @_;
  my %n;
  $n{ $_->[2] }++ for $s->calls;
  return \%n;
}

sub stop {
  my ($s) = @_;
  return unless $s->{pid};
  kill 'TERM', $s->{pid};
  waitpid $s->{pid}, 0;
  $s->{pid} = undef;
}

sub DESTROY { $_[0]->stop }

# ---------------------------------------------------------------------------
# httpd instances with the worker

package WebotWorker;

my @INSTANCES;

sub _httpd_bin {
  return $ENV{WEBOT_TEST_HTTPD} if $ENV{WEBOT_TEST_HTTPD};
  return "$ENV{WEBOT_TEST_DIR}/httpd-san" if $ENV{SANITIZE} && -x "$ENV{WEBOT_TEST_DIR}/httpd-san";
  chomp(my $sbin = `apxs -q SBINDIR`);
  chomp(my $target = `apxs -q TARGET`);
  return "$sbin/$target";
}

# start_worker_httpd(name => N, executor => URL|'manual', conf => {Directive => value},
#                    extra => 'raw config lines', allow => [regex, ...], port => N)
sub start_worker_httpd {
  my (%o) = @_;
  my $name = $o{name} // 'w';
  my $dir = worker_test_dir() . "/httpd-$name-$$";
  make_path("$dir/run", "$dir/logs", "$ENV{WEBOT_TEST_DIR}/core");
  system('chown', 'www-data:www-data', "$dir/run", "$ENV{WEBOT_TEST_DIR}/core") if $> == 0;
  my $port = $o{port} // free_port();
  my %conf = (
    WebotWorker => 'On',
    WebotWorkerConcurrency => 8,
    WebotWorkerLease => 6,
    WebotWorkerPollInterval => 2,
    WebotWorkerMaxAttempts => 3,
    WebotWorkerBackoff => '1 4',
    WebotExecutorTimeout => '20 5 20',
    %{ $o{conf} || {} },
  );
  my $T = $ENV{WEBOT_TEST_DIR};
  my $pg = $ENV{WEBOT_TEST_PG_PORT};
  my $executor = $o{executor} // 'manual';
  my $worker_lines = join "\n", map { "$_ $conf{$_}" } grep { defined $conf{$_} } sort keys %conf;
  my $cfg = <<"CONF";
ServerRoot "$dir"
ServerName 127.0.0.1
PidFile "$dir/run/httpd.pid"
DefaultRuntimeDir "$dir/run"
Mutex file:$dir/run default
ErrorLog "$dir/logs/error_log"
CoreDumpDirectory "$T/core"
LogLevel info ssl:warn
Listen 127.0.0.1:$port
Include "$T/modules.conf"
LoadModule webot_module "$ENV{WEBOT_TEST_SO}"
User www-data
Group www-data
StartServers 2
ServerLimit 4
ThreadsPerChild 10
MaxRequestWorkers 40
MinSpareThreads 5
MaxSpareThreads 40
TypesConfig /etc/mime.types
DocumentRoot "$dir"
DBDriver pgsql
DBDParams "host=127.0.0.1 port=$pg dbname=webot user=webot"
DBDPersist On
DBDMin 1
DBDKeep 4
DBDMax 12
DBDExptime 300
WebotCatalogFile "$T/catalog.json"
WebotSecretFile "$T/secret"
WebotExecutorSecretFile "$T/executor_secret"
WebotExecutor * $executor
$worker_lines
@{[ $o{extra} // '' ]}
<Location "/api/v1">
    SetHandler webot-api
</Location>
<Location "/server-status">
    SetHandler server-status
    Require ip 127.0.0.1
</Location>
ExtendedStatus On
CONF
  open my $fh, '>', "$dir/httpd.conf" or croak "$dir/httpd.conf: $!";
  print {$fh} $cfg;
  close $fh;
  my $h = bless { name => $name, dir => $dir, port => $port, conf => "$dir/httpd.conf",
                  allow => $o{allow} || [] }, 'WebotWorker::Httpd';
  $h->start;
  push @INSTANCES, $h;
  return $h;
}

END { $_->stop(quiet => 1) for grep { $_->{running} } @INSTANCES }

package WebotWorker::Httpd;
use Carp qw(croak);
use Time::HiRes qw(time sleep);
use WebotTest;

sub url  { "http://127.0.0.1:$_[0]{port}" }
sub dir  { $_[0]{dir} }
sub error_log { "$_[0]{dir}/logs/error_log" }

sub _ctl {
  my ($h, @args) = @_;
  my $bin = WebotWorker::_httpd_bin();
  my $out = `ulimit -c unlimited 2>/dev/null; $bin -f $h->{conf} @args 2>&1`;
  return ($? >> 8, $out);
}

sub parent_pid {
  my ($h) = @_;
  open my $fh, '<', "$h->{dir}/run/httpd.pid" or return undef;
  my $pid = <$fh>;
  chomp $pid if defined $pid;
  return $pid && kill(0, $pid) ? $pid : undef;
}

sub start {
  my ($h) = @_;
  my ($rc, $out) = $h->_ctl('-k', 'start');
  croak "httpd $h->{name} did not start: $out" if $rc;
  my $ok = WebotWorker::wait_for(sub {
    my $r = eval { api_get($h->url . '/api/v1/health') };
    $r && $r->status =~ /^(200|503)$/;
  }, 20);
  croak "httpd $h->{name} does not answer; log:\n" . $h->log_tail(30) unless $ok;
  $h->{running} = 1;
  return $h;
}

# Children of the parent process.
sub children {
  my ($h) = @_;
  my $pp = $h->parent_pid or return ();
  my @kids;
  for my $d (glob '/proc/[0-9]*') {
    open my $fh, '<', "$d/stat" or next;
    my $st = <$fh>;
    next unless $st && $st =~ /^(\d+) \(.*?\) \S (\d+)/;
    push @kids, $1 if $2 == $pp;
  }
  return @kids;
}

# server-status?auto as a hash
sub status {
  my ($h) = @_;
  my $r = api_get($h->url . '/server-status?auto');
  my %s;
  for (split /\n/, $r->content // '') { $s{$1} = $2 if /^([^:]+):\s*(.*)$/ }
  return \%s;
}

sub leader_pid {
  my ($h) = @_;
  my $pid = $h->status->{WebotWorkerLeaderPID};
  return $pid && $pid > 0 ? $pid : undef;
}

sub graceful {
  my ($h) = @_;
  my ($rc, $out) = $h->_ctl('-k', 'graceful');
  croak "graceful: $out" if $rc;
}

sub stop {
  my ($h, %o) = @_;
  return unless $h->{running};
  my $pp = $h->parent_pid;
  $h->_ctl('-k', 'stop');
  WebotWorker::wait_for(sub { !$pp || !kill(0, $pp) }, 20);
  $h->{running} = 0;
  $h->check_log unless $o{quiet};
}

sub restart_start { $_[0]->start }

sub log_tail {
  my ($h, $n) = @_;
  open my $fh, '<', $h->error_log or return '';
  my @l = <$fh>;
  $n //= 40;
  return join '', @l[($#l - $n + 1 < 0 ? 0 : $#l - $n + 1) .. $#l];
}

sub log_lines {
  my ($h, $re) = @_;
  open my $fh, '<', $h->error_log or return ();
  return grep { !$re || /$re/ } <$fh>;
}

# Fails the current test file when the log holds [error]-or-worse lines
# that are not allowed (t/error_log.allow plus the instance's own list).
sub check_log {
  my ($h) = @_;
  my @allow = @{ $h->{allow} };
  if (open my $fh, '<', WebotTest::top_dir() . '/t/error_log.allow') {
    for (<$fh>) { chomp; next if /^\s*(#|$)/; push @allow, qr/$_/ }
  }
  my @bad = grep { my $l = $_; !grep { $l =~ $_ } @allow }
            $h->log_lines(qr/\[(?:[a-z_]+:)?(?:error|crit|alert|emerg)\]/);
  Test::More::ok(!@bad, "httpd $h->{name}: no unexpected errors in its error_log")
    or Test::More::diag(join '', @bad[0 .. ($#bad > 9 ? 9 : $#bad)]);
}

1;
