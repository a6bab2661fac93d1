# The official MCP client (@modelcontextprotocol/sdk, Client +
# StreamableHTTPClientTransport, installed in t/node-mcp with npm ci) drives
# POST /api/v1/mcp: connect with a Bearer key, list tools, call tools,
# isError results for bad calls, and create/read a job once the jobs routes
# exist. The Node script prints TAP; this test relays it.
use strict;
use warnings;
use Test::More;
use WebotTest;
use WebotAgents;

SKIP: {
  skip 'node/npm unavailable (t/node-mcp not installed)', 2 unless node_ready('t/node-mcp');
  my $acct = make_account(plan => 'agent_pro');
  my $other = make_account(plan => 'agent_pro');
  my ($rc, $out, $err) = run_cmd({ timeout => 180 }, node_bin(),
    top_dir() . '/t/node-mcp/client-test.mjs', base_url(), $acct->{key}, $other->{key});
  for my $line (split /\n/, $out) {
    if ($line =~ /^(not ok|ok) \d+ - (.*)$/) {
      my ($res, $name) = ($1, $2);
      if ($name =~ s/ # SKIP (.*)$//) { SKIP: { skip "SDK: $name: $1", 1 } next }
      ok($res eq 'ok', "SDK: $name");
    }
    elsif ($line =~ /^#/) { diag($line) }
  }
  is($rc, 0, 'the SDK client script exits 0') or diag("stderr: $err");
  like($out, qr/^\d+ passed, 0 failed$/m, 'the SDK client script reports no failure');
}

done_testing;
