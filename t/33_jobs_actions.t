# approve / cancel / revision: the contract's state machine, INVALID_STATE
# details, safe repeats, quota refunds (once), revision limits, events and
# the optional Idempotency-Key of actions.
use strict;
use warnings;
use Test::More;
use WebotTest;
use WebotJobs;

my $acct = jobs_account(grant => { '--monthly-jobs' => 100, '--max-active-jobs' => 100 });
my $key = $acct->{key};
my $aid = $acct->{account_id};

sub act { my ($id, $a, %o) = @_; api_post("/api/v1/jobs/$id/$a", key => $key, %o) }
sub used { psql_value("SELECT used FROM quota_periods WHERE account_id = '$aid'") }
sub events { [psql("SELECT seq || ' ' || type || ' ' || status FROM job_events WHERE job_id = '$_[0]' ORDER BY seq")] }
sub new_job { create_job($key, @_)->json->{id} }

# --- approve ------------------------------------------------------------------------
my $id = new_job();
my $e = error_ok(act($id, 'approve'), 409, 'INVALID_STATE', 'approve a queued job: 409');
is_deeply($e->{details}, [{ status => 'queued', allowed_actions => ['cancel'] }],
          'details [{status, allowed_actions}]');
is($e->{suggested_action}, 'none', 'suggested_action none') ;

worker_move($id, 'accepted', 'running', 'ready_for_customer_review');
my $g = api_get("/api/v1/jobs/$id", key => $key)->json;
is_deeply($g->{allowed_actions}, ['approve', 'revision', 'cancel'], 'ready: approve, revision, cancel');
is_deeply($g->{deliverable}, { summary => 'Done', text => 'Hello', files => [] }, 'deliverable shown');

my $r = act($id, 'approve');
is($r->status, 200, 'approve: 200');
is($r->json->{status}, 'completed', 'completed');
is_deeply($r->json->{allowed_actions}, [], 'nothing allowed any more');
is(events($id)->[-1], '5 job.completed completed', 'event 5 job.completed');
my $r2 = act($id, 'approve', json => {});
is($r2->status, 200, 'approve again: 200');
is_deeply($r2->json, $r->json, 'the job unchanged');
is(scalar @{ events($id) }, 5, 'no new event');
error_ok(act($id, 'cancel'), 409, 'INVALID_STATE', 'cancel a completed job: 409');
error_ok(act($id, 'revision', json => { notes => 'x' }), 409, 'INVALID_STATE', 'revise a completed job: 409');
$e = error_ok(act($id, 'approve', json => { why => 1 }), 422, 'VALIDATION_ERROR', 'approve with a field: 422');

# --- cancel and refunds ------------------------------------------------------------------
my $before = used();
$id = new_job();
is(used(), $before + 1, 'creation used a unit');
$r = act($id, 'cancel', json => { reason => 'No longer needed' });
is($r->status, 200, 'cancel a queued job: 200');
is($r->json->{status}, 'canceled', 'canceled');
is(used(), $before, 'its unit came back');
like(events($id)->[-1], qr/^2 job\.canceled canceled$/, 'event 2 job.canceled');
like(psql_value("SELECT message FROM job_events WHERE job_id = '$id' AND seq = 2"), qr/refunded/i,
     'the event says the unit was refunded');
is(job_row($id)->{cancel_reason}, 'No longer needed', 'the reason is kept');
unlike(psql_value("SELECT string_agg(message, ' ') FROM job_events WHERE job_id = '$id'"),
       qr/No longer needed/, 'but not shown in events');
$r2 = act($id, 'cancel');
is($r2->status, 200, 'cancel again: 200');
is_deeply($r2->json, $r->json, 'unchanged');
is(used(), $before, 'no second refund');
is(scalar @{ events($id) }, 2, 'no new event');
error_ok(act($id, 'approve'), 409, 'INVALID_STATE', 'approve a canceled job: 409');

$id = new_job();
worker_move($id, 'accepted');
act($id, 'cancel');
is(used(), $before, 'canceled while accepted: refunded');

$id = new_job();
worker_move($id, 'accepted', 'running');
$r = act($id, 'cancel');
is($r->json->{status}, 'canceled', 'cancel a running job');
is(used(), $before + 1, 'no refund once running');
ok(job_row($id)->{cancel_requested}, 'cancel_requested for the worker');
unlike(psql_value("SELECT message FROM job_events WHERE job_id = '$id' AND seq = 4"), qr/refund/i,
       'the event does not promise a refund');

$id = new_job();
worker_move($id, 'accepted', 'running', 'needs_review');
is(act($id, 'cancel')->json->{status}, 'canceled', 'cancel in needs_review');
$id = new_job();
worker_move($id, 'accepted', 'running', 'needs_review');
psql("UPDATE jobs SET status = 'rejected', event_seq = event_seq + 1 WHERE id = '$id'");
error_ok(act($id, 'cancel'), 409, 'INVALID_STATE', 'cancel a rejected job: 409');

