package WebotTest;

# Helpers for the mod_webot Apache::Test suite (run by `make test`, which
# exports the WEBOT_TEST_* variables described in scripts/test.sh).
#
#   use Test::More;
#   use WebotTest;
#
#   my $r = api_get('/api/v1/health');               # a WebotTest::Response
#   is $r->status, 200; is $r->json->{status}, 'ok';
#   $r = api_post('/api/v1/jobs', json => {...}, key => $key,
#                 headers => {'Idempotency-Key' => idem_key()});
#   error_ok($r, 404, 'NOT_FOUND');                  # contract error body
#   my $c = new_client();                            # own cookie jar (sessions)
#   $c->post('/api/v1/auth/login', json => {...});
#   psql("UPDATE ..."); my $n = psql_value("SELECT count(*) FROM jobs");
#   pg_stop(); ... pg_start();                       # 503 path
#   my $o = webotctl_json(qw(account create --name x));
#   my $acct = make_account(plan => 'both_pro');     # account + owner + key
#   system(httpd_bin(), '-t', '-f', $conf);          # apache2 (SANITIZE-aware)
#   httpd_graceful();                                # after changing included conf
#
# Request options (all methods): json => DATA (encoded, Content-Type set),
# body => RAW, content_type => TYPE, headers => {NAME => VALUE},
# key => API_KEY (Authorization: Bearer), https => 1 (the TLS port).
# A path may also be a full URL (presigned upload URLs).

use strict;
use warnings;

use Exporter 'import';
use Carp qw(croak);
use Digest::SHA qw(hmac_sha256_hex);
use File::Temp ();
use HTTP::Request ();
use JSON::PP ();
use LWP::UserAgent ();
use HTTP::Cookies ();
use Test::More ();
use POSIX ();
use Time::HiRes ();

our @EXPORT = qw(
  base_url https_url new_client
  api_request api_get api_post api_put api_delete
  error_ok json_encode json_decode
  psql psql_value pg_stop pg_start pg_restart pg_status
  webotctl webotctl_json make_account
  idem_key stripe_signature error_log_tail top_dir build_dir httpd_bin
  httpd_graceful hold_table_lock table_lock_held release_table_lock
  in_parallel
);

my $JSON = JSON::PP->new->utf8->canonical;

sub json_encode { $JSON->encode($_[0]) }
sub json_decode { $JSON->decode($_[0]) }

sub top_dir {
  return $ENV{WEBOT_TOP} if $ENV{WEBOT_TOP};
  require File::Basename; require Cwd;
  return Cwd::abs_path(File::Basename::dirname(__FILE__) . '/../..');
}

sub build_dir {
  return $ENV{WEBOT_BUILD_DIR} if $ENV{WEBOT_BUILD_DIR};
  return top_dir() . ($ENV{SANITIZE} ? '/build-san' : '/build');
}

# The httpd binary to run for anything that loads the built module (e.g.
# `apache2 -t -f CONF`): under SANITIZE a wrapper that preloads the sanitizer
# runtimes, without which the instrumented module cannot load.
sub httpd_bin {
  return $ENV{WEBOT_TEST_HTTPD} if $ENV{WEBOT_TEST_HTTPD};
  chomp(my $sbin = `apxs -q SBINDIR`);
  chomp(my $target = `apxs -q TARGET`);
  return "$sbin/$target";
}

