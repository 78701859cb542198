// GET /openapi.json checked against the real server, on both front ends:
// every documented route answers with a documented status; every example
// validates against its schema (and each example marked x-invalid fails it,
// so the schema is as strict as the validator) and gets the status it
// documents, with a body that validates against that status's schema; every
// route the server knows is documented. Also GET / and GET /docs (no CDN),
// and a plain GET of the WebSocket stream.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ROUTES } from '../api/server.js';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient, type Reply } from './support/http_client.js';
import { validate } from './support/json_schema_subset.js';

type Json = Record<string, any>;
interface Example { summary?: string; value: unknown; 'x-status'?: number; 'x-invalid'?: boolean }

/** Every example in the document with the schema it illustrates. */
function* examples(doc: Json): Generator<{ where: string; schema: Json; ex: Example }> {
  for (const [path, ops] of Object.entries<Json>(doc.paths)) {
    for (const [method, op] of Object.entries<Json>(ops)) {
      for (const p of op.parameters ?? []) {
        for (const [k, ex] of Object.entries<Example>(p.examples ?? {})) yield { where: `${method} ${path} ${p.name}:${k}`, schema: p.schema, ex };
      }
      for (const [type, media] of Object.entries<Json>(op.requestBody?.content ?? {})) {
        for (const [k, ex] of Object.entries<Example>(media.examples ?? {})) yield { where: `${method} ${path} request ${type}:${k}`, schema: media.schema, ex };
      }
      for (const [status, r] of Object.entries<Json>(op.responses)) {
        for (const [type, media] of Object.entries<Json>(r.content ?? {})) {
          for (const [k, ex] of Object.entries<Example>(media.examples ?? {})) yield { where: `${method} ${path} ${status} ${type}:${k}`, schema: media.schema, ex };
        }
      }
    }
  }
}

function checkAnswer(doc: Json, op: Json, r: Reply, where: string): void {
  const documented = op.responses[String(r.status)];
  assert.ok(documented, `${where}: status ${r.status} is not documented (${Object.keys(op.responses).join(', ')}): ${r.raw.toString().slice(0, 300)}`);
  const schema = documented.content?.['application/json']?.schema;
  if (schema && String(r.headers['content-type']).includes('json')) {
    assert.deepEqual(validate(schema, r.body, doc), [], `${where}: the ${r.status} body breaks its schema`);
  }
  const declared = Object.keys(documented.content ?? {});
  if (declared.length > 0) {
    const type = String(r.headers['content-type']).split(';')[0];
    assert.ok(declared.includes(type), `${where}: answered ${type}, documented ${declared.join(', ')}`);
  }
}

