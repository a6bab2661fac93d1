# docs/executor-example.cgi, the example executor of docs/worker.md, run
# under mod_cgid by the same httpd instance that runs the worker: a job
# comes back with its deliverable; with the wrong secret the executor
# answers 401 and the job goes to staff review.
use strict;
use warnings;
use Test::More;
use File::Copy qw(copy);
use WebotTest;
use WebotWorker;

my $MODDIR = `apxs -q LIBEXECDIR`;
chomp $MODDIR;
plan skip_all => 'mod_cgid is not installed' unless -f "$MODDIR/mod_cgid.so";

my $T = $ENV{WEBOT_TEST_DIR};
my $cgi = worker_test_dir() . "/cgi-$$";
mkdir $cgi;
copy(top_dir() . '/docs/executor-example.cgi', "$cgi/run.cgi") or die "copy: $!";
chmod 0755, "$cgi/run.cgi";
chmod 0755, $cgi;
open my $fh, '>', "$cgi/wrong_secret" or die;
print {$fh} 'not-the-secret-of-the-worker-0123456789';
close $fh;
chmod 0644, "$cgi/wrong_secret";

sub instance {
  my ($name, $secret) = @_;
  my $port = free_port();
  return start_worker_httpd(name => $name, executor => "http://127.0.0.1:$port/executor/run.cgi",
    port => $port, extra => <<"CONF");
LoadModule cgid_module $MODDIR/mod_cgid.so
ScriptSock "$T/worker/cgid-$name-$$.sock"
ScriptAlias "/executor/" "$cgi/"
<Directory "$cgi">
    Require ip 127.0.0.1
    SetEnv WEBOT_EXECUTOR_SECRET_FILE "$secret"
</Directory>
CONF
}

my $acct = make_account(plan => 'agent_pro');

my $h = instance('cgi', "$T/executor_secret");
my $job = create_job($h->url, $acct, title => 'Example executor');
ok wait_for(sub { job_status($job->{id}) eq 'ready_for_customer_review' }, 20),
  'ready_for_customer_review' or diag explain job_row($job->{id}), $h->log_tail(10);
my $r = api_get($h->url . "/api/v1/jobs/$job->{id}", key => $acct->{key});
is $r->json->{deliverable}{summary}, 'Draft for Example executor', 'the example\'s deliverable';
like $r->json->{deliverable}{text}, qr/tone: plain/, 'built from the brief\'s intake';
$h->stop;

$h = instance('cgibad', "$cgi/wrong_secret");
$job = create_job($h->url, $acct, title => 'Example executor, wrong secret');
ok wait_for(sub { job_status($job->{id}) eq 'needs_review' }, 20), 'needs_review';
like job_row($job->{id})->{last_error}, qr/HTTP 401/, 'the executor refused the signature (401)';
$h->stop;

done_testing;
