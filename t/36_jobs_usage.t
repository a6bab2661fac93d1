# GET /api/v1/usage and POST /api/v1/jobs/preflight: shapes, figures,
# refusals by code, daily counts, and preflight writing nothing.
use strict;
use warnings;
use Test::More;
use WebotTest;
use WebotJobs;

my $acct = jobs_account(grant => { '--monthly-jobs' => 3, '--max-active-jobs' => 2 });
my $key = $acct->{key};
my $aid = $acct->{account_id};

my $u = api_get('/api/v1/usage', key => $key);
is($u->status, 200, 'GET /usage');
my $j = $u->json;
is_deeply([sort keys %$j], [sort qw(period quota active_jobs rejects recent_events daily)], 'fields');
like($j->{period}{start}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'period start');
like($j->{period}{end}, qr/Z$/, 'period end');
is_deeply($j->{quota}, { limit => 3, used => 0, remaining => 3 }, 'quota 3/0/3');
is_deeply($j->{active_jobs}, { count => 0, limit => 2 }, 'active 0 of 2');
is_deeply($j->{rejects}, { count => 0, by_code => {} }, 'no rejects');
is_deeply($j->{recent_events}, [], 'no events');
is(scalar @{ $j->{daily} }, 30, '30 days');
my @utc = gmtime;
my $today = sprintf '%04d-%02d-%02d', $utc[5] + 1900, $utc[4] + 1, $utc[3];
is($j->{daily}[-1]{date}, $today, 'the last day is today (UTC)');
is_deeply($j->{daily}[0], { date => $j->{daily}[0]{date}, jobs_created => 0, rejects => 0 }, 'day shape');

my $id1 = create_job($key)->json->{id};
my $id2 = create_job($key)->json->{id};
error_ok(create_job($key, body => job_body(title => 'third')), 429, 'ACTIVE_JOB_LIMIT', 'active limit reached');
api_post("/api/v1/jobs/$id2/cancel", key => $key);   # refund: used 1
my $id3 = create_job($key)->json->{id};               # used 2
worker_move($id3, 'accepted', 'running', 'ready_for_customer_review');
create_job($key)->status == 201 or diag('fourth creation failed');      # used 3
error_ok(create_job($key), 402, 'QUOTA_EXCEEDED', 'quota reached');

$j = api_get('/api/v1/usage', key => $key)->json;
is_deeply($j->{quota}, { limit => 3, used => 3, remaining => 0 }, 'quota 3/3/0');
is_deeply($j->{active_jobs}, { count => 2, limit => 2 }, 'two active');
is_deeply($j->{rejects}, { count => 2, by_code => { ACTIVE_JOB_LIMIT => 1, QUOTA_EXCEEDED => 1 } },
          'rejects by code');
is($j->{daily}[-1]{jobs_created}, 4, 'four jobs created today');
is($j->{daily}[-1]{rejects}, 2, 'two refusals today');
my @types = map { $_->{type} } @{ $j->{recent_events} };
is($types[0], 'request.rejected', 'newest first');
is($j->{recent_events}[0]{code}, 'QUOTA_EXCEEDED', 'with its code');
ok((grep { $_ eq 'job.refunded' } @types), 'the refund is listed');
is_deeply([sort keys %{ $j->{recent_events}[0] }], [sort qw(id type job_id code created_at)],
          'only safe fields');
unlike(api_get('/api/v1/usage', key => $key)->content, qr/Spring launch|audience|wbt_/,
       'no request bodies or secrets');

# --- preflight --------------------------------------------------------------------------------
sub checks { my %c = map { $_->{name} => $_ } @{ $_[0]->{checks} }; \%c }
my $before = psql_value("SELECT count(*) || '/' || (SELECT used FROM quota_periods WHERE account_id = '$aid') || '/' || (SELECT count(*) FROM usage_events WHERE account_id = '$aid') FROM jobs WHERE account_id = '$aid'");
my $p = api_post('/api/v1/jobs/preflight', key => $key, json => job_body());
is($p->status, 200, 'preflight: 200');
my $c = checks($p->json);
is_deeply([map { $_->{name} } @{ $p->json->{checks} }],
          [qw(authentication entitlement quota active_jobs intent)], 'the five checks in order');
