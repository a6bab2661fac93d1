# Another account's job is 404 on every job route (never 403, never data),
# for API keys and dashboard sessions alike; lists never show it.
use strict;
use warnings;
use Test::More;
use WebotTest;
use WebotJobs;

my $alice = jobs_account();
my $mallory = jobs_account();
my $id = create_job($alice->{key})->json->{id};
worker_move($id, 'accepted', 'running', 'ready_for_customer_review');
my $snapshot = job_row($id);
my $events = psql_value("SELECT count(*) FROM job_events WHERE job_id = '$id'");

my @routes = (
  [GET  => "/api/v1/jobs/$id"],
  [GET  => "/api/v1/jobs/$id/events"],
  [GET  => "/api/v1/jobs/$id/events?after=0"],
  [POST => "/api/v1/jobs/$id/approve", {}],
  [POST => "/api/v1/jobs/$id/cancel", {}],
  [POST => "/api/v1/jobs/$id/revision", { notes => 'Mine now' }],
);
for my $rt (@routes) {
  my ($m, $p, $j) = @$rt;
  my $r = api_request($m, $p, key => $mallory->{key}, (defined $j ? (json => $j) : ()),
                      headers => { 'Idempotency-Key' => idem_key() });
  my $e = error_ok($r, 404, 'NOT_FOUND', "$m $p with another account's key: 404");
  unlike($r->content, qr/ready_for_customer_review|Spring launch/, 'no trace of the job');
}
my $s = sse_open("/api/v1/jobs/$id/events", key => $mallory->{key});
is($s->{status}, 404, "the event stream of another account's job: 404");
sse_close($s);

# a session of the other account
my $c = new_client();
my $login = $c->post('/api/v1/auth/login', json => { email => $mallory->{email}, password => $mallory->{password} });
SKIP: {
  skip 'dashboard sign-in not available', 3 unless $login->status == 200;
  $c->set_header('X-CSRF-Token', $login->json->{csrf_token});
  error_ok($c->get("/api/v1/jobs/$id"), 404, 'NOT_FOUND', 'session of another account: GET 404');
  error_ok($c->post("/api/v1/jobs/$id/cancel", json => {}), 404, 'NOT_FOUND', 'session: cancel 404');
  my $list = $c->get('/api/v1/jobs?limit=100');
  ok(!grep({ $_->{id} eq $id } @{ $list->json->{data} || [] }), "the session's list does not show it");
}

my $list = api_get('/api/v1/jobs?limit=100', key => $mallory->{key});
is(scalar @{ $list->json->{data} }, 0, "the other account's list is empty");
is_deeply(job_row($id), $snapshot, 'the job is untouched');
is(psql_value("SELECT count(*) FROM job_events WHERE job_id = '$id'"), $events, 'no event was added');

# the owner still sees it
is(api_get("/api/v1/jobs/$id", key => $alice->{key})->status, 200, 'the owner: 200');

done_testing;
