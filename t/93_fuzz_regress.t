# Findings of the fuzz harnesses (fuzz/, docs/fuzzing.md), replayed against
# the real server: what a client sees for the input that failed. The same
# inputs are C unit tests in t/unit/test_fuzz_regress.c and seeds in
# fuzz/corpus/, so every fuzz run replays them too.
use strict;
use warnings;
use Test::More;
use WebotTest;
use WebotAgents;

# 1. A JSON syntax error whose token ends inside a multi-byte UTF-8
#    character: jansson's message quotes the token ("invalid escape near
#    '"\u0<first byte of a 2-byte character>'"), the quoted text is not
#    UTF-8, and the error body could not be built (the answer was the 4
#    bytes "null" with a 400).
my $split = "{\"email\":\"\\u0\xd0\x9a\",\"password\":\"x\"}";
my $r = api_post('/api/v1/auth/login', body => $split,
                 content_type => 'application/json');
my $e = error_ok($r, 400, 'BAD_REQUEST', 'split UTF-8 in a JSON error: 400 with the error body');
like($e->{message} // '', qr/not valid JSON/, 'the message says why') if $e;

my $acct = make_account(plan => 'agent_pro');
$r = api_post('/api/v1/jobs', body => "{\"title\":\"\\u\xe2\x9c\x93\"}",
              key => $acct->{key}, content_type => 'application/json',
              headers => { 'Idempotency-Key' => idem_key() });
error_ok($r, 400, 'BAD_REQUEST', 'POST /jobs: the same with a 3-byte character');

# 2. The same through MCP: the JSON-RPC parse error answer (-32700) must be
#    JSON, with the reason in its message.
$r = mcp_post($acct->{key}, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\\u0\xd0\x9a\"}");
is($r->status, 200, 'MCP: a JSON-RPC answer') or diag($r->describe);
is(ref $r->json eq 'HASH' && $r->json->{error} && $r->json->{error}{code}, -32700,
   'MCP: -32700 parse error') or diag($r->describe);
ok(ref $r->json eq 'HASH' && exists $r->json->{id} && !defined $r->json->{id},
   'MCP: with id null');

# The server is still fine.
$r = api_get('/api/v1/health');
is($r->status, 200, 'health after the findings') or diag($r->describe);

done_testing();