function suite(name: string, env: Record<string, string>, entry: 'api' | 'native-free', token?: string): void {
  describe(`openapi: ${name}`, () => {
    let server: ServerProcess;
    let client: TestClient;
    let doc: Json;
    const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};

    before(async () => {
      server = await startServerProcess({ ...env, ...(token ? { ADMIN_TOKEN: token } : {}), REQUEST_DEADLINE_MS: '10000' }, 60_000, { entry });
      client = new TestClient(server.url, 2);
      const r = await client.get('/openapi.json');
      assert.equal(r.status, 200);
      doc = r.body;
    });
    after(async () => {
      await client?.pool.close();
      await server?.stop();
    });

    test('the document is OpenAPI 3.1 and documents every route the server knows', () => {
      assert.equal(doc.openapi, '3.1.0');
      for (const [path, methods] of Object.entries(ROUTES)) {
        for (const method of methods.split(', ')) assert.ok(doc.paths[path]?.[method.toLowerCase()], `${method} ${path} is not documented`);
      }
      assert.ok(doc.paths['/monitoring/drift/{model_name}'].get);
      assert.equal(Boolean(doc.components.securitySchemes), token !== undefined, 'the bearer scheme is documented exactly when ADMIN_TOKEN is set');
    });

    test('the document holds together: every $ref resolves, every path parameter is declared, every operation has responses', () => {
      const refs: string[] = [];
      const walk = (v: unknown): void => {
        if (Array.isArray(v)) v.forEach(walk);
        else if (v && typeof v === 'object') {
          for (const [k, x] of Object.entries(v)) (k === '$ref' && typeof x === 'string' ? refs.push(x) : walk(x));
        }
      };
      walk(doc);
      assert.ok(refs.length > 10);
      for (const r of refs) {
        const target = r.replace(/^#\//, '').split('/').reduce<any>((o, k) => o?.[k], doc);
        assert.ok(target !== undefined, `unresolved ${r}`);
      }
      for (const [path, ops] of Object.entries<Json>(doc.paths)) {
        const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
        for (const [method, op] of Object.entries<Json>(ops)) {
          assert.ok(Object.keys(op.responses ?? {}).length > 0, `${method} ${path} has no responses`);
          assert.ok(typeof op.summary === 'string' && op.summary.length > 0, `${method} ${path} has no summary`);
          for (const n of names) assert.ok((op.parameters ?? []).some((p: Json) => p.in === 'path' && p.name === n && p.required === true), `${method} ${path}: {${n}} not declared`);
        }
      }
    });

    test('the prediction request schemas come from the manifests: one per model, ranges and required fields', async () => {
      const models = (await client.get('/models')).body.models as Json[];
      assert.ok(models.length >= 1);
      for (const m of models) {
        const s = doc.components.schemas[`PredictRequest_${m.name}`];
        assert.ok(s, `no request schema for ${m.name}`);
        assert.ok(s.required.length > 0, `${m.name}: no required field`);
      }
      const examplesByName = doc.paths['/predict_ctr'].post.requestBody.content['application/json'].examples;
      assert.ok(examplesByName.out_of_range, 'a numeric field with a range yields an out-of-range example');
      assert.ok(examplesByName.missing_field);
    });

    test('every example validates against its schema, and each x-invalid one does not', () => {
      let n = 0;
      for (const { where, schema, ex } of examples(doc)) {
        n++;
        const errs = validate(schema, ex.value, doc);
        if (ex['x-invalid']) assert.notDeepEqual(errs, [], `${where} is marked x-invalid but passes its schema`);
        else assert.deepEqual(errs, [], `${where}`);
      }
      assert.ok(n >= 20, `only ${n} examples`);
    });

    test('every documented route answers: examples get their documented status, bodies validate', async () => {
      let calls = 0;
      for (const [path, ops] of Object.entries<Json>(doc.paths)) {
        for (const [method, op] of Object.entries<Json>(ops)) {
          const pathParams = (op.parameters ?? []).filter((p: Json) => p.in === 'path');
          const targets: { url: string; status?: number; label: string }[] = [];
          if (pathParams.length === 0) targets.push({ url: path, label: path });
          for (const p of pathParams) {
            for (const [k, ex] of Object.entries<Example>(p.examples ?? {})) {
              targets.push({ url: path.replace(`{${p.name}}`, encodeURIComponent(String(ex.value))), status: ex['x-status'], label: `${path} ${p.name}=${k}` });
            }
          }
          assert.ok(targets.length > 0, `${method} ${path}: nothing to call (a path parameter needs examples)`);
          const bodies = Object.entries<Example>(op.requestBody?.content?.['application/json']?.examples ?? {});
          for (const t of targets) {
            if (bodies.length === 0) {
              // Admin POSTs with no body still state a JSON type (a cross-site page cannot).
              const r = await client.request(method.toUpperCase(), t.url, { headers: method === 'get' ? auth : { 'content-type': 'application/json', ...auth } });
              calls++;
              if (t.status !== undefined) assert.equal(r.status, t.status, `${method} ${t.label}: ${r.raw.toString().slice(0, 300)}`);
              checkAnswer(doc, op, r, `${method} ${t.label}`);
              continue;
            }
            for (const [k, ex] of bodies) {
              const r = await client.request(method.toUpperCase(), t.url, { body: JSON.stringify(ex.value), headers: { 'content-type': 'application/json', ...auth } });
              calls++;
              assert.equal(r.status, ex['x-status'], `${method} ${t.label} example ${k}: ${r.raw.toString().slice(0, 300)}`);
              checkAnswer(doc, op, r, `${method} ${t.label} example ${k}`);
            }
          }
        }
      }
      assert.ok(calls >= 20, `only ${calls} calls`);
    });

    if (token) {
      test('admin routes without the token answer the documented 401', async () => {
        const op = doc.paths['/monitoring/baseline'].post;
        const r = await client.postJson('/monitoring/baseline', op.requestBody.content['application/json'].examples.manual.value);
        assert.equal(r.status, 401);
        checkAnswer(doc, op, r, 'POST /monitoring/baseline without token');
      });
    }

    if (entry === 'api') {
      test('a plain GET of the stream answers 426 with the spec error body saying it is a WebSocket; the server keeps serving', async () => {
        const r = await client.get('/monitoring/stream');
        assert.equal(r.status, 426);
        assert.equal(r.headers.upgrade, 'websocket');
        assert.equal(r.body.error.code, 'upgrade_required');
        assert.match(r.body.error.message, /WebSocket/);
        const post = await client.request('POST', '/monitoring/stream', { body: '{}' });
        assert.equal(post.status, 405);
        assert.equal((await client.get('/health')).status, 200);
      });
    }

    test('a body of an undocumented type gets the documented 415, naming the types that work', async () => {
      const op = doc.paths['/predict_ctr'].post;
      const r = await client.request('POST', '/predict_ctr', { body: '<x/>', headers: { 'content-type': 'application/xml' } });
      assert.equal(r.status, 415);
      checkAnswer(doc, op, r, 'POST /predict_ctr xml');
      assert.match(r.body.error.message, /application\/json/);
    });

    test('GET / says what the server is and links the docs, dashboard and health; /docs loads nothing from elsewhere', async () => {
      const root = await client.get('/');
      assert.equal(root.status, 200);
      assert.match(String(root.headers['content-type']), /text\/html/);
      for (const link of ['/docs', '/openapi.json', '/dashboard', '/monitoring/health', '/metrics']) assert.ok(root.body.includes(`href="${link}"`), `GET / links ${link}`);
      assert.match(root.body, /click-through-rate/);
      assert.ok(root.body.includes(`127.0.0.1:${server.port}/predict_ctr`), 'the curl line names the address the client reached');
      const docs = await client.get('/docs');
      assert.equal(docs.status, 200);
      assert.match(docs.body, /fetch\('\/openapi\.json'\)/);
      assert.doesNotMatch(docs.body, /(src|href)="(https?:)?\/\//, 'no CDN');
    });
  });
}

suite('uWS', {}, 'api');
suite('native-free, with an admin token', {}, 'native-free', 'openapi-admin');
