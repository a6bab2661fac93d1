# The handlers can be mounted anywhere: the dispatcher matches the path
# relative to the <Location> (t/conf/extra.conf.in mounts webot-api also at
# /alt/v2 and webot-stripe-webhook also at /alt/hook). The OpenAPI document
# keeps the default paths.
use strict;
use warnings;
use Test::More;
use WebotTest;
use WebotFoundation;

my $std = api_get('/api/v1/catalog');
my $alt = api_get('/alt/v2/catalog');

# httpd creates a module's per-directory config only for sections that hold
# one of the module's directives, and SetHandler is core's: the dispatcher
# reads the <Location> of each `SetHandler webot-*` from the configuration
# tree instead, so any location works.
is($alt->status, 200, 'GET /alt/v2/catalog: the API at a second location') or diag($alt->describe);
is($alt->content, $std->content, 'the same catalog');
is($alt->header('ETag'), $std->header('ETag'), 'the same ETag');

is(api_get('/alt/v2/plans')->status, 200, 'GET /alt/v2/plans');
my $ic = api_post('/alt/v2/catalog/intent-check', json => { service_option => 'market_scan' });
is($ic->status, 200, 'POST /alt/v2/catalog/intent-check');
is($ic->json && $ic->json->{service_family}, 'research_brief', 'and it works');

error_ok(api_get('/alt/v2'), 404, 'NOT_FOUND', 'the location itself: 404');
error_ok(api_get('/alt/v2/'), 404, 'NOT_FOUND', 'the location with a slash: 404');
error_ok(api_get('/alt/v2/api/v1/catalog'), 404, 'NOT_FOUND', 'the default prefix inside another mount: 404');
error_ok(api_get('/alt/v2/nope'), 404, 'NOT_FOUND', 'an unknown path under the second location: 404');
{
  my $r = api_request('DELETE', '/alt/v2/catalog');
  error_ok($r, 405, 'METHOD_NOT_ALLOWED', '405 under the second location');
  is($r->header('Allow'), 'GET, HEAD', 'with Allow');
}

# the OpenAPI document names the default locations, wherever it is served from
my $doc = api_get('/alt/v2/openapi.json')->json || {};
ok($doc->{paths}{'/api/v1/catalog'}, 'openapi.json from /alt/v2 lists /api/v1/catalog');
ok(!grep({ m{^/alt/} } keys %{ $doc->{paths} || {} }), 'and no /alt path');

# a single-route mount: its route is the location itself
if (grep { $_->[1] eq '/api/stripe/webhook' } route_table()) {
  my $r = api_get('/alt/hook');
  error_ok($r, 405, 'METHOD_NOT_ALLOWED', 'GET /alt/hook: the webhook route, POST only');
  is($r->header('Allow'), 'POST', 'Allow: POST');
  error_ok(api_get('/alt/hook/extra'), 404, 'NOT_FOUND', 'GET /alt/hook/extra: 404');
  error_ok(api_get('/alt/hook/catalog'), 404, 'NOT_FOUND', 'API routes are not under the webhook mount');
  my $p = api_post('/alt/hook', body => '{}', content_type => 'application/json');
  ok($p->status == 400 && ($p->json->{error}{code} // '') eq 'WEBHOOK_SIGNATURE_INVALID',
     'POST /alt/hook without a signature reaches the webhook: 400 WEBHOOK_SIGNATURE_INVALID')
    or diag($p->describe);
}

# outside every location the module is not involved (httpd's own 404)
{
  my $r = api_get('/alt/v2x/catalog');
  is($r->status, 404, '/alt/v2x/catalog (outside the location): 404');
  ok(!($r->json && $r->json->{error}), 'from httpd, not from the module');
}

done_testing;
