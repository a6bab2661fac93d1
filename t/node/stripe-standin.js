#!/usr/bin/env node
// A Stripe API stand-in for the mod_webot billing tests (t/4x_billing*.t).
//
//   node t/node/stripe-standin.js --key sk_test_... [--port 0] [--host 127.0.0.1]
//
// prints "listening PORT" on stdout once it accepts connections. It speaks
// Stripe's wire format for the calls mod_webot makes:
//   GET  /v1/prices?lookup_keys[]=..&active=true&limit=..  -> list object
//   POST /v1/checkout/sessions (form-encoded)               -> checkout.session
// with Bearer authentication (401 with an error object otherwise), form
// bodies (application/x-www-form-urlencoded, bracketed keys), list objects
// {"object":"list","data":[...],"has_more":false,"url":...}, error objects
// {"error":{"type","message","code"?,"param"?}}, and Idempotency-Key
// replays (same parameters: the first answer again with
// Idempotent-Replayed: true; other parameters: 400 idempotency_error).
//
// Control endpoints for the tests (no authentication, loopback only):
//   POST /_standin/prices    {"prices":[price, ...]}   replace the prices
//   POST /_standin/fail      {"mode":"status","status":500,"type":"api_error"}
//                            | {"mode":"hang"} | {"mode":"reset"} | {"mode":null}
//   GET  /_standin/requests  {"data":[{method,path,query,query_raw,headers,body,form}]}
//   POST /_standin/clear     forget the recorded requests
//   POST /_standin/sign      {"payload","secret","timestamp"?,"scheme"?}
//                            -> {"header"} made by the official stripe package
//                            (stripe.webhooks.generateTestHeaderString)
'use strict';

const http = require('http');
const crypto = require('crypto');
const Stripe = require('stripe');

const args = process.argv.slice(2);
function opt(name, dflt) {
  const i = args.indexOf('--' + name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
}
const KEY = opt('key', 'sk_test_standin');
const PORT = parseInt(opt('port', '0'), 10);
const HOST = opt('host', '127.0.0.1');

// Only its webhook helpers are used; no request ever leaves this process.
const stripe = Stripe('sk_test_signing_only_no_network');

let prices = [];
let failMode = null;
let requests = [];
const idem = new Map();          // key -> {fingerprint, status, body}
const hanging = new Set();

function send(res, status, obj, extra) {
  const body = JSON.stringify(obj);
  const h = Object.assign({
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    'Request-Id': 'req_' + crypto.randomBytes(7).toString('hex'),
    'Stripe-Version': '2024-06-20',
  }, extra || {});
  res.writeHead(status, h);
  res.end(body);
}

function stripeError(res, status, type, message, more) {
  send(res, status, { error: Object.assign({ type, message }, more || {}) });
}

// "a[b][0][c]=v" pairs into a flat {key: value} map (what the tests assert)
// and repeated keys into arrays.
function parseForm(text) {
  const out = {};
  for (const [k, v] of new URLSearchParams(text)) {
    if (k in out) {
      out[k] = [].concat(out[k], v);
    } else {
      out[k] = v;
    }
  }
  return out;
}

function queryOf(url) {
  const q = {};
  for (const [k, v] of url.searchParams) {
    (q[k] = q[k] || []).push(v);
  }
  return q;
}

function record(req, url, body) {
  const h = {};
  for (const name of ['authorization', 'idempotency-key', 'content-type',
                      'stripe-version', 'user-agent', 'accept']) {
    if (req.headers[name] !== undefined) h[name] = req.headers[name];
  }
  const entry = {
    method: req.method, path: url.pathname, query: queryOf(url),
    query_raw: url.search.replace(/^\?/, ''), headers: h, body,
    form: /x-www-form-urlencoded/.test(req.headers['content-type'] || '')
      ? parseForm(body) : null,
    at: Date.now(),
  };
  requests.push(entry);
  if (requests.length > 5000) requests.shift();
  return entry;
}

function list(res, url, data) {
  send(res, 200, { object: 'list', url, has_more: false, data });
}

function handlePrices(req, res, url) {
  const q = queryOf(url);
  let keys = [];
  for (const k of Object.keys(q)) {
    if (k === 'lookup_keys[]' || /^lookup_keys\[\d+\]$/.test(k)) {
      keys = keys.concat(q[k]);
    }
  }
  if (keys.length > 10) {
    return stripeError(res, 400, 'invalid_request_error',
      'You may only specify up to 10 lookup_keys.', { param: 'lookup_keys' });
  }
  let data = prices.slice();
  if (keys.length) data = data.filter((p) => keys.includes(p.lookup_key));
  if (q.active) data = data.filter((p) => String(!!p.active) === q.active[0]);
  const limit = q.limit ? parseInt(q.limit[0], 10) : 10;
  list(res, '/v1/prices', data.slice(0, limit));
}

function handleCheckout(req, res, url, body, entry) {
  if (!/^application\/x-www-form-urlencoded/.test(req.headers['content-type'] || '')) {
    return stripeError(res, 400, 'invalid_request_error',
      'Invalid request (check that your POST content type is application/x-www-form-urlencoded).');
  }
  const f = entry.form;
  const key = req.headers['idempotency-key'];
  const fingerprint = crypto.createHash('sha256').update(body).digest('hex');
  if (key && idem.has(key)) {
    const prev = idem.get(key);
    if (prev.fingerprint !== fingerprint) {
      return stripeError(res, 400, 'idempotency_error',
        'Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than \'' + key + '\' if you meant to execute a different request.');
    }
    return send(res, prev.status, prev.body, { 'Idempotent-Replayed': 'true' });
  }
  const remember = (status, obj) => {
    if (key) idem.set(key, { fingerprint, status, body: obj });
    send(res, status, obj);
  };
  if (!['subscription', 'payment', 'setup'].includes(f.mode)) {
    return remember(400, { error: { type: 'invalid_request_error',
      message: 'Missing required param: mode.', param: 'mode' } });
  }
  const priceId = f['line_items[0][price]'];
  const price = prices.find((p) => p.id === priceId);
  if (!price || !price.active) {
    return remember(400, { error: { type: 'invalid_request_error',
      code: 'resource_missing', param: 'line_items[0][price]',
      message: "No such price: '" + priceId + "'" } });
  }
  if (f.mode === 'subscription' && price.type !== 'recurring') {
    return remember(400, { error: { type: 'invalid_request_error',
      message: 'You must provide at least one recurring price in `subscription` mode when using prices.' } });
  }
  if (!/^\d+$/.test(f['line_items[0][quantity]'] || '')) {
    return remember(400, { error: { type: 'invalid_request_error',
      message: 'Invalid integer: ' + f['line_items[0][quantity]'],
      param: 'line_items[0][quantity]' } });
  }
  if (f.customer && f.customer_email) {
    return remember(400, { error: { type: 'invalid_request_error',
      message: 'You may only specify one of these parameters: customer, customer_email.' } });
  }
  const id = 'cs_test_' + crypto.randomBytes(24).toString('base64url').replace(/[-_]/g, 'x');
  const metadata = {};
  for (const k of Object.keys(f)) {
    const m = /^metadata\[([^\]]+)\]$/.exec(k);
    if (m) metadata[m[1]] = f[k];
  }
  remember(200, {
    id, object: 'checkout.session', mode: f.mode, status: 'open',
    payment_status: 'unpaid', livemode: KEY.startsWith('sk_live_'),
    url: 'https://checkout.stripe.com/c/pay/' + id,
    client_reference_id: f.client_reference_id || null,
    customer: f.customer || null, customer_email: f.customer_email || null,
    metadata, success_url: f.success_url || null, cancel_url: f.cancel_url || null,
    subscription: null, created: Math.floor(Date.now() / 1000),
    expires_at: Math.floor(Date.now() / 1000) + 86400,
  });
}

