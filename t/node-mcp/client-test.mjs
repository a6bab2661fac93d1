// The official MCP TypeScript SDK client against POST /api/v1/mcp: connect
// with a Bearer API key over StreamableHTTPClientTransport, list the tools,
// call public tools, see isError results for bad calls (the contract's error
// body in structuredContent), and - when the jobs routes exist - create a
// job with an idempotency key, replay it, and read it back. Prints TAP and
// exits non-zero when a check fails.
// Usage: node client-test.mjs BASE_URL API_KEY [OTHER_ACCOUNT_KEY]
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import assert from 'node:assert/strict';

const [base, key, otherKey] = process.argv.slice(2);
if (!base || !key) {
  console.error('usage: node client-test.mjs BASE_URL API_KEY [OTHER_KEY]');
  process.exit(2);
}

let n = 0;
let failed = 0;
async function check(name, fn) {
  n++;
  try {
    await fn();
    console.log(`ok ${n} - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok ${n} - ${name}`);
    for (const line of String(e && e.stack || e).split('\n').slice(0, 8)) console.log(`# ${line}`);
  }
}
function skip(name, why) {
  n++;
  console.log(`ok ${n} - ${name} # SKIP ${why}`);
}

function connect(k) {
  const transport = new StreamableHTTPClientTransport(new URL('/api/v1/mcp', base), {
    requestInit: { headers: { Authorization: `Bearer ${k}` } },
  });
  const client = new Client({ name: 'webot-sdk-test', version: '1.0.0' });
  return { client, transport };
}

const { client, transport } = connect(key);
let tools = [];

await check('connect (initialize + notifications/initialized)', async () => {
  await client.connect(transport);
  const v = client.getServerVersion();
  assert.equal(v.name, 'mod_webot');
  assert.deepEqual(client.getServerCapabilities().tools, { listChanged: false });
  // the SDK sends its newest version; the server must have agreed to it
  assert.equal(transport.protocolVersion, LATEST_PROTOCOL_VERSION);
});

await check('ping', async () => {
  assert.deepEqual(await client.ping(), {});
});

await check('listTools: tools named [a-z_] with object input schemas', async () => {
  const res = await client.listTools();
  tools = res.tools;
  assert.ok(tools.length >= 3, `${tools.length} tools`);
  for (const t of tools) {
    assert.match(t.name, /^[a-z][a-z_]*$/);
    assert.equal(t.inputSchema.type, 'object');
    assert.equal(t.inputSchema.additionalProperties, false);
  }
  for (const want of ['get_catalog', 'list_plans', 'check_intent']) {
    assert.ok(tools.some((t) => t.name === want), `tool ${want}`);
  }
});

const has = (name) => tools.some((t) => t.name === name);
let catalog;

await check('callTool get_catalog: structuredContent validated against outputSchema', async () => {
  const res = await client.callTool({ name: 'get_catalog', arguments: {} });
  assert.equal(res.isError, false);
  catalog = res.structuredContent;
  assert.ok(Array.isArray(catalog.service_families) && catalog.service_families.length > 0);
  assert.deepEqual(JSON.parse(res.content[0].text), catalog);
  const rest = await (await fetch(new URL('/api/v1/catalog', base))).json();
  assert.deepEqual(catalog, rest);
});

await check('callTool check_intent: a draft with missing requirements', async () => {
  const res = await client.callTool({ name: 'check_intent',
    arguments: { service_option: 'tone_rewrites_copy_polish', intake: { tone: 'warm' } } });
  assert.equal(res.isError, false);
  assert.equal(res.structuredContent.ok, false);
  assert.ok(res.structuredContent.missing_requirements.length > 0);
});

await check('a bad call is an isError result with the error body', async () => {
  const res = await client.callTool({ name: 'check_intent', arguments: { no_such_field: 1 } });
  assert.equal(res.isError, true);
  const err = res.structuredContent.error;
  assert.equal(err.code, 'VALIDATION_ERROR');
  assert.equal(err.param, 'no_such_field');
  assert.equal(err.suggested_action, 'revise_request');
  assert.deepEqual(JSON.parse(res.content[0].text), res.structuredContent);
});

await check('an unknown tool is a JSON-RPC error -32602', async () => {
  await assert.rejects(client.callTool({ name: 'no_such_tool', arguments: {} }),
    (e) => e.code === -32602);
});

