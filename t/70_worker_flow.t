# The job worker: every transition and its events, executor answers (200,
# review_required, 4xx, 5xx with retries and backoff, the attempt cap,
# answers that are not valid), the signed brief, revisions, staff review,
# the manual executor, rejection before work, server-status and health.
use strict;
use warnings;
use Test::More;
use MIME::Base64 qw(decode_base64);
use WebotTest;
use WebotWorker;

my $ex = start_standin();
my $port = free_port();
my $h = start_worker_httpd(name => 'flow', executor => $ex->url, port => $port,
  conf => { WebotWorkerBackoff => '1 8', WebotWorkerMaxAttempts => 3,
            WebotWorkerHousekeepingInterval => 1 },
  extra => "WebotExecutor data_cleanup manual\n"
         . "WebotFileStore \"$ENV{WEBOT_TEST_DIR}/files\"\n"
         . "WebotFileBaseURL http://127.0.0.1:$port/api/v1");
my $acct = make_account(plan => 'agent_pro');

sub types { [ map { $_->[1] } @{ events_of($_[0]) } ] }

subtest 'a job through the executor: queued -> accepted -> running -> ready' => sub {
  my $job = create_job($h->url, $acct, title => 'mode=ok launch email');
  ok wait_for(sub { job_status($job->{id}) eq 'ready_for_customer_review' }, 20),
    'ready_for_customer_review' or diag explain job_row($job->{id});
  is_deeply types($job->{id}),
    [qw(job.queued job.accepted job.running job.ready_for_customer_review)],
    'one event per status, in order';
  my $ev = events_of($job->{id});
  is_deeply [ map { $_->[0] } @$ev ], [1 .. 4], 'seq 1..4';
  is_deeply [ map { $_->[2] } @$ev ],
    [qw(queued accepted running ready_for_customer_review)], 'event statuses';
  my @calls = $ex->calls($job->{id});
  is scalar(@calls), 1, 'the executor was called once';
  is $calls[0][5], 'sig=ok', 'the brief was signed with the executor secret';
  my $r = api_get($h->url . "/api/v1/jobs/$job->{id}", key => $acct->{key});
  is $r->status, 200, 'GET the job';
  is $r->json->{deliverable}{summary}, "Done: $job->{id}", 'deliverable shown';
  is $r->json->{deliverable}{files}[0]{name}, 'result.txt', 'deliverable files kept';
  my $row = job_row($job->{id});
  is $row->{lease_owner}, '', 'lease released';
  is $row->{attempts}, 1, 'one attempt';
  # the customer approves
  $r = api_post($h->url . "/api/v1/jobs/$job->{id}/approve", key => $acct->{key}, json => {});
  is $r->status, 200, 'approve';
  is job_status($job->{id}), 'completed', 'completed';
};

subtest 'review_required from the executor and from the family' => sub {
  my ($a) = insert_jobs($acct, 1, title => 'mode=review');
  ok wait_for(sub { job_status($a) eq 'needs_review' }, 20), 'executor asks for review';
  is_deeply types($a), [qw(job.queued job.accepted job.running job.needs_review)], 'events';
  like psql_value("SELECT review_deliverable::text FROM jobs WHERE id = '$a'"), qr/Done: \Q$a\E/,
    'deliverable stored for staff';
  is job_row($a)->{deliverable}, '', 'not the job\'s deliverable yet';
  my $r = api_get($h->url . "/api/v1/jobs/$a", key => $acct->{key});
  is $r->json->{deliverable}, undef, 'the customer sees no deliverable before staff release';
  my ($rc, $out, $err) = webotctl('job', 'review', $a, '--release', '--note', 'looks fine');
  is $rc, 0, 'webotctl job review --release' or diag $err;
  is job_status($a), 'ready_for_customer_review', 'released to the customer';
  is types($a)->[-1], 'job.ready_for_customer_review', 'release event';
  $r = api_get($h->url . "/api/v1/jobs/$a", key => $acct->{key});
  is $r->json->{deliverable}{summary}, "Done: $a", 'the deliverable is shown from then on';

  my $f = create_job($h->url, $acct, option => 'market_scan', title => 'mode=ok review family');
  ok wait_for(sub { job_status($f->{id}) eq 'needs_review' }, 20),
    'a review_required family goes to staff though the executor did not ask';
  is scalar($ex->calls($f->{id})), 1, 'after one executor call';
  ok psql_value("SELECT review_deliverable IS NOT NULL FROM jobs WHERE id = '$f->{id}'") eq 't',
    'with its deliverable waiting for staff';
};

