# The worker's directives: every wrong value stops `apache2 -t` with one
# clear message naming the directive; good values pass.
use strict;
use warnings;
use Test::More;
use WebotTest;
use WebotWorker;

my $T = $ENV{WEBOT_TEST_DIR} or plan skip_all => 'run under make test';
my $dir = worker_test_dir() . "/configtest-$$";
mkdir $dir;
# the httpd to run: under SANITIZE it preloads the sanitizer runtimes
my $httpd = WebotTest::httpd_bin();

sub configtest {
  my ($lines) = @_;
  my $conf = "$dir/httpd.conf";
  open my $fh, '>', $conf or die;
  print {$fh} <<"CONF";
ServerRoot "$dir"
ServerName 127.0.0.1
PidFile "$dir/httpd.pid"
DefaultRuntimeDir "$dir"
ErrorLog "$dir/error_log"
Listen 127.0.0.1:1
Include "$T/modules.conf"
LoadModule webot_module "$ENV{WEBOT_TEST_SO}"
DBDriver pgsql
DBDParams "host=127.0.0.1 port=$ENV{WEBOT_TEST_PG_PORT} dbname=webot user=webot"
WebotCatalogFile "$T/catalog.json"
WebotSecretFile "$T/secret"
$lines
CONF
  close $fh;
  my $out = `$httpd -t -f $conf 2>&1`;
  return ($? >> 8, $out);
}

my ($rc, $out) = configtest(<<"OK");
WebotWorker On
WebotWorkerConcurrency 32
WebotWorkerLease 30
WebotWorkerPollInterval 5
WebotWorkerMaxAttempts 4
WebotWorkerBackoff 2 60
WebotWorkerHousekeepingInterval 60
WebotExecutor * manual
WebotExecutor create_polish https://executor.example.test/run
WebotExecutorSecretFile "$T/executor_secret"
WebotExecutorTimeout 300 10 60
WebotExecutorMaxResponseBytes 2097152
WebotNotifyConnInfo "host=127.0.0.1 port=5432 dbname=webot connect_timeout=5"
OK
is $rc, 0, 'a complete worker configuration passes' or diag $out;

my @bad = (
  [ 'WebotWorker maybe', qr/WebotWorker/ ],
  [ 'WebotWorkerConcurrency 0', qr/WebotWorkerConcurrency: "0" is not an integer from 1 to 1000/ ],
  [ 'WebotWorkerConcurrency 10x', qr/WebotWorkerConcurrency: "10x" is not an integer/ ],
  [ 'WebotWorkerLease 1', qr/WebotWorkerLease: "1" is not an integer from 3 to 86400/ ],
  [ 'WebotWorkerPollInterval 0', qr/WebotWorkerPollInterval/ ],
  [ 'WebotWorkerMaxAttempts 1000', qr/WebotWorkerMaxAttempts/ ],
  [ 'WebotWorkerBackoff 10 5', qr/WebotWorkerBackoff.*MAX must be at least BASE/ ],
  [ 'WebotExecutor * ftp://example.test/x', qr/WebotExecutor: "ftp:\/\/example.test\/x" is neither manual nor an http/ ],
  [ 'WebotExecutor * https://user:pw@example.test/x', qr/no credentials/ ],
  [ "WebotExecutor * manual\nWebotExecutor * manual", qr/WebotExecutor: \* is configured twice/ ],
  [ 'WebotExecutor no_such_family manual', qr/WebotExecutor: no_such_family is not a service family of the catalog/ ],
  [ 'WebotExecutor * https://executor.example.test/run', qr/WebotExecutorSecretFile is not set/ ],
  [ 'WebotExecutorSecretFile /nonexistent/secret', qr/WebotExecutorSecretFile: cannot open \/nonexistent\/secret/ ],
  [ 'WebotExecutorTimeout 10 20', qr/WebotExecutorTimeout.*CONNECT at most TOTAL/ ],
  [ 'WebotExecutorTimeout', qr/WebotExecutorTimeout takes TOTAL/ ],
  [ 'WebotExecutorMaxResponseBytes 10', qr/WebotExecutorMaxResponseBytes/ ],
  [ "WebotNotifyConnInfo \"host='unterminated\"", qr/WebotNotifyConnInfo: not a libpq connection string/ ],
  [ "<VirtualHost 127.0.0.1:1>\nWebotWorkerConcurrency 4\n</VirtualHost>", qr/WebotWorkerConcurrency cannot occur within <VirtualHost> section/ ],
);
for my $b (@bad) {
  my ($lines, $re) = @$b;
  ($rc, $out) = configtest($lines);
  (my $name = $lines) =~ s/\n/ \/ /g;
  ok $rc != 0 && $out =~ $re, "refused: $name" or diag "rc $rc: $out";
}

# The secret never appears in messages.
open my $fh, '<', "$T/executor_secret" or die;
my $secret = <$fh>;
($rc, $out) = configtest("WebotExecutor * https://x.example.test/\nWebotExecutorSecretFile \"$T/executor_secret\"\nWebotWorkerLease 0");
unlike $out, qr/\Q$secret\E/, 'no secret in configtest output';

done_testing;
