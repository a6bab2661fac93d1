# The job worker under trouble: a customer cancel while the executor runs,
# kill -9 of the child running a job, apachectl -k graceful and -k stop
# during execution, and a database outage. Each job must end exactly once
# (one final event, one delivered answer of the executor stand-in).
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use WebotTest;
use WebotWorker;

my $ex = start_standin();
my $h = start_worker_httpd(name => 'res', executor => $ex->url,
  conf => { WebotWorkerLease => 4, WebotWorkerPollInterval => 1 },
  allow => [qr/AH00046|AH00045/, qr/AH30701: webot worker: moving claimed jobs failed: ERROR:.*worker_test_fault/]);
my $acct = make_account(plan => 'agent_pro');

sub n_events { my ($id, $type) = @_;
  scalar grep { $_->[1] eq $type } @{ events_of($id) } }

# Every job: final status, exactly one final event, exactly one answer of
# the executor that was delivered (status 200) — however many calls were
# aborted on the way.
sub exactly_once {
  my ($ids, $final, $name) = @_;
  my @bad;
  for my $id (@$ids) {
    my $st = job_status($id);
    my $nev = n_events($id, "job.$final");
    my $ok200 = scalar $ex->done($id, 200);
    push @bad, "$id: $st, $nev final events, $ok200 answers" unless $st eq $final && $nev == 1 && $ok200 == 1;
  }
  ok !@bad, $name or diag join "\n", @bad[0 .. ($#bad > 9 ? 9 : $#bad)];
}

subtest 'cancel of a running job aborts the executor call' => sub {
  my $job = create_job($h->url, $acct, title => 'mode=hang');
  my $id = $job->{id};
  ok wait_for(sub { scalar $ex->calls($id) }, 15), 'the executor call started';
  is job_status($id), 'running', 'running';
  my $t0 = time;
  my $r = api_post($h->url . "/api/v1/jobs/$id/cancel", key => $acct->{key}, json => {});
  is $r->status, 200, 'cancel answered 200' or diag $r->describe;
  is job_status($id), 'canceled', 'canceled at once';
  ok wait_for(sub { scalar $ex->aborts($id) }, 10), 'the worker aborted the call';
  my $took = time - $t0;
  cmp_ok $took, '<', 5, sprintf 'noticed within a few seconds (%.1f s)', $took;
  my $row = job_row($id);
  is $row->{deliverable}, '', 'no deliverable';
  is $row->{status}, 'canceled', 'still canceled';
  is n_events($id, 'job.canceled'), 1, 'one cancel event';
  is scalar grep({ $_->[1] =~ /ready|needs_review/ } @{ events_of($id) }), 0, 'no result event';
  $r = api_get($h->url . "/api/v1/jobs/$id", key => $acct->{key});
  is $r->json->{deliverable}, undef, 'the job shows no deliverable';
};

subtest 'kill -9 of the child running a job: finished by another process, once' => sub {
  my @ids = insert_jobs($acct, 2, title => 'mode=slow:2');
  ok wait_for(sub { (grep { scalar $ex->calls($_) } @ids) == 2 }, 15), 'both calls started';
  my $leader = $h->leader_pid;
  ok $leader, "leader pid $leader";
  ok kill('KILL', $leader), 'kill -9 the leader';
  my $t0 = time;
  ok wait_for(sub { all_status(\@ids, 'ready_for_customer_review') }, 30), 'both finished';
  my $t = time - $t0;
  cmp_ok $t, '>=', 2, sprintf 'not before the lease ran out (%.1f s)', $t;
  my $new = $h->leader_pid;
  ok $new && $new != $leader, "another process leads now ($new)";
  exactly_once(\@ids, 'ready_for_customer_review', 'each job finished once');
  for my $id (@ids) {
    is scalar($ex->calls($id)), 2, "$id: called again after the crash";
    is job_row($id)->{attempts}, 2, "$id: the lost attempt counts";
  }
};

subtest 'apachectl -k graceful during execution: calls finish, nothing lost or doubled' => sub {
  my @ids = insert_jobs($acct, 5, title => 'mode=slow:2');
  ok wait_for(sub { (grep { scalar $ex->calls($_) } @ids) == 5 }, 15), 'five calls in flight';
  my $old = $h->leader_pid;
  $h->graceful;
  ok wait_for(sub { all_status(\@ids, 'ready_for_customer_review') }, 30), 'all finished';
  exactly_once(\@ids, 'ready_for_customer_review', 'each job once');
  is scalar(grep { $ex->calls($_) == 1 } @ids), 5, 'each executed exactly once (old child finished its calls)';
  my @more = insert_jobs($acct, 3, title => 'mode=ok');
  ok wait_for(sub { all_status(\@more, 'ready_for_customer_review') }, 20),
    'the new generation takes new jobs';
  my $new = wait_for(sub { my $p = $h->leader_pid; $p && $p != $old ? $p : undef }, 10);
  ok $new, 'a child of the new generation leads';
};

subtest 'apachectl -k stop during execution: leases given back, resumed after start' => sub {
  my @ids = insert_jobs($acct, 4, title => 'mode=slow:4');
  ok wait_for(sub { (grep { scalar $ex->calls($_) } @ids) == 4 }, 15), 'four calls in flight';
  my $t0 = time;
  $h->stop(quiet => 1);
  my $took = time - $t0;
  cmp_ok $took, '<', 8, sprintf 'httpd stopped promptly (%.1f s)', $took;
  my @rows = map { job_row($_) } @ids;
  is scalar(grep { $_->{status} eq 'running' && $_->{lease_owner} eq '' } @rows), 4,
    'the jobs wait, running, with their leases given back';
  is scalar(grep { $_->{attempts} == 0 } @rows), 4, 'the interrupted attempt is not counted';
  ok wait_for(sub { (grep { scalar $ex->aborts($_) } @ids) == 4 }, 5), 'the calls were aborted';
  $h->start;
  ok wait_for(sub { all_status(\@ids, 'ready_for_customer_review') }, 30), 'all finished after the restart';
  exactly_once(\@ids, 'ready_for_customer_review', 'each job once');
  is_deeply [ map { job_row($_)->{attempts} } @ids ], [1, 1, 1, 1], 'one counted attempt each';
};

subtest 'database outage while the worker runs: it waits and resumes' => sub {
  my @ids = insert_jobs($acct, 3, title => 'mode=slow:3');
  ok wait_for(sub { (grep { scalar $ex->calls($_) } @ids) == 3 }, 15), 'calls in flight';
  pg_stop();
  ok !pg_status(), 'PostgreSQL is down';
  my $s = wait_for(sub { my $x = $h->status; $x->{WebotWorkerState} =~ /waiting/ ? $x : undef }, 10);
  ok $s, 'server-status: waiting for the database';
  sleep 3;      # the calls finish while the database is away
  pg_start();
  ok wait_for(sub { all_status(\@ids, 'ready_for_customer_review') }, 30),
    'results written once the database is back';
  exactly_once(\@ids, 'ready_for_customer_review', 'each job once');
  my @more = insert_jobs($acct, 2, title => 'mode=ok');
  ok wait_for(sub { all_status(\@more, 'ready_for_customer_review') }, 20), 'new jobs run again';
  ok scalar($h->log_lines(qr/AH30700/)), 'the outage was logged (warning)';
  ok scalar($h->log_lines(qr/AH30704/)), 'and the reconnection';
};

subtest 'a statement that keeps failing: retried once a second, no spinning' => sub {
  my $before = scalar $h->log_lines(qr/AH30701/);
  # every queued -> accepted move fails while this constraint exists
  psql("ALTER TABLE job_events ADD CONSTRAINT worker_test_fault"
     . " CHECK (type <> 'job.accepted') NOT VALID");
  my ($id) = insert_jobs($acct, 1, title => 'mode=ok');
  sleep 3;
  my $errors = scalar($h->log_lines(qr/AH30701/)) - $before;
  my $row = job_row($id);
  psql("ALTER TABLE job_events DROP CONSTRAINT worker_test_fault");
  cmp_ok $errors, '>=', 1, "the failure was logged ($errors times in 3 s)";
  cmp_ok $errors, '<=', 5, 'at most about once a second';
  is $row->{status}, 'queued', 'the job stayed queued (the round rolled back)';
  is $row->{lease_owner}, '', 'without a lease';
  ok wait_for(sub { job_status($id) eq 'ready_for_customer_review' }, 20), 'it runs once fixed';
  exactly_once([$id], 'ready_for_customer_review', 'once');
};

$h->stop;
$ex->stop;
done_testing;
