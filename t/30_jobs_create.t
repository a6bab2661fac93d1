# POST /api/v1/jobs: the job object, validation order (VALIDATION_ERROR
# before INTAKE_INCOMPLETE), file ids, Idempotency-Key rules (required,
# replay, conflict), quota (402) and active-job limit (429) with QUOTA
# winning, refusals recorded, nothing written by a refused request.
use strict;
use warnings;
use Test::More;
use WebotTest;
use WebotJobs;

my $acct = jobs_account();
my $key = $acct->{key};
my $aid = $acct->{account_id};

sub count_jobs { psql_value("SELECT count(*) FROM jobs WHERE account_id = '$_[0]'") }

# --- a job ---------------------------------------------------------------------
my $idem = idem_key();
my $body = job_body();
my $r = create_job($key, idem => $idem, body => $body);
is($r->status, 201, 'POST /jobs answers 201') or diag($r->describe);
my $job = $r->json;
like($job->{id}, qr/^job_[a-z2-7]{26}$/, 'opaque job id');
is($job->{status}, 'queued', 'status queued');
is($job->{service_family}, 'create_polish', 'family from the catalog');
is($job->{service_option}, 'tone_rewrites_copy_polish', 'option');
is($job->{title}, 'Spring launch email', 'title');
is_deeply($job->{intake}, $body->{intake}, 'intake as sent');
is_deeply($job->{metadata}, { crm_id => '123' }, 'metadata as sent');
is_deeply($job->{file_ids}, [], 'no files');
is($job->{revision_count}, 0, 'revision_count 0');
is($job->{max_revisions}, 5, 'max_revisions of both_team');
ok(exists $job->{deliverable} && !defined $job->{deliverable}, 'deliverable null');
is_deeply($job->{allowed_actions}, ['cancel'], 'allowed_actions [cancel]');
like($job->{created_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'created_at RFC 3339 UTC');
is($job->{updated_at}, $job->{created_at}, 'updated_at = created_at');
is_deeply($job->{links}, { self => "/api/v1/jobs/$job->{id}",
                           events => "/api/v1/jobs/$job->{id}/events" }, 'links');
is($r->header('Location'), "/api/v1/jobs/$job->{id}", 'Location header');
is($r->header('Cache-Control'), 'no-store', 'no-store');
ok(!defined $r->header('Idempotent-Replayed'), 'first answer is not a replay');

my $row = job_row($job->{id});
is($row->{account_id}, $aid, 'stored for the account');
is($row->{event_seq}, 1, 'event_seq 1');
is(psql_value("SELECT string_agg(seq || ':' || type || ':' || status, ',') FROM job_events WHERE job_id = '$job->{id}'"),
   '1:job.queued:queued', 'first event job.queued with seq 1');
is(psql_value("SELECT count(*) FROM usage_events WHERE job_id = '$job->{id}' AND type = 'job.created'"),
   1, 'usage event job.created');
ok(defined $row->{quota_period_start}, 'the charged period is recorded');
is(psql_value("SELECT used FROM quota_periods WHERE account_id = '$aid'"), 1, 'one unit of quota used');
is(psql_value("SELECT active FROM job_counters WHERE account_id = '$aid'"), 1, 'one active job counted');

my $g = api_get("/api/v1/jobs/$job->{id}", key => $key);
is($g->status, 200, 'GET /jobs/{id}');
is_deeply($g->json, $job, 'GET answers the same job object');

# --- idempotency ---------------------------------------------------------------
my $again = create_job($key, idem => $idem, body => $body);
is($again->status, 201, 'same key, same body: 201 replayed');
is($again->header('Idempotent-Replayed'), 'true', 'Idempotent-Replayed: true');
is($again->content, $r->content, 'the first body, byte for byte');
is(count_jobs($aid), 1, 'no second job');

# key order and whitespace do not make a different request
my $raw = '{ "metadata": {"crm_id":"123"}, "intake": ' . json_encode($body->{intake})
        . ', "title": "Spring launch email", "service_option": "tone_rewrites_copy_polish" }';
my $again2 = api_post('/api/v1/jobs', body => $raw, content_type => 'application/json',
                      key => $key, headers => { 'Idempotency-Key' => $idem });
is($again2->status, 201, 'same JSON in another key order: replayed');
is($again2->header('Idempotent-Replayed'), 'true', 'marked as replay');

my $conf = create_job($key, idem => $idem, body => job_body(title => 'Another title'));
my $e = error_ok($conf, 422, 'IDEMPOTENCY_CONFLICT', 'same key, other body: 422 IDEMPOTENCY_CONFLICT');
is(count_jobs($aid), 1, 'conflict wrote nothing');

error_ok(create_job($key, idem => undef), 400, 'IDEMPOTENCY_KEY_REQUIRED', 'no key: 400');
for my $bad ('short', 'x' x 129, 'has space in it....', "bad\x{e9}key-0123456789") {
  error_ok(create_job($key, idem => $bad), 400, 'IDEMPOTENCY_KEY_REQUIRED',
           'malformed key (' . length($bad) . ' chars): 400');
}
is(count_jobs($aid), 1, 'no job from bad keys');

# another account may use the same key
my $other = jobs_account();
my $o1 = create_job($other->{key}, idem => $idem, body => $body);
is($o1->status, 201, 'the same key in another account is another request');
isnt($o1->json->{id}, $job->{id}, 'and another job');
ok(!defined $o1->header('Idempotent-Replayed'), 'not a replay');

# --- validation ------------------------------------------------------------------
$e = error_ok(create_job($key, body => job_body(color => 'red')), 422, 'VALIDATION_ERROR',
              'unknown field: 422');
is($e->{param}, 'color', 'param names the unknown field');

$e = error_ok(create_job($key, body => job_body(intake => { %{ $body->{intake} }, mood => 'x' })),
              422, 'VALIDATION_ERROR', 'unknown intake key: 422');
is($e->{param}, 'intake.mood', 'param intake.<key>');

$e = error_ok(create_job($key, body => job_body(title => 'x' x 201)), 422, 'VALIDATION_ERROR',
              'title over 200 characters: 422');
is($e->{param}, 'title', 'param title');

$e = error_ok(create_job($key, body => job_body(service_option => 'no_such_option')), 422,
              'VALIDATION_ERROR', 'unknown service option: 422');
is($e->{param}, 'service_option', 'param service_option');

$e = error_ok(create_job($key, body => job_body(metadata => { map { ("k$_" => 'v') } 1 .. 21 })),
              422, 'VALIDATION_ERROR', '21 metadata pairs: 422');
$e = error_ok(create_job($key, body => job_body(metadata => { k => 'v' x 501 })), 422,
              'VALIDATION_ERROR', 'metadata value over 500: 422');
$e = error_ok(create_job($key, body => job_body(metadata => { k => 5 })), 422,
              'VALIDATION_ERROR', 'metadata value not a string: 422');

my %partial = %{ $body->{intake} };
delete @partial{qw(tone delivery_format)};
$e = error_ok(create_job($key, body => job_body(intake => \%partial)), 422, 'INTAKE_INCOMPLETE',
              'missing intake: 422 INTAKE_INCOMPLETE');
is_deeply([sort map { $_->{id} } @{ $e->{details} }], ['delivery_format', 'tone'],
          'details list every missing requirement');
ok(!grep({ !defined $_->{label} } @{ $e->{details} }), 'each with its label');

$e = error_ok(create_job($key, body => job_body(intake => { %partial, tone => '   ' })), 422,
              'INTAKE_INCOMPLETE', 'a blank answer is missing');

$e = error_ok(create_job($key, body => job_body(intake => \%partial, title => 'x' x 300)), 422,
              'VALIDATION_ERROR', 'VALIDATION_ERROR wins over INTAKE_INCOMPLETE');
$e = error_ok(create_job($key, body => job_body(intake => { %partial, tone => 'x' x 501 })),
              422, 'VALIDATION_ERROR', 'intake answer over max_length: 422');
is($e->{param}, 'intake.tone', 'param intake.tone');

$e = error_ok(create_job($key, body => job_body(file_ids => ['file_' . ('a' x 26)])), 422,
              'VALIDATION_ERROR', 'unknown file id: 422');
is($e->{param}, 'file_ids[0]', 'param names the file');
like($e->{message}, qr/file_a{26}/, 'message names the id');
$e = error_ok(create_job($key, body => job_body(file_ids => ['nope'])), 422, 'VALIDATION_ERROR',
              'malformed file id: 422');

error_ok(api_post('/api/v1/jobs', body => '{"service_option":', content_type => 'application/json',
                  key => $key, headers => { 'Idempotency-Key' => idem_key() }),
         400, 'BAD_REQUEST', 'malformed JSON: 400');
error_ok(api_post('/api/v1/jobs', body => '[1]', content_type => 'application/json',
                  key => $key, headers => { 'Idempotency-Key' => idem_key() }),
         422, 'VALIDATION_ERROR', 'a body that is not an object: 422');
error_ok(api_post('/api/v1/jobs', body => 'x=1', content_type => 'application/x-www-form-urlencoded',
                  key => $key, headers => { 'Idempotency-Key' => idem_key() }),
         415, 'UNSUPPORTED_MEDIA_TYPE', 'form body: 415');
is(count_jobs($aid), 1, 'no job from invalid requests');
is(psql_value("SELECT used FROM quota_periods WHERE account_id = '$aid'"), 1, 'no quota used by them');

# --- credentials ------------------------------------------------------------------
error_ok(create_job(undef), 401, 'UNAUTHORIZED', 'no key: 401');
my $ro = make_account(plan => 'both_team', scopes => 'jobs:read,account:read');
error_ok(create_job($ro->{key}), 403, 'FORBIDDEN', 'key without jobs:write: 403');
my $none = make_account(no_entitlement => 1);
error_ok(create_job($none->{key}), 403, 'ENTITLEMENT_REQUIRED', 'no entitlement: 403');
my $human = make_account(plan => 'human_starter');
error_ok(create_job($human->{key}), 403, 'ENTITLEMENT_REQUIRED', 'plan without api access: 403');

# --- quota and active-job limit ------------------------------------------------------
my $q = jobs_account(grant => { '--monthly-jobs' => 2, '--max-active-jobs' => 10 });
is(create_job($q->{key})->status, 201, 'quota 2: first');
is(create_job($q->{key})->status, 201, 'quota 2: second');
my $qk = idem_key();
$e = error_ok(create_job($q->{key}, idem => $qk), 402, 'QUOTA_EXCEEDED', 'quota 2: third is 402');
like($e->{message}, qr/\(2 of 2\)/, 'message says 2 of 2');
is($e->{suggested_action}, 'upgrade_plan', 'suggested_action upgrade_plan');
is($e->{suggested_endpoint}, 'GET /api/v1/usage', 'suggested_endpoint usage');
is(count_jobs($q->{account_id}), 2, 'two jobs');
is(psql_value("SELECT used FROM quota_periods WHERE account_id = '$q->{account_id}'"), 2, 'used stays 2');
is(psql_value("SELECT count(*) FROM usage_events WHERE account_id = '$q->{account_id}' AND type = 'request.rejected' AND code = 'QUOTA_EXCEEDED'"),
   1, 'the refusal is a usage event');
is(psql_value("SELECT count(*) FROM idempotency_keys WHERE account_id = '$q->{account_id}' AND key = '$qk'"),
   0, 'a refusal is not kept under the key');
psql("UPDATE entitlements SET monthly_jobs = 3 WHERE account_id = '$q->{account_id}'");
is(create_job($q->{key}, idem => $qk)->status, 201, 'after an upgrade the same key creates the job');

my $a = jobs_account(grant => { '--monthly-jobs' => 10, '--max-active-jobs' => 1 });
my $first = create_job($a->{key});
is($first->status, 201, 'active limit 1: first');
$e = error_ok(create_job($a->{key}), 429, 'ACTIVE_JOB_LIMIT', 'active limit 1: second is 429');
is($e->{suggested_action}, 'wait', 'suggested_action wait');
is(psql_value("SELECT used FROM quota_periods WHERE account_id = '$a->{account_id}'"), 1,
   'the refused job used no quota');
worker_move($first->json->{id}, 'accepted', 'running', 'ready_for_customer_review');
is(psql_value("SELECT active FROM job_counters WHERE account_id = '$a->{account_id}'"), 0,
   'a delivered job is no longer active');
is(create_job($a->{key})->status, 201, 'so another can be created');

my $b = jobs_account(grant => { '--monthly-jobs' => 1, '--max-active-jobs' => 1 });
is(create_job($b->{key})->status, 201, 'quota 1, active 1: first');
error_ok(create_job($b->{key}), 402, 'QUOTA_EXCEEDED', 'both exhausted: QUOTA_EXCEEDED wins');

my $z = jobs_account(grant => { '--monthly-jobs' => 0 });
error_ok(create_job($z->{key}), 402, 'QUOTA_EXCEEDED', 'quota 0: 402');

# --- the worker is woken: NOTIFY webot_jobs with the new job's id -------------------
{
  require IPC::Open2;
  my $pid = IPC::Open2::open2(my $out, my $in, 'psql', '-X', '-q', '-d', $ENV{WEBOT_TEST_DB});
  print {$in} "LISTEN webot_jobs;\nSELECT 'listening';\n";
  $in->flush;
  my $line;
  while (defined($line = <$out>)) { last if $line =~ /listening/ }
  my $nid = create_job($key)->json->{id};
  sleep 1;
  print {$in} "SELECT 'done';\nSELECT 'end';\n";
  $in->flush;
  my $seen = '';
  while (defined($line = <$out>)) { $seen .= $line; last if $line =~ /\bend\b/ }
  close $in;
  waitpid $pid, 0;
  like($seen, qr/notification "webot_jobs" with payload "\Q$nid\E"/, 'NOTIFY webot_jobs with the job id');
}

done_testing;