if (has('create_job') && has('get_job')) {
  const idem = `sdk-${Date.now()}-${Math.random().toString(36).slice(2, 10)}`;
  const args = {
    service_option: 'tone_rewrites_copy_polish', title: 'SDK job',
    intake: { audience: 'Existing customers', brand_constraints: 'No emoji',
              tone: 'Warm', delivery_format: 'Plain text' },
    metadata: { source: 'mcp-sdk-test' },
  };
  let job;
  await check('create_job without idempotency_key: isError IDEMPOTENCY_KEY_REQUIRED', async () => {
    const res = await client.callTool({ name: 'create_job', arguments: args });
    assert.equal(res.isError, true);
    assert.equal(res.structuredContent.error.code, 'IDEMPOTENCY_KEY_REQUIRED');
  });
  await check('create_job with an idempotency_key', async () => {
    const res = await client.callTool({ name: 'create_job', arguments: { ...args, idempotency_key: idem } });
    assert.equal(res.isError, false, JSON.stringify(res.structuredContent));
    job = res.structuredContent;
    assert.match(job.id, /^job_/);
    assert.equal(job.service_option, 'tone_rewrites_copy_polish');
  });
  await check('the same idempotency_key replays the same job', async () => {
    const res = await client.callTool({ name: 'create_job', arguments: { ...args, idempotency_key: idem } });
    assert.equal(res.structuredContent.id, job.id);
  });
  await check('get_job reads it back', async () => {
    const res = await client.callTool({ name: 'get_job', arguments: { id: job.id } });
    assert.equal(res.isError, false);
    assert.equal(res.structuredContent.id, job.id);
    assert.equal(res.structuredContent.title, 'SDK job');
  });
  if (has('list_jobs')) {
    await check('list_jobs contains it', async () => {
      const res = await client.callTool({ name: 'list_jobs', arguments: { limit: 5 } });
      assert.equal(res.isError, false);
      assert.ok(res.structuredContent.data.some((j) => j.id === job.id));
    });
  }
  if (has('list_job_events')) {
    await check('list_job_events: JSON events (never an SSE stream through MCP)', async () => {
      const res = await client.callTool({ name: 'list_job_events', arguments: { id: job.id } });
      assert.equal(res.isError, false, JSON.stringify(res.structuredContent));
      assert.ok(res.structuredContent.data.length >= 1);
      assert.equal(res.structuredContent.data[0].seq, 1);
    });
  }
  if (has('cancel_job')) {
    await check('cancel_job: canceled', async () => {
      const res = await client.callTool({ name: 'cancel_job', arguments: { id: job.id, reason: 'SDK test' } });
      assert.equal(res.isError, false, JSON.stringify(res.structuredContent));
      assert.equal(res.structuredContent.status, 'canceled');
    });
  }
  if (has('approve_job')) {
    await check('approve_job on a canceled job: isError INVALID_STATE with details', async () => {
      const res = await client.callTool({ name: 'approve_job', arguments: { id: job.id } });
      assert.equal(res.isError, true);
      const e = res.structuredContent.error;
      assert.equal(e.code, 'INVALID_STATE');
      assert.equal(e.details[0].status, 'canceled');
    });
  }
  if (otherKey) {
    await check("another account's key sees NOT_FOUND for the job", async () => {
      const o = connect(otherKey);
      await o.client.connect(o.transport);
      const res = await o.client.callTool({ name: 'get_job', arguments: { id: job.id } });
      assert.equal(res.isError, true);
      assert.equal(res.structuredContent.error.code, 'NOT_FOUND');
      await o.client.close();
    });
  }
} else {
  skip('create_job / get_job', 'the jobs routes are not in the route table yet');
}

// every other tool whose route exists: its answer must match its published
// outputSchema (the SDK validates structuredContent against it)
const simple = {
  get_me: {}, get_entitlements: {}, get_usage: {}, list_plans: {},
  preflight_job: { service_option: 'tone_rewrites_copy_polish', intake: { tone: 'Warm' } },
  presign_file_upload: { filename: 'notes.txt', content_type: 'text/plain', size_bytes: 12, purpose: 'job_input' },
};
for (const [name, args] of Object.entries(simple)) {
  if (!has(name)) { skip(`${name}`, 'its route is not in the route table yet'); continue; }
  await check(`${name}: structuredContent matches its outputSchema`, async () => {
    const res = await client.callTool({ name, arguments: args });
    assert.equal(res.isError, false, JSON.stringify(res.structuredContent));
    assert.equal(typeof res.structuredContent, 'object');
  });
}

await check('a key that is not valid cannot connect (401)', async () => {
  const bad = connect('wbt_invalidinvalidinvalidinvalid00');
  await assert.rejects(bad.client.connect(bad.transport));
});

await client.close();
console.log(`1..${n}`);
console.log(`${n - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