ok($c->{authentication}{ok}, 'authenticated');
ok($c->{entitlement}{ok}, 'entitled');
ok(!$c->{quota}{ok}, 'quota not ok');
is($c->{quota}{remaining}, 0, 'remaining 0');
ok(!$c->{active_jobs}{ok}, 'active_jobs not ok');
is($c->{active_jobs}{count}, 2, 'count 2');
ok($c->{intent}{ok}, 'intent ok');
ok(!$p->json->{ready}, 'not ready');
is($p->json->{suggested_action}, 'upgrade_plan', 'suggested_action upgrade_plan (quota first)');
is(psql_value("SELECT count(*) || '/' || (SELECT used FROM quota_periods WHERE account_id = '$aid') || '/' || (SELECT count(*) FROM usage_events WHERE account_id = '$aid') FROM jobs WHERE account_id = '$aid'"),
   $before, 'preflight wrote nothing');

my $fresh = jobs_account();
$p = api_post('/api/v1/jobs/preflight', key => $fresh->{key}, json => job_body());
ok($p->json->{ready}, 'a fresh account with a good draft is ready');
is($p->json->{suggested_action}, 'none', 'suggested_action none');
my %partial = %{ job_body()->{intake} };
delete $partial{tone};
$p = api_post('/api/v1/jobs/preflight', key => $fresh->{key}, json => job_body(intake => \%partial));
$c = checks($p->json);
ok(!$c->{intent}{ok}, 'missing intake: intent not ok');
is_deeply([map { $_->{id} } @{ $c->{intent}{missing_requirements} }], ['tone'], 'lists tone');
is($p->json->{suggested_action}, 'revise_request', 'revise_request');
$p = api_post('/api/v1/jobs/preflight', key => $fresh->{key}, json => job_body(colour => 1));
$c = checks($p->json);
ok(!$c->{intent}{ok} && @{ $c->{intent}{problems} }, 'unknown field: a problem');
$p = api_post('/api/v1/jobs/preflight', key => $fresh->{key});
is($p->status, 200, 'empty body: 200');
ok(!checks($p->json)->{intent}{ok}, 'no draft: intent not ok');
is(psql_value("SELECT count(*) FROM jobs WHERE account_id = '$fresh->{account_id}'"), 0, 'no job created');

my $none = make_account(no_entitlement => 1);
$p = api_post('/api/v1/jobs/preflight', key => $none->{key}, json => job_body());
is($p->status, 200, 'preflight answers without an entitlement');
$c = checks($p->json);
ok(!$c->{entitlement}{ok}, 'entitlement not ok');
ok($c->{entitlement}{message}, 'with a reason');
is($p->json->{suggested_action}, 'upgrade_plan', 'upgrade_plan');
$u = api_get('/api/v1/usage', key => $none->{key});
is($u->status, 200, 'usage answers without an entitlement');
is_deeply($u->json->{quota}, { limit => 0, used => 0, remaining => 0 }, 'quota 0');

my $ro = make_account(plan => 'both_team', scopes => 'jobs:read');
error_ok(api_get('/api/v1/usage', key => $ro->{key}), 403, 'FORBIDDEN', 'usage needs account:read');
is(api_post('/api/v1/jobs/preflight', key => $ro->{key}, json => job_body())->status, 200,
   'preflight needs jobs:read only');
error_ok(api_post('/api/v1/jobs/preflight', key => $key, body => '{', content_type => 'application/json'),
         400, 'BAD_REQUEST', 'preflight with malformed JSON: 400');

done_testing;
