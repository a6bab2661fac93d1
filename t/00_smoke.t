# Smoke: the module is loaded, answers the health route and the contract's
# error body for an unknown route, keeps X-Request-Id, and the TLS port works.
use strict;
use warnings;
use Test::More;
use WebotTest;

# PostgreSQL runs here, so health must be 200; the 503 body (database down)
# is for the tests that stop PostgreSQL.
my $r = api_get('/api/v1/health');
is($r->status, 200, 'GET /api/v1/health is 200') or diag($r->describe);
ok(ref $r->json eq 'HASH', 'health body is a JSON object') or diag($r->describe);
like($r->header('Content-Type') // '', qr{^application/json\b}i, 'health is application/json');
is($r->header('X-Content-Type-Options'), 'nosniff', 'X-Content-Type-Options: nosniff');
like(ref $r->json eq 'HASH' ? $r->json->{status} // '' : '', qr/^(ok|degraded)$/,
  'health status is ok or degraded');

$r = api_get('/api/v1/nope');
my $err = error_ok($r, 404, 'NOT_FOUND', 'unknown route: 404 NOT_FOUND error body');

$r = api_get('/api/v1/nope', headers => { 'X-Request-Id' => 'smoke-test.req:1' });
is($r->header('X-Request-Id'), 'smoke-test.req:1', 'client X-Request-Id is echoed');
is($r->json && $r->json->{error}{request_id}, 'smoke-test.req:1', 'and is the error request_id');

$r = api_get('/api/v1/health', https => 1);
ok($r->status == 200 || $r->status == 503, 'health over TLS') or diag($r->describe);
like($r->header('Strict-Transport-Security') // '', qr/max-age=\d+/, 'HSTS over TLS');

done_testing;