subtest 'manual executor: straight to staff review' => sub {
  my ($m) = insert_jobs($acct, 1, option => 'csv_normalization', title => 'mode=ok manual');
  ok wait_for(sub { job_status($m) eq 'needs_review' }, 20), 'needs_review';
  is_deeply types($m), [qw(job.queued job.accepted job.running job.needs_review)],
    'accepted, running, needs_review events';
  is scalar($ex->calls($m)), 0, 'no executor call';
  my ($rc, $out, $err) = webotctl('job', 'review', $m, '--reject', '--note', 'no');
  is $rc, 0, 'webotctl job review --reject' or diag $err;
  is job_status($m), 'rejected', 'rejected by staff';
  ($rc, $out, $err) = webotctl('job', 'review', $m, '--release');
  isnt $rc, 0, 'a second review is refused';
  like $err, qr/not needs_review/, 'with a clear message';
};

subtest '4xx is permanent: needs_review, failure for staff only' => sub {
  my ($j) = insert_jobs($acct, 1, title => 'mode=fail4xx');
  ok wait_for(sub { job_status($j) eq 'needs_review' }, 20), 'needs_review';
  is scalar($ex->calls($j)), 1, 'not retried';
  my $row = job_row($j);
  like $row->{last_error}, qr/HTTP 422/, 'last_error names the executor answer';
  is $row->{deliverable}, '', 'no deliverable';
  my $r = api_get($h->url . "/api/v1/jobs/$j", key => $acct->{key});
  unlike $r->content, qr/HTTP 422|executor|last_error|cannot do this job/i,
    'the job object shows no failure details';
  $r = api_get($h->url . "/api/v1/jobs/$j/events", key => $acct->{key});
  unlike $r->content, qr/HTTP 422|executor|127\.0\.0\.1|cannot do this job/i,
    'events show no failure details';
};

subtest '5xx is retried with backoff, then succeeds' => sub {
  my ($j) = insert_jobs($acct, 1, title => 'mode=flaky:2');
  ok wait_for(sub { job_status($j) eq 'ready_for_customer_review' }, 30), 'ready after retries'
    or diag explain job_row($j);
  my @c = $ex->calls($j);
  is scalar(@c), 3, 'three calls (two 503s, then 200)';
  is_deeply [ map { $_->[3] } @c ], [1, 2, 3], 'attempt numbers in the brief';
  my $g1 = $c[1][1] - $c[0][1];
  my $g2 = $c[2][1] - $c[1][1];
  cmp_ok $g1, '>=', 0.45, "first retry after about BASE/2..BASE ($g1 s)";
  cmp_ok $g2, '>=', $g1 * 0.9, "second retry waits longer ($g2 s >= $g1 s)";
  is_deeply types($j), [qw(job.queued job.accepted job.running job.ready_for_customer_review)],
    'retries add no customer events';
};

subtest '5xx until the attempt cap: needs_review' => sub {
  my ($j) = insert_jobs($acct, 1, title => 'mode=fail5xx');
  ok wait_for(sub { job_status($j) eq 'needs_review' }, 40), 'needs_review after the cap';
  is scalar($ex->calls($j)), 3, 'WebotWorkerMaxAttempts 3 calls';
  like job_row($j)->{last_error}, qr/gave up after 3 attempts.*503/, 'last_error for staff';
};

subtest 'answers that are not a deliverable' => sub {
  my ($bad, $big) = (insert_jobs($acct, 1, title => 'mode=badjson'),
                     insert_jobs($acct, 1, title => 'mode=big'));
  ok wait_for(sub { all_status([$bad, $big], 'needs_review') }, 20), 'both to staff';
  like job_row($bad)->{last_error}, qr/not a JSON object/, 'bad JSON explained';
  like job_row($big)->{last_error}, qr/larger than/, 'size cap explained';
};

subtest 'revision: the executor gets the notes and number' => sub {
  my $job = create_job($h->url, $acct, title => 'mode=ok revise me');
  my $id = $job->{id};
  ok wait_for(sub { job_status($id) eq 'ready_for_customer_review' }, 20), 'ready';
  my $r = api_post($h->url . "/api/v1/jobs/$id/revision", key => $acct->{key},
                   json => { notes => 'Shorter, and "warmer".' });
  is $r->status, 200, 'revision requested' or diag $r->describe;
  ok wait_for(sub { scalar($ex->calls($id)) == 2 && job_status($id) eq 'ready_for_customer_review' }, 20),
    'executed again and ready again';
  my @c = $ex->calls($id);
  is $c[1][6], 'rev=1', 'revision number 1 in the brief';
  is decode_base64(($c[1][7] =~ /^notes=(.*)$/)[0]), 'Shorter, and "warmer".', 'notes in the brief';
  is job_row($id)->{attempts}, 1, 'attempts start again for the revision';
};