# httpd_graceful(): a graceful restart of the test httpd (after a test
# changed a file that t/conf/extra.conf includes). Checks the configuration
# first (croaks with apache2 -t's output instead of killing the server), then
# waits until the new generation runs and answers GET /api/v1/health.
sub httpd_graceful {
  my $t = top_dir() . '/t';
  my ($rc, $out, $err) = _run({}, httpd_bin(), '-d', $t, '-f', "$t/conf/httpd.conf",
    qw(-D APACHE2 -D APACHE2_4 -t));
  croak "httpd configtest failed, no restart: $err$out" if $rc;
  open my $fh, '<', "$t/logs/httpd.pid" or croak "no $t/logs/httpd.pid: $!";
  chomp(my $pid = <$fh> // '');
  close $fh;
  croak "bad pid in $t/logs/httpd.pid" unless $pid =~ /^\d+$/;
  my $generations = sub {
    my $n = 0;
    open my $log, '<', $ENV{WEBOT_TEST_ERROR_LOG} // "$t/logs/error_log" or return 0;
    while (<$log>) { $n++ if /resuming normal operations/ }
    return $n;
  };
  my $before = $generations->();
  kill 'USR1', $pid or croak "kill USR1 $pid: $!";
  require Time::HiRes;
  my $deadline = time + 30;
  while ($generations->() <= $before) {
    croak 'httpd did not finish its graceful restart within 30 s' if time > $deadline;
    Time::HiRes::sleep(0.1);
  }
  # any answer from httpd counts (LWP marks its own connection errors)
  while ((api_get('/api/v1/health')->header('Client-Warning') // '') eq 'Internal response') {
    croak 'httpd does not answer after its graceful restart' if time > $deadline;
    Time::HiRes::sleep(0.1);
  }
  return 1;
}

# Base URL of the test httpd: WEBOT_TEST_BASE_URL, else Apache::Test's config.
sub base_url {
  return $ENV{WEBOT_TEST_BASE_URL} if $ENV{WEBOT_TEST_BASE_URL};
  require Apache::TestConfig;
  my $port = Apache::TestConfig->thaw->{vars}{port};
  return "http://127.0.0.1:$port";
}

sub https_url {
  return $ENV{WEBOT_TEST_HTTPS_URL} || croak 'WEBOT_TEST_HTTPS_URL is not set (run under make test)';
}

# ---------------------------------------------------------------------------
# HTTP

my $default_client;

sub new_client {
  my (%opt) = @_;
  return WebotTest::Client->new(cookies => 1, %opt);
}

sub _default { $default_client ||= WebotTest::Client->new(cookies => 0) }

sub api_request { _default()->request(@_) }
sub api_get     { _default()->request(GET    => @_) }
sub api_post    { _default()->request(POST   => @_) }
sub api_put     { _default()->request(PUT    => @_) }
sub api_delete  { _default()->request(DELETE => @_) }

# error_ok($res, $status, $code [, $name]): the response is the contract's
# error: the status, a JSON body {"error":{...}} with exactly code, message,
# request_id, suggested_action, suggested_endpoint, param and details (a list
# of objects), and the request id echoed in X-Request-Id. One test (a
# subtest); returns the error object (or undef).
my %ACTIONS = map { $_ => 1 }
  qw(retry wait revise_request upgrade_plan ask_human reauthenticate none);

sub error_ok {
  my ($res, $status, $code, $name) = @_;
  $name //= "$status $code";
  my $err;
  local $Test::Builder::Level = $Test::Builder::Level + 1;
  Test::More::subtest($name => sub {
    Test::More::is($res->status, $status, "status $status")
      or Test::More::diag($res->describe);
    Test::More::like($res->header('Content-Type') // '', qr{^application/(problem\+)?json\b}i,
      'JSON content type');
    my $j = $res->json;
    unless (Test::More::ok(ref $j eq 'HASH' && ref $j->{error} eq 'HASH', 'body is {"error":{...}}')) {
      Test::More::diag('body: ' . substr($res->content // '', 0, 500));
      return;
    }
    Test::More::is_deeply([sort keys %$j], ['error'], 'nothing beside "error"');
    $err = $j->{error};
    Test::More::is_deeply([sort keys %$err],
      [sort qw(code message request_id suggested_action suggested_endpoint param details)],
      'error has exactly the contract fields');
    Test::More::is($err->{code}, $code, "code $code");
    Test::More::ok(defined $err->{message} && !ref $err->{message} && length $err->{message},
      'message is a non-empty string');
    Test::More::ok(defined $err->{request_id} && !ref $err->{request_id} && length $err->{request_id},
      'request_id is a non-empty string');
    Test::More::is($res->header('X-Request-Id'), $err->{request_id},
      'X-Request-Id header matches request_id');
    Test::More::ok($ACTIONS{ $err->{suggested_action} // '' },
      'suggested_action is one of the contract values')
      or Test::More::diag('suggested_action: ' . ($err->{suggested_action} // 'undef'));
    Test::More::ok(!defined $err->{suggested_endpoint} || !ref $err->{suggested_endpoint},
      'suggested_endpoint is a string or null');
    Test::More::ok(!defined $err->{param} || !ref $err->{param}, 'param is a string or null');
    Test::More::ok(ref $err->{details} eq 'ARRAY'
        && !grep({ ref $_ ne 'HASH' } @{ $err->{details} }),
      'details is a list of objects');
  });
  return $err;
}

# ---------------------------------------------------------------------------
# Database of the test cluster (psql, as user webot).

sub _conninfo {
  return $ENV{WEBOT_TEST_DB} || croak 'WEBOT_TEST_DB is not set (run under make test)';
}

# psql($sql [, user => 'postgres']): runs SQL (one or more statements)
# against the test database, as role webot (or the superuser postgres, e.g.
# for pg_terminate_backend of other roles); returns the output rows
# (unaligned, tuples only, fields separated by '|') as a list in list
# context, or as one string. Dies on any error.
sub psql {
  my ($sql, %o) = @_;
  my $conninfo = _conninfo();
  $conninfo .= " user=$o{user}" if $o{user};   # a later keyword wins
  my ($rc, $out, $err) = _run({ stdin => $sql },
    'psql', '-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-d', $conninfo, '-f', '-');
  croak "psql failed ($rc): $err\nSQL: $sql" if $rc;
  chomp $out;
  return wantarray ? split(/\n/, $out) : $out;
}

# psql_value($sql [, user => ...]): the first field of the first row (undef if no row).
sub psql_value {
  my @rows = psql(@_);
  return undef unless @rows;
  return (split /\|/, $rows[0], -1)[0];
}

# in_parallel($n, sub { my ($i) = @_; ...; return "text" }) -> what each of
# $n child processes returned ($i from 0), in order ("died: ..." if one
# died). The children start their work together: they wait for a common
# start time after all are forked.
sub in_parallel {
  my ($n, $code) = @_;
  my $start = Time::HiRes::time() + 0.5 + $n * 0.01;
  my (@pids, @files);
  for my $i (0 .. $n - 1) {
    my $f = File::Temp->new;
    push @files, $f;
    my $pid = fork // croak "fork: $!";
    if (!$pid) {
      my $wait = $start - Time::HiRes::time();
      Time::HiRes::sleep($wait) if $wait > 0;
      my $out = eval { $code->($i) };
      $out = "died: $@" unless defined $out;
      open my $fh, '>', $f->filename or POSIX::_exit(1);
      print {$fh} $out;
      close $fh;
      POSIX::_exit(0);
    }
    push @pids, $pid;
  }
  waitpid $_, 0 for @pids;
  my @out;
  for my $f (@files) {
    open my $fh, '<', $f->filename or croak "read result: $!";
    local $/;
    push @out, scalar <$fh> // '';
  }
  return @out;
}

# hold_table_lock($table, $seconds) -> pid: another session takes an ACCESS
# EXCLUSIVE lock on $table and keeps it $seconds (waitpid the pid, or
# release_table_lock($table) to end it early); returns once the lock is held.
sub hold_table_lock {
  my ($table, $seconds) = @_;
  croak "bad table name $table" unless $table =~ /^[a-z_]+$/;
  my $pid = fork // croak "fork: $!";
  if (!$pid) {
    open STDOUT, '>', '/dev/null';
    open STDERR, '>', '/dev/null';
    exec('psql', '-X', '-q', '-d', _conninfo(), '-c',
         "BEGIN; LOCK TABLE $table IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep($seconds); COMMIT;")
      or POSIX::_exit(1);
  }
  my $until = Time::HiRes::time() + 10;
  Time::HiRes::sleep(0.05) while !table_lock_held($table) && Time::HiRes::time() < $until;
  return $pid;
}

# Whether some session holds an ACCESS EXCLUSIVE lock on $table.
sub table_lock_held {
  my ($table) = @_;
  return psql_value("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                  . " WHERE c.relname = '$table' AND l.mode = 'AccessExclusiveLock' AND l.granted") > 0;
}

# Ends the session that holds the lock (hold_table_lock).
sub release_table_lock {
  my ($table) = @_;
  psql("SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
     . " WHERE c.relname = '$table' AND l.mode = 'AccessExclusiveLock' AND l.granted");
}

sub _testpg {
  my ($cmd) = @_;
  my ($rc, $out, $err) = _run({}, top_dir() . '/scripts/testpg.sh', $cmd);
  croak "testpg.sh $cmd failed: $err$out" if $rc && $cmd ne 'status';
  return $rc == 0;
}

# Stop / start the test PostgreSQL cluster (to test 503 SERVICE_UNAVAILABLE
# and reconnection). Always pg_start() again before the test file ends.
sub pg_stop    { _testpg('stop') }
sub pg_start   { _testpg('start') }
sub pg_restart { _testpg('restart') }
sub pg_status  { _testpg('status') }   # true while running

# ---------------------------------------------------------------------------
# webotctl (build/webotctl, or build-san/ under SANITIZE) against the test DB.

# webotctl([{stdin => TEXT}], @args) -> ($exit_code, $stdout, $stderr)
sub webotctl {
  my $opt = ref $_[0] eq 'HASH' ? shift : {};
  my $ctl = build_dir() . '/webotctl';
  croak "$ctl does not exist" unless -x $ctl;
  return _run($opt, $ctl, '--db', _conninfo(), @_);
}

# webotctl_json([{stdin => TEXT}], @args) -> decoded JSON of `--json`; dies on failure.
sub webotctl_json {
  my $opt = ref $_[0] eq 'HASH' ? shift : {};
  my ($rc, $out, $err) = webotctl($opt, '--json', @_);
  croak "webotctl @_ failed ($rc): $err" if $rc;
  my $j = eval { json_decode($out) };
  croak "webotctl @_ printed no JSON: $out" unless ref $j;
  return $j;
}

# make_account(plan => ID, role => 'owner', name => ..., scopes => 'a,b',
#              grant => {'--monthly-jobs' => 5, ...}, no_entitlement => 1)
# -> {account_id, user_id, email, password, key, key_id, plan}
sub make_account {
  my (%o) = @_;
  my $tag = idem_key();
  my $acct = webotctl_json(qw(account create --name), $o{name} // "test $tag");
  my $email = $o{email} // lc("u-$tag\@example.test");
  my $password = $o{password} // "pw-$tag";
  my $user = webotctl_json({ stdin => "$password\n" }, 'user', 'create',
    '--account', $acct->{id}, '--email', $email, '--role', $o{role} // 'owner', '--password-stdin');
  if ($o{plan} && !$o{no_entitlement}) {
    webotctl_json('entitlement', 'grant', '--account', $acct->{id}, '--plan', $o{plan},
      %{ $o{grant} || {} });
  }
  my @scopes = $o{scopes} ? ('--scopes', $o{scopes}) : ();
  my $key = webotctl_json('key', 'create', '--account', $acct->{id}, '--name', "key $tag", @scopes);
  return { account_id => $acct->{id}, user_id => $user->{id}, email => $email,
           password => $password, key => $key->{key}, key_id => $key->{id},
           plan => $o{plan} };
}

# ---------------------------------------------------------------------------
# Small things.

my $idem_n = 0;
# A fresh valid Idempotency-Key (16–128 chars of [A-Za-z0-9._:-]).
sub idem_key { sprintf 'idem-%d-%d-%s-%d', $$, time, join('', map { (0..9, 'a'..'f')[rand 16] } 1..12), ++$idem_n }

# stripe_signature($payload, [$secret, [$t]]) -> "t=...,v1=..." header value
sub stripe_signature {
  my ($payload, $secret, $t) = @_;
  $secret //= $ENV{WEBOT_TEST_STRIPE_WEBHOOK_SECRET} // croak 'no webhook secret';
  $t //= time;
  return "t=$t,v1=" . hmac_sha256_hex("$t.$payload", $secret);
}

# The last N lines of the test httpd's error_log (for checks of log lines).
sub error_log_tail {
  my ($n) = @_;
  my $file = $ENV{WEBOT_TEST_ERROR_LOG} // top_dir() . '/t/logs/error_log';
  open my $fh, '<', $file or return ();
  my @lines = <$fh>;
  return @lines[ ($#lines - ($n // 50) + 1 < 0 ? 0 : $#lines - ($n // 50) + 1) .. $#lines ];
}

# _run({stdin => TEXT}, @cmd) -> ($exit_code, $stdout, $stderr)
sub _run {
  my ($opt, @cmd) = @_;
  my $in = File::Temp->new; my $out = File::Temp->new; my $err = File::Temp->new;
  print {$in} $opt->{stdin} // '';
  close $in;
  my $pid = fork // croak "fork: $!";
  if (!$pid) {
    open STDIN, '<', $in->filename or die;
    open STDOUT, '>', $out->filename or die;
    open STDERR, '>', $err->filename or die;
    exec @cmd or do { print STDERR "exec $cmd[0]: $!"; POSIX::_exit(127) };
  }
  waitpid $pid, 0;
  my $rc = $? & 127 ? 128 + ($? & 127) : $? >> 8;
  my $slurp = sub { local $/; open my $fh, '<', $_[0] or return ''; my $s = <$fh>; $s // '' };
  return ($rc, $slurp->($out->filename), $slurp->($err->filename));
}

require POSIX;

# ===========================================================================
package WebotTest::Client;

use strict;
use warnings;
use Carp qw(croak);

sub new {
  my ($class, %opt) = @_;
  my $ua = LWP::UserAgent->new(
    agent => 'webot-test/1', timeout => $opt{timeout} // 30, max_redirect => 0,
    ssl_opts => { verify_hostname => 0, SSL_verify_mode => 0 },
  );
  $ua->cookie_jar(HTTP::Cookies->new) if $opt{cookies};
  return bless { ua => $ua, key => $opt{key}, headers => $opt{headers} || {} }, $class;
}

sub ua { $_[0]{ua} }

# Default headers for every request of this client (e.g. X-CSRF-Token).
sub set_header { my ($s, $k, $v) = @_; if (defined $v) { $s->{headers}{$k} = $v } else { delete $s->{headers}{$k} } }
sub set_key    { $_[0]{key} = $_[1] }

sub request {
  my ($self, $method, $path, %o) = @_;
  my $url = $path =~ m{^https?://} ? $path
          : ($o{https} ? WebotTest::https_url() : WebotTest::base_url()) . $path;
  my $req = HTTP::Request->new($method => $url);
  my %h = (%{ $self->{headers} }, %{ $o{headers} || {} });
  my $key = exists $o{key} ? $o{key} : $self->{key};
  $req->header(Authorization => "Bearer $key") if defined $key;
  if (exists $o{json}) {
    $req->content(WebotTest::json_encode($o{json}));
    $req->header('Content-Type' => $o{content_type} // 'application/json');
  } elsif (defined $o{body}) {
    $req->content($o{body});
    $req->header('Content-Type' => $o{content_type}) if defined $o{content_type};
  } elsif (defined $o{content_type}) {
    $req->header('Content-Type' => $o{content_type});
  }
  $req->header('Content-Length' => length($req->content // '')) if $method =~ /^(POST|PUT|PATCH)$/;
  while (my ($k, $v) = each %h) { $req->header($k => $v) }
  return WebotTest::Response->new($self->{ua}->request($req));
}

sub get    { my $s = shift; $s->request(GET    => @_) }
sub post   { my $s = shift; $s->request(POST   => @_) }
sub put    { my $s = shift; $s->request(PUT    => @_) }
sub delete { my $s = shift; $s->request(DELETE => @_) }

# ===========================================================================
package WebotTest::Response;

# Fields (also methods): status, headers (HTTP::Headers), content (raw body),
# json (decoded body or undef), res (the HTTP::Response).
use strict;
use warnings;

sub new {
  my ($class, $res) = @_;
  my $content = $res->content;
  my $json;
  if (defined $content && length $content && $content =~ /^\s*[\[{]/) {
    $json = eval { JSON::PP->new->utf8->decode($content) };
  }
  return bless { status => $res->code, headers => $res->headers, content => $content,
                 json => $json, res => $res }, $class;
}

sub status  { $_[0]{status} }
sub headers { $_[0]{headers} }
sub header  { $_[0]{headers}->header($_[1]) }
sub content { $_[0]{content} }
sub json    { $_[0]{json} }
sub res     { $_[0]{res} }

# For diagnostics: the request line, status and the start of the body.
sub describe {
  my ($s) = @_;
  my $req = $s->{res}->request;
  return sprintf "%s %s -> %s\n%s", $req ? ($req->method, $req->uri) : ('?', '?'),
    $s->{res}->status_line, substr($s->{content} // '', 0, 1000);
}

1;
