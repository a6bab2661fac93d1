// Validates an OpenAPI document file with @apidevtools/swagger-parser
// (structure against the OpenAPI 3.1 schema, $refs resolved). Prints one
// JSON object {ok, error, paths, operations} and exits 0 when valid.
// Usage: node validate.js openapi.json
'use strict';
const fs = require('fs');
const SwaggerParser = require('@apidevtools/swagger-parser');

async function main() {
  const file = process.argv[2];
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  const out = { ok: false, error: null, paths: 0, operations: 0 };
  try {
    const api = await SwaggerParser.validate(doc);
    out.ok = true;
    out.paths = Object.keys(api.paths || {}).length;
    for (const p of Object.values(api.paths || {})) {
      for (const m of Object.keys(p)) {
        if (['get', 'put', 'post', 'delete', 'patch'].includes(m)) out.operations++;
      }
    }
  } catch (e) {
    out.error = e && e.message ? e.message : String(e);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(out.ok ? 0 : 1);
}

main();