function control(req, res, url, body) {
  let j = {};
  try { j = body ? JSON.parse(body) : {}; } catch (e) { return send(res, 400, { error: 'bad json' }); }
  switch (req.method + ' ' + url.pathname) {
    case 'POST /_standin/prices':
      prices = j.prices || [];
      return send(res, 200, { ok: true, count: prices.length });
    case 'POST /_standin/fail':
      failMode = j.mode ? j : null;
      if (!failMode) { for (const r of hanging) r.destroy(); hanging.clear(); }
      return send(res, 200, { ok: true });
    case 'GET /_standin/requests':
      return send(res, 200, { data: requests });
    case 'POST /_standin/clear':
      requests = [];
      return send(res, 200, { ok: true });
    case 'POST /_standin/sign': {
      const o = { payload: j.payload, secret: j.secret };
      if (j.timestamp !== undefined) o.timestamp = j.timestamp;
      if (j.scheme) o.scheme = j.scheme;
      return send(res, 200, { header: stripe.webhooks.generateTestHeaderString(o) });
    }
    default:
      return send(res, 404, { error: 'no such control endpoint' });
  }
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url, 'http://' + HOST);
    if (url.pathname.startsWith('/_standin/')) return control(req, res, url, body);
    const entry = record(req, url, body);
    if (failMode && failMode.mode === 'hang') { hanging.add(res.socket); return; }
    if (failMode && failMode.mode === 'reset') { res.socket.destroy(); return; }
    if (failMode && failMode.mode === 'status') {
      return stripeError(res, failMode.status || 500, failMode.type || 'api_error',
        failMode.message || 'An unknown error occurred.');
    }
    if ((req.headers.authorization || '') !== 'Bearer ' + KEY) {
      return stripeError(res, 401, 'invalid_request_error',
        'Invalid API Key provided: ' + String(req.headers.authorization || '').replace(/^Bearer /, '').replace(/^(.{8}).*(.{4})$/, '$1****$2'));
    }
    if (req.method === 'GET' && url.pathname === '/v1/prices') return handlePrices(req, res, url);
    if (req.method === 'POST' && url.pathname === '/v1/checkout/sessions') {
      return handleCheckout(req, res, url, body, entry);
    }
    stripeError(res, 404, 'invalid_request_error',
      'Unrecognized request URL (' + req.method + ': ' + url.pathname + ').');
  });
});

server.listen(PORT, HOST, () => {
  process.stdout.write('listening ' + server.address().port + '\n');
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
// Stop with the test that started us (its stdin is our stdin pipe).
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