subtest 'rejected before work when the entitlement is gone (quota refunded)' => sub {
  my $b = make_account(plan => 'agent_pro');
  my $job = create_job($h->url, $b, title => 'mode=ok');
  ok wait_for(sub { job_status($job->{id}) =~ /ready|review/ }, 20), 'an entitled job runs';
  my $ps = psql_value("SELECT period_start FROM quota_periods WHERE account_id = '$b->{account_id}'");
  ok defined $ps, 'the API charged a quota period';
  psql("UPDATE entitlements SET status = 'canceled' WHERE account_id = '$b->{account_id}'");
  my $used = psql_value("SELECT used FROM quota_periods WHERE account_id = '$b->{account_id}'");
  my ($x) = insert_jobs($b, 1, title => 'mode=ok', quota_period => $ps);
  ok wait_for(sub { job_status($x) eq 'rejected' }, 20), 'rejected';
  my $ev = events_of($x);
  is_deeply [ map { $_->[1] } @$ev ], [qw(job.queued job.rejected)], 'one rejection event';
  like $ev->[-1][3], qr/entitlement.*refunded/, 'a safe reason and the refund in the message';
  is psql_value("SELECT used FROM quota_periods WHERE account_id = '$b->{account_id}'"), $used,
    'the quota unit charged for it came back';
  is job_row($x)->{quota_refunded}, 't', 'quota_refunded';
  is psql_value("SELECT count(*) FROM usage_events WHERE job_id = '$x' AND type = 'job.refunded'"), 1,
    'one job.refunded usage event';
  is scalar($ex->calls($x)), 0, 'not executed';
};

subtest 'rejected before work when a Stripe period lapsed with no renewal' => sub {
  my $b = make_account(plan => 'agent_pro');
  my $job = create_job($h->url, $b, title => 'mode=ok');
  ok wait_for(sub { job_status($job->{id}) =~ /ready|review/ }, 20), 'an entitled job runs';
  my $ps = psql_value("SELECT period_start FROM quota_periods WHERE account_id = '$b->{account_id}'");
  # as the webhooks would have left it: a Stripe subscription whose period
  # ended 4 days ago (WebotPastDueGrace is 3 days by default), no renewal
  psql("UPDATE entitlements SET source = 'stripe', status = 'active',"
     . " period_start = now() - interval '34 days', period_end = now() - interval '4 days'"
     . " WHERE account_id = '$b->{account_id}'");
  my ($x) = insert_jobs($b, 1, title => 'mode=ok', quota_period => $ps);
  ok wait_for(sub { job_status($x) eq 'rejected' }, 20), 'rejected, not executed';
  like events_of($x)->[-1][3], qr/entitlement/, 'the reason names the entitlement';
  is scalar($ex->calls($x)), 0, 'the executor was not called';
};

subtest 'rejected before work when the intake no longer fits the catalog' => sub {
  my ($j) = insert_jobs($acct, 1, title => 'mode=ok', intake => { audience => 'x' });
  ok wait_for(sub { job_status($j) eq 'rejected' }, 20), 'rejected';
  like events_of($j)->[-1][3], qr/intake no longer meets/, 'reason';
};

