# Real parallel requests: fifty creations with one Idempotency-Key make one
# job; quota and active-job limit at their edge with more requests than
# units; customer actions racing each other and the worker have one winner
# and a gapless event sequence.
use strict;
use warnings;
use Test::More;
use WebotTest;
use WebotJobs;

sub status_counts {
  my %n;
  $n{ (split /\s/, $_)[0] }++ for @_;
  return join ' ', map { "$_=$n{$_}" } sort keys %n;
}

# --- fifty requests, one key ----------------------------------------------------
{
  my $acct = jobs_account();
  my $idem = idem_key();
  my $body = job_body(title => 'one of fifty');
  my @res = in_parallel(50, sub {
    my $r = create_job($acct->{key}, idem => $idem, body => $body);
    my $j = $r->json || {};
    my $id = $j->{id} // ($j->{error} && $j->{error}{code}) // '-';
    return join ' ', $r->status, $id, $r->header('Idempotent-Replayed') // 'first';
  });
  my @ok = grep { /^201 / } @res;
  my @busy = grep { /^409 IDEMPOTENCY_IN_PROGRESS/ } @res;
  is(scalar(@ok) + scalar(@busy), 50, '50 answers are 201 or 409 IDEMPOTENCY_IN_PROGRESS')
    or diag(status_counts(@res));
  my %ids = map { (split / /)[1] => 1 } @ok;
  is(scalar(keys %ids), 1, 'every 201 names the same job');
  is(scalar(grep { / first$/ } @ok), 1, 'exactly one first answer, the others replayed');
  is(psql_value("SELECT count(*) FROM jobs WHERE account_id = '$acct->{account_id}'"), 1,
     'exactly one job exists');
  is(psql_value("SELECT used FROM quota_periods WHERE account_id = '$acct->{account_id}'"), 1,
     'one unit of quota used');
  my $again = create_job($acct->{key}, idem => $idem, body => $body);
  is($again->status, 201, 'afterwards the key replays');
  is($again->json->{id}, (keys %ids)[0], 'the one job');
}

# --- quota at its edge -----------------------------------------------------------------
{
  my $acct = jobs_account(grant => { '--monthly-jobs' => 5, '--max-active-jobs' => 50 });
  my @res = in_parallel(20, sub { create_job($acct->{key})->status });
  is(scalar(grep { $_ eq '201' } @res), 5, 'quota 5, 20 parallel creations: 5 created')
    or diag(status_counts(@res));
  is(scalar(grep { $_ eq '402' } @res), 15, 'the other 15 are 402');
  is(psql_value("SELECT count(*) FROM jobs WHERE account_id = '$acct->{account_id}'"), 5, '5 jobs');
  is(psql_value("SELECT used FROM quota_periods WHERE account_id = '$acct->{account_id}'"), 5, 'used = 5');
  is(psql_value("SELECT count(*) FROM usage_events WHERE account_id = '$acct->{account_id}' AND code = 'QUOTA_EXCEEDED'"),
     15, '15 refusals recorded');
}

# --- active-job limit at its edge ----------------------------------------------------------
{
  my $acct = jobs_account(grant => { '--monthly-jobs' => 100, '--max-active-jobs' => 3 });
  my @res = in_parallel(12, sub { create_job($acct->{key})->status });
  is(scalar(grep { $_ eq '201' } @res), 3, 'active limit 3, 12 parallel creations: 3 created')
    or diag(status_counts(@res));
  is(scalar(grep { $_ eq '429' } @res), 9, 'the other 9 are 429');
  is(psql_value("SELECT used FROM quota_periods WHERE account_id = '$acct->{account_id}'"), 3,
     'only the created ones used quota');
  is(psql_value("SELECT active FROM job_counters WHERE account_id = '$acct->{account_id}'"), 3,
     'the counter says 3');
}

# --- both at once: quota wins ------------------------------------------------------------------
{
  my $acct = jobs_account(grant => { '--monthly-jobs' => 2, '--max-active-jobs' => 2 });
  my @res = in_parallel(10, sub {
    my $r = create_job($acct->{key});
    return $r->status . ' ' . (($r->json && $r->json->{error}) ? $r->json->{error}{code} : '');
  });
  is(scalar(grep { /^201/ } @res), 2, 'quota 2 and active 2: 2 created') or diag(status_counts(@res));
  is(scalar(grep { /^402 QUOTA_EXCEEDED/ } @res), 8, 'the rest QUOTA_EXCEEDED (it wins over ACTIVE_JOB_LIMIT)')
    or diag(join ', ', @res);
}

