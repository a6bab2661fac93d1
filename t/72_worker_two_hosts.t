# Two httpd instances (two "hosts") with their workers on one database:
# 500 jobs, each executed exactly once (counted at the executor stand-in),
# both instances taking part; server-status and heartbeats per instance.
use strict;
use warnings;
use Test::More;
use WebotTest;
use WebotWorker;

my $ex = start_standin();
my %conf = (WebotWorkerConcurrency => 16, WebotWorkerLease => 10, WebotWorkerPollInterval => 2);
my $a = start_worker_httpd(name => 'hostA', executor => $ex->url, conf => \%conf);
my $b = start_worker_httpd(name => 'hostB', executor => $ex->url, conf => \%conf);
my $acct = make_account(plan => 'agent_pro');

my @ids = insert_jobs($acct, 500, title => 'mode=slow:0.02');
ok wait_for(sub { all_status(\@ids, 'ready_for_customer_review') }, 90, 0.5),
  'all 500 jobs ready_for_customer_review'
  or diag psql("SELECT status, count(*) FROM jobs WHERE id LIKE '" . substr($ids[0], 0, -6)
               . "%' GROUP BY 1");

my %want = map { $_ => 1 } @ids;
my $counts = $ex->call_counts;
my @mine = grep { $want{$_} } keys %$counts;
is scalar(@mine), 500, 'the executor saw every job';
my @twice = grep { $counts->{$_} != 1 } @mine;
is scalar(@twice), 0, 'each job was executed exactly once' or diag "@twice[0..9]";
my %done;
$done{ $_->[2] }++ for grep { $want{ $_->[2] } } $ex->done(undef, 200);
is scalar(grep { $done{$_} == 1 } @ids), 500, 'one delivered answer per job';

my $bad = psql_value("SELECT count(*) FROM jobs j WHERE j.id = ANY(ARRAY["
  . join(',', map { "'$_'" } @ids) . "]) AND (SELECT count(*) FROM job_events e"
  . " WHERE e.job_id = j.id AND e.type = 'job.ready_for_customer_review') <> 1");
is $bad, 0, 'one ready event per job';
is psql_value("SELECT count(*) FROM jobs WHERE id = ANY(ARRAY["
  . join(',', map { "'$_'" } @ids) . "]) AND (attempts <> 1 OR lease_owner IS NOT NULL)"), 0,
  'one attempt each, no lease left behind';

my ($sa, $sb) = ($a->status, $b->status);
cmp_ok $sa->{WebotWorkerClaimed}, '>', 0, "instance A claimed jobs ($sa->{WebotWorkerClaimed})";
cmp_ok $sb->{WebotWorkerClaimed}, '>', 0, "instance B claimed jobs ($sb->{WebotWorkerClaimed})";
is $sa->{WebotWorkerDone} + $sb->{WebotWorkerDone}, 500, 'done counters add up to 500';
my @beats = psql("SELECT worker_id, claimed FROM worker_heartbeats WHERE beat_at > now() - interval '1 minute'");
cmp_ok scalar(@beats), '>=', 2, 'a heartbeat row per instance';

$a->stop;
$b->stop;
$ex->stop;
done_testing;