subtest 'attached files: a signed download URL in the brief' => sub {
  my $bytes = "col1,col2\n1,2\n";
  my $r = api_post($h->url . '/api/v1/files/presign', key => $acct->{key},
    json => { filename => 'rows.csv', content_type => 'text/csv',
              size_bytes => length $bytes, purpose => 'job_input' });
  is $r->status, 201, 'presign' or diag $r->describe;
  my $up = $r->json->{upload};
  my $put = api_request(PUT => $up->{url}, body => $bytes, headers => $up->{headers});
  ok $put->status =~ /^20[01]$/, 'uploaded' or diag $put->describe;
  my $job = create_job($h->url, $acct, title => 'mode=ok with a file',
                       file_ids => [ $r->json->{file_id} ]);
  ok wait_for(sub { job_status($job->{id}) eq 'ready_for_customer_review' }, 20), 'ready';
  my ($call) = $ex->calls($job->{id});
  is $call->[8], 'files=1', 'one file in the brief';
  (my $url = $call->[9] // '') =~ s/^url=//;
  my $fid = $r->json->{file_id};
  like $url, qr{^http://127\.0\.0\.1:$port/api/v1/files/download/\Q$fid\E\?},
    'a download URL of this server';
  my $get = api_get($url);
  is $get->status, 200, 'the URL works without a credential';
  is $get->content, $bytes, 'and serves the uploaded bytes';
};

subtest 'housekeeping' => sub {
  my $a = $acct->{account_id};
  psql("INSERT INTO idempotency_keys (account_id, key, route, fingerprint, status, expires_at)"
     . " VALUES ('$a', 'hk-expired-$$', 'POST /jobs', sha256('x'), 'done', now() - interval '1 hour'),"
     . " ('$a', 'hk-live-$$', 'POST /jobs', sha256('x'), 'done', now() + interval '1 hour')");
  psql("INSERT INTO sessions (id, token_hash, csrf_hash, user_id, account_id, idle_expires_at, expires_at)"
     . " VALUES ('ses_hk$$', sha256('hk$$'::bytea), sha256('c'), '$acct->{user_id}', '$a',"
     . " now() - interval '1 minute', now() + interval '1 hour')");
  ok wait_for(sub { psql_value("SELECT count(*) FROM idempotency_keys WHERE key = 'hk-expired-$$'") == 0 }, 15),
    'an expired idempotency record is purged';
  is psql_value("SELECT count(*) FROM idempotency_keys WHERE key = 'hk-live-$$'"), 1, 'a live one is kept';
  ok wait_for(sub { psql_value("SELECT ended_at IS NOT NULL FROM sessions WHERE id = 'ses_hk$$'") eq 't' }, 15),
    'a session past its idle expiry is ended';

  # Stripe events: those older than 90 days go, except a subscription's last
  # invoice.paid and what came after it (its payment state is computed from
  # them); recent ones stay
  my $old = "now() - interval '100 days'";
  my $t = time - 100 * 86400;
  psql("INSERT INTO stripe_events (id, type, created, subscription_id, received_at) VALUES"
     . " ('evt_hk_link$$', 'checkout.session.completed', $t, NULL, $old),"
     . " ('evt_hk_paid1$$', 'invoice.paid', $t, 'sub_hk$$', $old),"
     . " ('evt_hk_fail1$$', 'invoice.payment_failed', $t + 10, 'sub_hk$$', $old),"
     . " ('evt_hk_paid2$$', 'invoice.paid', $t + 20, 'sub_hk$$', $old),"
     . " ('evt_hk_fail2$$', 'invoice.payment_failed', $t + 30, 'sub_hk$$', $old),"
     . " ('evt_hk_nopaid$$', 'customer.subscription.created', $t, 'sub_hk_np$$', $old),"
     . " ('evt_hk_recent$$', 'checkout.session.completed', $t, NULL, now() - interval '10 days')");
  ok wait_for(sub { psql_value("SELECT count(*) FROM stripe_events WHERE id = 'evt_hk_link$$'") == 0 }, 15),
    'a Stripe event older than 90 days is purged';
  is join(',', psql("SELECT id FROM stripe_events WHERE id LIKE 'evt_hk_%$$' ORDER BY id")),
     join(',', map { "evt_hk_$_$$" } qw(fail2 nopaid paid2 recent)),
     'kept: the last invoice.paid, what came after it, a subscription never paid, recent events';
};

subtest 'server-status and health' => sub {
  my $s = $h->status;
  is $s->{WebotWorker}, 'on', 'server-status?auto: worker on';
  like $s->{WebotWorkerLeaderPID}, qr/^[1-9]\d*$/, 'leader pid';
  cmp_ok $s->{WebotWorkerDone}, '>=', 3, 'done counter';
  cmp_ok $s->{WebotWorkerRetries}, '>=', 2, 'retry counter';
  cmp_ok $s->{WebotWorkerFailed}, '>=', 2, 'failed counter';
  my $r = api_get($h->url . '/server-status');
  like $r->content, qr/mod_webot job worker/, 'HTML section';
  $r = api_get($h->url . '/api/v1/health');
  is $r->json->{worker}, 'ok', 'health: worker ok';
  is $r->json->{status}, 'ok', 'health: status ok';
  # A stale heartbeat makes the instance degraded (retried: the worker
  # beats every few seconds and may refresh it in between).
  my $stale = wait_for(sub {
    psql("UPDATE worker_heartbeats SET beat_at = now() - interval '1 hour'");
    my $x = api_get($h->url . '/api/v1/health');
    $x->json->{worker} eq 'stale' ? $x : undef;
  }, 10, 0.05);
  ok $stale, 'health: worker stale';
  is $stale && $stale->json->{status}, 'degraded', 'status degraded' if $stale;
  ok wait_for(sub { api_get($h->url . '/api/v1/health')->json->{worker} eq 'ok' }, 15),
    'fresh again after the next heartbeat';
  $r = api_get('/api/v1/health');
  is $r->json->{worker}, 'off', 'the shared test server runs no worker: off';
};

$h->stop;
$ex->stop;
done_testing;
