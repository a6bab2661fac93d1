# POST /api/v1/mcp at the protocol level: auth, transport rules (405, 415,
# 413, Origin, MCP-Protocol-Version), JSON-RPC envelopes and errors,
# initialize/ping/tools/list, batches per protocol version, and tools/call
# running the routes in-process (success, isError with the contract's error
# body, scopes and entitlements like REST). Tools of routes that other
# areas add are checked when their rows exist.
use strict;
use warnings;
use Test::More;
use WebotTest;
use WebotAgents;

my $acct = make_account(plan => 'agent_pro');
my $key = $acct->{key};
my $doc = openapi();
my %doc_tools = doc_tools($doc);

sub rpc { my ($m, %p) = @_; return { jsonrpc => '2.0', id => $p{id} // 1, method => $m,
                                     (exists $p{params} ? (params => $p{params}) : ()) } }

# --- transport and auth ---------------------------------------------------------
my $r = mcp_post(undef, rpc('ping'));
error_ok($r, 401, 'UNAUTHORIZED', 'no credential: 401');
like($r->header('WWW-Authenticate') // '', qr/^Bearer/, 'WWW-Authenticate: Bearer');
$r = mcp_post('wbt_not_a_real_key_000000000000000000', rpc('ping'));
error_ok($r, 401, 'UNAUTHORIZED', 'unknown key: 401');

$r = api_get('/api/v1/mcp', key => $key);
error_ok($r, 405, 'METHOD_NOT_ALLOWED', 'GET: 405');
is($r->header('Allow'), 'POST', 'Allow: POST');
$r = api_delete('/api/v1/mcp', key => $key);
error_ok($r, 405, 'METHOD_NOT_ALLOWED', 'DELETE: 405');

$r = mcp_post($key, '{"jsonrpc":"2.0","id":1,"method":"ping"}', content_type => 'text/plain');
error_ok($r, 415, 'UNSUPPORTED_MEDIA_TYPE', 'text/plain: 415');
$r = mcp_post($key, '{"jsonrpc":"2.0","id":1,"method":"ping","x":"' . ('a' x 70000) . '"}');
error_ok($r, 413, 'PAYLOAD_TOO_LARGE', 'a body over WebotMaxBodyBytes: 413');

$r = mcp_post($key, rpc('ping'), headers => { Origin => 'http://evil.example' });
my $e = error_ok($r, 403, 'FORBIDDEN', 'a foreign Origin: 403');
$r = mcp_post($key, rpc('ping'), headers => { Origin => 'null' });
error_ok($r, 403, 'FORBIDDEN', 'Origin null: 403');
my ($host) = base_url() =~ m{^http://([^/]+)};
$r = mcp_post($key, rpc('ping'), headers => { Origin => "http://$host" });
is($r->status, 200, 'the same Origin is accepted') or diag($r->describe);

my ($tls_host) = https_url() =~ m{^https://([^/]+)};
$r = mcp_post($key, rpc('ping'), https => 1, headers => { Origin => "https://$tls_host" });
is($r->status, 200, 'over TLS the https Origin of this server is accepted') or diag($r->describe);
$r = mcp_post($key, rpc('ping'), https => 1, headers => { Origin => "http://$tls_host" });
error_ok($r, 403, 'FORBIDDEN', 'over TLS an http Origin is foreign: 403');

$r = mcp_post($key, rpc('ping'), headers => { 'MCP-Protocol-Version' => '1999-01-01' });
$e = error_ok($r, 400, 'BAD_REQUEST', 'unsupported MCP-Protocol-Version: 400');
like($e->{message} // '', qr/2025-06-18/, 'the message names the supported versions');
for my $v (qw(2025-11-25 2025-06-18 2025-03-26 2024-11-05)) {
  $r = mcp_post($key, rpc('ping'), headers => { 'MCP-Protocol-Version' => $v });
  is($r->status, 200, "MCP-Protocol-Version $v accepted");
}
is($r->header('Cache-Control'), 'no-store', 'Cache-Control: no-store');
like($r->header('RateLimit') // '', qr/r=\d+/, 'RateLimit fields on the answer')
  if $r->header('RateLimit-Policy');

# --- initialize, notifications, ping ----------------------------------------------
for my $v (qw(2025-11-25 2025-06-18 2025-03-26 2024-11-05)) {
  $r = mcp_post($key, rpc('initialize', params => { protocolVersion => $v, capabilities => {},
                                                     clientInfo => { name => 't', version => '1' } }));
  is($r->status, 200, "initialize $v: 200");
  like($r->header('Content-Type') // '', qr{^application/json}, 'application/json');
  my $res = $r->json && $r->json->{result};
  is($res->{protocolVersion}, $v, "negotiated $v");
  is_deeply($res->{capabilities}, { tools => { listChanged => JSON::PP::false } },
            'capabilities: tools, listChanged false');
  is($res->{serverInfo}{name}, 'mod_webot', 'serverInfo.name');
  ok(!$r->header('Mcp-Session-Id'), 'no session id (stateless)');
}
$r = mcp_post($key, rpc('initialize', params => { protocolVersion => '2099-01-01', capabilities => {} }));
is($r->json->{result}{protocolVersion}, '2025-11-25', 'an unknown version: our newest');
$r = mcp_post($key, rpc('initialize', params => { capabilities => {} }));
is($r->json->{error}{code}, -32602, 'initialize without protocolVersion: -32602');

$r = mcp_post($key, { jsonrpc => '2.0', method => 'notifications/initialized' });
is($r->status, 202, 'notifications/initialized: 202');
is($r->content, '', 'with no body');
$r = mcp_post($key, { jsonrpc => '2.0', method => 'notifications/cancelled', params => { requestId => 3 } });
is($r->status, 202, 'any notification: 202');
$r = mcp_post($key, { jsonrpc => '2.0', id => 'srv-1', result => {} });
is($r->status, 202, 'a client response: 202');

$r = mcp_post($key, rpc('ping', id => 'p-1'));
is_deeply($r->json, { jsonrpc => '2.0', id => 'p-1', result => {} }, 'ping: {} with the same id');

# --- JSON-RPC errors -----------------------------------------------------------------
$r = mcp_post($key, '{"jsonrpc":"2.0","id":1,"method":');
is($r->status, 200, 'malformed JSON: a JSON-RPC answer');
is($r->json && $r->json->{error}{code}, -32700, 'malformed JSON: -32700');
ok(exists $r->json->{id} && !defined $r->json->{id}, 'with id null');
$r = mcp_post($key, '{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}');
is($r->json->{error}{code}, -32700, 'duplicate keys: -32700');
$r = mcp_post($key, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}");
is($r->json->{error}{code}, -32700, 'bad UTF-8: -32700');
$r = mcp_post($key, '');
is($r->json->{error}{code}, -32700, 'an empty body: -32700');
$r = mcp_post($key, { jsonrpc => '1.0', id => 9, method => 'ping' });
is($r->json->{error}{code}, -32600, 'jsonrpc 1.0: -32600');
is($r->json->{id}, 9, 'the id is kept');
$r = mcp_post($key, { jsonrpc => '2.0', id => 3, method => 'resources/list' });
is($r->json->{error}{code}, -32601, 'an unknown method: -32601');
like($r->json->{error}{message}, qr{resources/list}, 'named in the message');
$r = mcp_post($key, rpc('tools/call', params => { name => 'no_such_tool', arguments => {} }));
is($r->json->{error}{code}, -32602, 'an unknown tool: -32602');
$r = mcp_post($key, rpc('tools/call', params => { arguments => {} }));
is($r->json->{error}{code}, -32602, 'tools/call without a name: -32602');
$r = mcp_post($key, rpc('tools/call', params => { name => 'get_catalog', arguments => [1] }));
is($r->json->{error}{code}, -32602, 'arguments not an object: -32602');
$r = mcp_post($key, rpc('tools/list', params => { cursor => 'abc' }));
is($r->json->{error}{code}, -32602, 'a cursor never handed out: -32602');

# --- batches ---------------------------------------------------------------------------
my $batch = [ rpc('ping', id => 1), { jsonrpc => '2.0', method => 'notifications/initialized' },
              rpc('tools/list', id => 'b'), { jsonrpc => '2.0', id => 4, method => 'nope' } ];
for my $v (undef, '2025-03-26', '2024-11-05') {
  $r = mcp_post($key, $batch, headers => { $v ? ('MCP-Protocol-Version' => $v) : () });
  my $label = $v // 'no header (2025-03-26 assumed)';
  ok(ref $r->json eq 'ARRAY', "batch with $label: an array") or diag($r->describe);
  my %by_id = map { ($_->{id} => $_) } @{ ref $r->json eq 'ARRAY' ? $r->json : [] };
  is(scalar(keys %by_id), 3, 'three answers (the notification has none)');
  is_deeply($by_id{1}{result}, {}, 'ping answered');
  ok(ref $by_id{b}{result}{tools} eq 'ARRAY', 'tools/list answered');
  is($by_id{4}{error}{code}, -32601, 'unknown method answered -32601');
}
$r = mcp_post($key, $batch, headers => { 'MCP-Protocol-Version' => '2025-06-18' });
is(ref $r->json, 'HASH', 'batch with 2025-06-18: one error');
is($r->json->{error}{code}, -32600, '-32600 (batches were removed)');
$r = mcp_post($key, [ rpc('initialize', params => { protocolVersion => '2025-03-26' }) ]);
is($r->json->[0]{error}{code}, -32600, 'initialize inside a batch: -32600');
$r = mcp_post($key, [ { jsonrpc => '2.0', method => 'notifications/initialized' } ]);
is($r->status, 202, 'a batch of notifications only: 202');
$r = mcp_post($key, '[]');
is($r->json->{error}{code}, -32600, 'an empty batch: -32600');
$r = mcp_post($key, [ map { rpc('ping', id => $_) } 1 .. 33 ]);
is($r->json->{error}{code}, -32600, 'a batch of 33: -32600');

# --- tools/list ---------------------------------------------------------------------------
$r = mcp_post($key, rpc('tools/list'));
my $tools = $r->json->{result}{tools};
ok(ref $tools eq 'ARRAY' && @$tools, 'tools/list lists tools') or diag($r->describe);
my %tool = map { ($_->{name} => $_) } @$tools;
is_deeply([sort keys %tool], [sort keys %doc_tools], 'exactly the operations marked x-mcp-tool');
for my $t (@$tools) {
  my $n = $t->{name};
  like($n, qr/^[a-z][a-z_]*$/, "$n: name in [a-z_]");
  is($t->{inputSchema}{type}, 'object', "$n: inputSchema is an object schema");
  ok(JSON::PP::is_bool($t->{inputSchema}{additionalProperties}) && !$t->{inputSchema}{additionalProperties},
     "$n: additionalProperties false");
  ok(length($t->{description} // '') > 10, "$n: described");
  if ($t->{outputSchema}) {
    is($t->{outputSchema}{type}, 'object', "$n: outputSchema is an object schema");
    unlike(JSON::PP->new->canonical->encode($t->{outputSchema}), qr/\$ref/, "$n: no \$ref left");
  }
  my $op = $doc_tools{$n}{op};
  my @path = grep { $_->{in} eq 'path' } @{ $op->{parameters} || [] };
  ok(!@path || grep({ $_ eq 'id' } @{ $t->{inputSchema}{required} || [] }), "$n: id required when in the path");
  if (my $rb = $op->{requestBody}) {
    my $props = $rb->{content}{'application/json'}{schema}{properties} || {};
    ok(!grep({ !$t->{inputSchema}{properties}{$_} } keys %$props), "$n: every body field is an argument");
  }
}
for my $want (qw(get_catalog list_plans check_intent)) {
  ok($tool{$want}, "tool $want exists");
}

# --- tools/call: public routes ---------------------------------------------------------------
my $res = mcp_tool($key, 'get_catalog', {});
my $cat = api_get('/api/v1/catalog')->json;
ok($res && JSON::PP::is_bool($res->{isError}) && !$res->{isError}, 'get_catalog: isError false');
is_deeply($res->{structuredContent}, $cat, 'structuredContent is the REST answer');
is_deeply(json_decode($res->{content}[0]{text}), $cat, 'and so is the text block');
is($res->{content}[0]{type}, 'text', 'a text block');
is($res->{_meta}{status}, 200, '_meta.status 200');

$res = mcp_tool($key, 'get_catalog', {}, headers => { 'If-None-Match' => '*' });
is_deeply($res && $res->{structuredContent}, $cat, 'If-None-Match on the MCP request does not reach the tool');

$res = mcp_tool($key, 'list_plans', undef);
ok($res && ref $res->{structuredContent}{plans} eq 'ARRAY', 'list_plans without arguments');

$res = mcp_tool($key, 'check_intent', { service_option => 'tone_rewrites_copy_polish', intake => { tone => 'warm' } });
ok($res && !$res->{isError}, 'check_intent: a 200 answer') or diag(explain $res);
is($res->{structuredContent}{ok}, JSON::PP::false, 'not ok: requirements missing');
ok(scalar @{ $res->{structuredContent}{missing_requirements} || [] }, 'missing_requirements listed');
my $rest = api_post('/api/v1/catalog/intent-check',
  json => { service_option => 'tone_rewrites_copy_polish', intake => { tone => 'warm' } });
is_deeply($res->{structuredContent}, $rest->json, 'the same answer as the REST route');

$r = mcp_post($key, rpc('tools/call', params => { name => 'check_intent', arguments => { bogus => 1 } }),
              headers => { 'X-Request-Id' => 'mcp-test-req.1' });
$res = $r->json->{result};
ok($res && JSON::PP::is_bool($res->{isError}) && $res->{isError}, 'an unknown argument: isError');
my $err = $res->{structuredContent}{error};
is($err->{code}, 'VALIDATION_ERROR', 'VALIDATION_ERROR');
is($err->{param}, 'bogus', 'param names the argument');
is($err->{suggested_action}, 'revise_request', 'suggested_action revise_request');
is($err->{request_id}, 'mcp-test-req.1', 'request_id is the MCP request id');
is($r->header('X-Request-Id'), 'mcp-test-req.1', 'echoed in X-Request-Id');
is_deeply([sort keys %$err], [sort qw(code message request_id suggested_action suggested_endpoint param details)],
  'the contract error body');
is_deeply(json_decode($res->{content}[0]{text}), $res->{structuredContent}, 'text block = structuredContent');
is($res->{_meta}{status}, 422, '_meta.status 422');

$res = mcp_tool($key, 'check_intent', { service_option => ['x'] });
ok($res && !$res->{isError} && @{ $res->{structuredContent}{problems} || [] },
   'check_intent reports a wrong type as a problem, like REST (self-validating route)');

# --- tools/call: authenticated routes (as their rows land) ----------------------------------
my %needs;
for my $n (keys %doc_tools) {
  my $sc = $doc_tools{$n}{op}{'x-webot-scopes'} // '';
  push @{ $needs{$_} }, $n for split /,\s*/, $sc;
}
SKIP: {
  my ($jobs_read) = grep { !@{ $doc_tools{$_}{op}{parameters} ? [grep { $_->{in} eq 'path' } @{ $doc_tools{$_}{op}{parameters} }] : [] } }
                    sort @{ $needs{'jobs:read'} || [] };
  skip 'no jobs:read tool without a path id yet', 4 unless $jobs_read;
  my $narrow = make_account(plan => 'agent_pro', scopes => 'account:read');
  $res = mcp_tool($narrow->{key}, $jobs_read, {});
  ok($res && $res->{isError}, "$jobs_read with an account:read key: isError");
  is($res->{structuredContent}{error}{code}, 'FORBIDDEN', 'FORBIDDEN like REST');
  my $none = make_account(plan => 'agent_pro', no_entitlement => 1);
  $res = mcp_tool($none->{key}, $jobs_read, {});
  ok($res && $res->{isError}, "$jobs_read without an entitlement: isError");
  is($res->{structuredContent}{error}{code}, 'ENTITLEMENT_REQUIRED', 'ENTITLEMENT_REQUIRED like REST');
}
SKIP: {
  my $none = make_account(plan => 'agent_pro', no_entitlement => 1);
  $r = mcp_post($none->{key}, rpc('ping'));
  is($r->status, 200, 'without an entitlement the endpoint still answers (account context)');
  skip 'no get_me tool yet', 1 unless $tool{get_me};
  $res = mcp_tool($none->{key}, 'get_me', {});
  ok($res && !$res->{isError}, 'get_me works without an entitlement');
}

SKIP: {
  skip 'no create_job/get_job tools yet', 12 unless $tool{create_job} && $tool{get_job};
  my $args = { service_option => 'tone_rewrites_copy_polish', title => 'MCP job',
               intake => { audience => 'a', brand_constraints => 'b', tone => 'c', delivery_format => 'd' } };
  $res = mcp_tool($key, 'create_job', $args);
  ok($res && $res->{isError}, 'create_job without idempotency_key: isError');
  is($res->{structuredContent}{error}{code}, 'IDEMPOTENCY_KEY_REQUIRED', 'IDEMPOTENCY_KEY_REQUIRED');
  my $ik = idem_key();
  $res = mcp_tool($key, 'create_job', { %$args, idempotency_key => $ik });
  ok($res && !$res->{isError}, 'create_job: created') or diag(explain $res);
  my $job = $res->{structuredContent};
  like($job->{id} // '', qr/^job_/, 'a job id');
  is($res->{_meta}{status}, 201, '_meta.status 201');
  my $again = mcp_tool($key, 'create_job', { %$args, idempotency_key => $ik });
  is($again->{structuredContent}{id}, $job->{id}, 'the same key replays the same job');
  ok($again->{_meta}{idempotent_replayed}, '_meta.idempotent_replayed');
  $res = mcp_tool($key, 'get_job', { id => $job->{id} });
  is($res->{structuredContent}{id}, $job->{id}, 'get_job reads it back');
  my $rest_job = api_get("/api/v1/jobs/$job->{id}", key => $key)->json;
  is_deeply($res->{structuredContent}, $rest_job, 'the same as GET /api/v1/jobs/{id}');
  my $other = make_account(plan => 'agent_pro');
  $res = mcp_tool($other->{key}, 'get_job', { id => $job->{id} });
  is($res->{structuredContent}{error}{code}, 'NOT_FOUND', "another account's job: NOT_FOUND");
  $res = mcp_tool($key, 'get_job', { id => 'job_../../x' });
  is($res->{structuredContent}{error}{code}, 'NOT_FOUND', 'an impossible id: NOT_FOUND');
  $res = mcp_tool($key, 'get_job', {});
  is($res->{structuredContent}{error}{param}, 'id', 'a missing id: VALIDATION_ERROR on id');
}

# --- concurrency ------------------------------------------------------------------------------
{
  my @res = in_parallel(12, sub { my $r = mcp_tool($key, 'get_catalog', {});
                               return $r && !$r->{isError} ? json_encode($r->{structuredContent}) : 'fail' });
  is(scalar(grep { $_ ne 'fail' && json_decode($_) && ref json_decode($_)->{service_families} } @res), 12,
     '12 parallel tools/call get_catalog all answer');
}
SKIP: {
  skip 'no create_job tool yet', 3 unless $tool{create_job};
  my $a2 = make_account(plan => 'agent_pro');
  my $ik = idem_key();
  my $args = { service_option => 'tone_rewrites_copy_polish', title => 'race', idempotency_key => $ik,
               intake => { audience => 'a', brand_constraints => 'b', tone => 'c', delivery_format => 'd' } };
  my @res = in_parallel(8, sub { my $r = mcp_tool($a2->{key}, 'create_job', $args);
                              return $r ? json_encode($r) : 'no result' });
  my (%ids, %codes);
  for (@res) {
    my $r = eval { json_decode($_) } or next;
    if ($r->{isError}) { $codes{ $r->{structuredContent}{error}{code} }++ }
    else { $ids{ $r->{structuredContent}{id} }++ }
  }
  is(scalar(keys %ids), 1, '8 parallel create_job calls with one idempotency_key: one job id')
    or diag(explain \@res);
  ok(!grep({ $_ ne 'IDEMPOTENCY_IN_PROGRESS' } keys %codes), 'the others replay or are told to retry')
    or diag(explain \%codes);
  my $acct_id = $a2->{account_id};
  $acct_id =~ /^acct_[a-z0-9]+$/ or die 'bad account id';
  is(psql_value("SELECT count(*) FROM jobs WHERE account_id = '$acct_id'"), 1, 'exactly one job row');
}

# --- dashboard sessions: cookie + CSRF, like every cookie-authenticated POST ---------------
SKIP: {
  my $owner = make_account(plan => 'both_team');
  my $c = new_client();
  my $login = $c->post('/api/v1/auth/login', json => { email => $owner->{email}, password => $owner->{password} });
  skip 'no sign-in route yet', 4 unless $login->status == 200;
  my $csrf = $login->json->{csrf_token};
  $r = $c->post('/api/v1/mcp', json => rpc('ping'), headers => { Accept => 'application/json, text/event-stream' });
  error_ok($r, 403, 'CSRF_FAILED', 'a session without X-CSRF-Token: 403 CSRF_FAILED');
  $r = $c->post('/api/v1/mcp', json => rpc('tools/call', params => { name => 'get_catalog', arguments => {} }),
                headers => { 'X-CSRF-Token' => $csrf });
  is($r->status, 200, 'a session with X-CSRF-Token: 200');
  ok($r->json && !$r->json->{result}{isError}, 'and tool calls work');
  skip 'no get_me tool yet', 1 unless $tool{get_me};
  $r = $c->post('/api/v1/mcp', json => rpc('tools/call', params => { name => 'get_me', arguments => {} }),
                headers => { 'X-CSRF-Token' => $csrf });
  is($r->json && $r->json->{result}{structuredContent}{auth}{method}, 'session', 'get_me sees the session');
}

# --- the database down: 503 with Retry-After, then back ------------------------------------
{
  pg_stop();
  $r = mcp_post($key, rpc('tools/call', params => { name => 'get_catalog', arguments => {} }));
  my $down = $r->status;
  pg_start();
  ok($down == 503, 'database down: 503 (the credential cannot be checked)') or diag($r->describe);
  error_ok($r, 503, 'SERVICE_UNAVAILABLE', 'the contract body') if $down == 503;
  ok($r->header('Retry-After'), 'with Retry-After') if $down == 503;
  my $ok;
  for (1 .. 20) {
    my $res = mcp_tool($key, 'get_catalog', {});
    if ($res && !$res->{isError}) { $ok = 1; last }
    sleep 1;
  }
  ok($ok, 'after the database is back, tool calls work again');
}

# --- create_job from many clients at once: in the group commit a waiting call
# gives its connection back; an in-process call must give back only its own
# (a double release once let two threads share a connection and aborted the
# httpd child at exit; the error_log check after the suite sees AH30007) ----
SKIP: {
  skip 'no create_job tool yet', 3 unless $tool{create_job};
  my $busy = make_account(plan => 'agent_pro',
    grant => { '--monthly-jobs' => 1000, '--max-active-jobs' => 1000, '--rate-limit-per-minute' => 100000 });
  my $args = { service_option => 'tone_rewrites_copy_polish', title => 'MCP job at once',
               intake => { audience => 'a', brand_constraints => 'b', tone => 'c', delivery_format => 'd' } };
  my @out;
  for my $round (1 .. 3) {
    push @out, in_parallel(12, sub {
      my $res = mcp_tool($busy->{key}, 'create_job', { %$args, idempotency_key => idem_key() . "-$round-$_[0]" });
      return 'ok' if $res && !$res->{isError} && ($res->{_meta}{status} // 0) == 201;
      return 'bad: ' . ($WebotAgents::last ? $WebotAgents::last->describe : 'no answer');
    });
  }
  is_deeply([grep { $_ ne 'ok' } @out], [], '36 create_job calls, 12 at once: every one 201');
  my $list = api_get('/api/v1/jobs?limit=100', key => $busy->{key})->json;
  is(scalar @{ $list->{data} // [] }, 36, 'and 36 jobs exist');
  my @me = in_parallel(16, sub { api_get('/api/v1/me', key => $busy->{key})->status });
  is_deeply([grep { $_ ne '200' } @me], [], 'the server answers normally after them (16 x GET /me at once)');
}

done_testing;