# --- customer actions racing each other -----------------------------------------------------------
{
  my $acct = jobs_account();
  my $id = create_job($acct->{key})->json->{id};
  worker_move($id, 'accepted', 'running', 'ready_for_customer_review');
  my @res = in_parallel(20, sub {
    my ($i) = @_;
    my $act = $i % 2 ? 'approve' : 'cancel';
    my $r = api_post("/api/v1/jobs/$id/$act", key => $acct->{key});
    return join ' ', $act, $r->status, $r->json ? ($r->json->{status} // $r->json->{error}{code}) : '-';
  });
  my $final = job_row($id)->{status};
  ok($final eq 'completed' || $final eq 'canceled', "one action won ($final)");
  my $winner = $final eq 'completed' ? 'approve' : 'cancel';
  my $loser = $winner eq 'approve' ? 'cancel' : 'approve';
  is(scalar(grep { /^$winner 200 $final$/ } @res), 10, "every $winner answered 200 $final")
    or diag(join ', ', @res);
  my @lost = grep { /^$loser / } @res;
  # a loser that ran before the winner... cannot: it would have won; so all 409
  is(scalar(grep { /^$loser 409 INVALID_STATE$/ } @lost), 10, "every $loser answered 409 INVALID_STATE")
    or diag(join ', ', @res);
  is(psql_value("SELECT string_agg(seq::text, ',' ORDER BY seq) FROM job_events WHERE job_id = '$id'"),
     '1,2,3,4,5', 'one event for the winner, seq without gaps');
}

# --- a customer cancel racing the worker ---------------------------------------------------------------
# The worker's moves are guarded UPDATEs (status = expected); the cancel locks
# the row. Whatever the order, the job ends canceled, its quota unit comes
# back exactly once when the cancel saw it queued or accepted, and the events
# have no gaps or duplicates.
{
  my $acct = jobs_account(grant => { '--monthly-jobs' => 100, '--max-active-jobs' => 50 });
  my @ids = map { create_job($acct->{key})->json->{id} } 1 .. 8;
  my $used_before = psql_value("SELECT used FROM quota_periods WHERE account_id = '$acct->{account_id}'");
  my @res = in_parallel(16, sub {
    my ($i) = @_;
    my $id = $ids[$i % 8];
    if ($i < 8) {
      my $r = api_post("/api/v1/jobs/$id/cancel", key => $acct->{key});
      return $r->status;
    }
    # the worker: queued -> accepted -> running, each guarded
    my $ok = eval { worker_move($id, 'accepted'); worker_move($id, 'running'); 1 };
    return $ok ? 'moved' : 'lost';
  });
  is(scalar(grep { $_ eq '200' } @res[0 .. 7]), 8, 'every cancel answered 200') or diag("@res");
  my $canceled = psql_value("SELECT count(*) FROM jobs WHERE id = ANY('{" . join(',', @ids) . "}') AND status = 'canceled'");
  is($canceled, 8, 'all 8 jobs end canceled');
  my $gaps = psql_value("SELECT count(*) FROM jobs j WHERE id = ANY('{" . join(',', @ids) . "}') AND "
    . "(SELECT count(*) FROM job_events e WHERE e.job_id = j.id) <> j.event_seq "
    . "OR (SELECT max(seq) FROM job_events e WHERE e.job_id = j.id) <> j.event_seq");
  is($gaps, 0, 'events 1..event_seq without gaps for every job');
  my $refunded = psql_value("SELECT count(*) FROM jobs WHERE id = ANY('{" . join(',', @ids) . "}') AND quota_refunded");
  my $running_first = psql_value("SELECT count(*) FROM job_events WHERE job_id = ANY('{" . join(',', @ids) . "}') AND status = 'running'");
  is($refunded + $running_first, 8, 'refunded exactly when canceled before running');
  is(psql_value("SELECT used FROM quota_periods WHERE account_id = '$acct->{account_id}'"),
     $used_before - $refunded, 'used went down once per refund');
  is(psql_value("SELECT count(*) FROM usage_events WHERE account_id = '$acct->{account_id}' AND type = 'job.refunded'"),
     $refunded, 'one job.refunded usage event per refund');
  is(psql_value("SELECT active FROM job_counters WHERE account_id = '$acct->{account_id}'"), 0,
     'no active job left');
}

done_testing;