error_ok(act($id, 'cancel', json => { reason => 'x' x 1001 }), 422, 'VALIDATION_ERROR', 'reason over 1000: 422');

# --- revision -------------------------------------------------------------------------------
my $lim = jobs_account(plan => 'agent_trial', grant => { '--monthly-jobs' => 10 });   # max_revisions 1
$id = create_job($lim->{key})->json->{id};
is(job_row($id)->{max_revisions}, 1, 'max_revisions from the plan');
worker_move($id, 'accepted', 'running', 'ready_for_customer_review');
$e = error_ok(api_post("/api/v1/jobs/$id/revision", key => $lim->{key}, json => {}), 422,
              'VALIDATION_ERROR', 'revision without notes: 422');
is($e->{param}, 'notes', 'param notes');
error_ok(api_post("/api/v1/jobs/$id/revision", key => $lim->{key}, json => { notes => "  \n " }),
         422, 'VALIDATION_ERROR', 'blank notes: 422');
error_ok(api_post("/api/v1/jobs/$id/revision", key => $lim->{key}, json => { notes => 'x' x 4001 }),
         422, 'VALIDATION_ERROR', 'notes over 4000: 422');
my $u0 = psql_value("SELECT used FROM quota_periods WHERE account_id = '$lim->{account_id}'");
$r = api_post("/api/v1/jobs/$id/revision", key => $lim->{key}, json => { notes => 'Shorter please.' });
is($r->status, 200, 'revision: 200');
is($r->json->{status}, 'queued', 'queued again');
is($r->json->{revision_count}, 1, 'revision_count 1');
is_deeply($r->json->{allowed_actions}, ['cancel'], 'allowed: cancel');
is(job_row($id)->{revision_notes}, 'Shorter please.', 'notes stored for the worker');
is(events($id)->[-1], '5 job.revision_requested queued', 'event job.revision_requested');
is(psql_value("SELECT used FROM quota_periods WHERE account_id = '$lim->{account_id}'"), $u0, 'no quota used');
worker_move($id, 'accepted', 'running', 'ready_for_customer_review');
my $j = api_get("/api/v1/jobs/$id", key => $lim->{key})->json;
is_deeply($j->{allowed_actions}, ['approve', 'cancel'], 'revisions used up: no revision allowed');
$e = error_ok(api_post("/api/v1/jobs/$id/revision", key => $lim->{key}, json => { notes => 'Again' }),
              409, 'INVALID_STATE', 'second revision on a 1-revision plan: 409');
is_deeply($e->{details}, [{ status => 'ready_for_customer_review', allowed_actions => ['approve', 'cancel'] }],
          'details say what is allowed');
like($e->{message}, qr/revision/i, 'the message explains');

# --- idempotency of actions --------------------------------------------------------------------
$id = new_job();
worker_move($id, 'accepted', 'running', 'ready_for_customer_review');
my $k = idem_key();
$r = act($id, 'approve', headers => { 'Idempotency-Key' => $k });
is($r->status, 200, 'approve with a key');
$r2 = act($id, 'approve', headers => { 'Idempotency-Key' => $k });
is($r2->status, 200, 'same key again');
is($r2->header('Idempotent-Replayed'), 'true', 'replayed');
is($r2->content, $r->content, 'same body');
error_ok(act($id, 'cancel', headers => { 'Idempotency-Key' => $k }), 422, 'IDEMPOTENCY_CONFLICT',
         'the key on another action: 422');
my $id2 = new_job();
error_ok(act($id2, 'approve', headers => { 'Idempotency-Key' => $k }), 422, 'IDEMPOTENCY_CONFLICT',
         'the key on another job: 422');
error_ok(act($id2, 'cancel', headers => { 'Idempotency-Key' => 'bad' }), 400, 'IDEMPOTENCY_KEY_REQUIRED',
         'malformed key on an action: 400');
is(job_row($id2)->{status}, 'queued', 'nothing happened');
$k = idem_key();
$r = act($id2, 'cancel', headers => { 'Idempotency-Key' => $k }, json => { reason => 'r' });
is($r->json->{status}, 'canceled', 'cancel with a key');
error_ok(act($id2, 'cancel', headers => { 'Idempotency-Key' => $k }, json => { reason => 'other' }),
         422, 'IDEMPOTENCY_CONFLICT', 'same key, other reason: 422');
my @par = in_parallel(10, sub {
  my $x = act($id2, 'cancel', headers => { 'Idempotency-Key' => $k }, json => { reason => 'r' });
  return $x->status . ' ' . ($x->header('Idempotent-Replayed') // '');
});
is(scalar(grep { $_ eq '200 true' } @par), 10, 'parallel repeats all replay') or diag("@par");

# --- unknown ids ------------------------------------------------------------------------------
for my $a (qw(approve cancel)) {
  error_ok(act('job_' . ('a' x 26), $a), 404, 'NOT_FOUND', "$a an unknown job: 404");
}
error_ok(act('job_' . ('a' x 26), 'revision', json => { notes => 'x' }), 404, 'NOT_FOUND', 'revise an unknown job: 404');

done_testing;
