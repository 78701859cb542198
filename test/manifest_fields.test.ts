// Bring your own model: a manifest with the team's own field names (numbers,
// categories under each unknown policy, ids by pattern, lookup tables from a
// CSV and a JSON file, a boolean, an integer range, a nested object) served
// end to end by the real server — uWS + onnxruntime-node and node:http + the
// TypeScript evaluator — against a direct computation of the same model; the
// request errors that schema produces; the model contracts checked at load;
// and one broken model among good ones.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbRouter } from '../engine/ab_router.js';
import { projectRoot } from '../engine/config.js';
import { fnv1a32 } from '../engine/feature_hash.js';
import { FeatureEncoder } from '../engine/feature_encoder.js';
import { readManifest, validateManifest } from '../engine/manifest.js';
import { loadModel, loadModelRegistry } from '../engine/model_registry.js';
import { RequestSchema } from '../engine/request_schema.js';
import { buildModel, DT, treeAttrs, type TreeNode, type TreeVote } from './support/onnx_builder.js';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient } from './support/http_client.js';
import { assertError } from './support/request_errors.js';

// ---------------------------------------------------------------------------
// The team's model: manifest, lookup files, and a tree ensemble of one stump
// per input column, so the expected CTR is a sum anyone can compute.
// ---------------------------------------------------------------------------

const CAMPAIGNS = ['brand', 'search', 'video'];
const COUNTRIES = ['us', 'de', 'fr'];
const OSES = ['android', 'ios'];
const CREATIVE_CSV = 'creative,ctr\ncr-1,0.05\ncr-7,0.011\n"cr-9",0.04\n';
const CREATIVE_TABLE: Record<string, number> = { 'cr-1': 0.05, 'cr-7': 0.011, 'cr-9': 0.04 };
const PUBLISHER_TABLE: Record<string, number> = { pub_a: 0.9, pub_b: 0.1 };
const VISITOR_BUCKETS = 8;
const WIDTH = 3 + 3 + 3 + 1 + 1 + 1 + 1 + 1 + 1 + 2 + VISITOR_BUCKETS;

const MANIFEST = {
  name: 'ad_team', version: '7', description: "an ad team's own fields", file: 'model.onnx',
  input: { name: 'inputs', dtype: 'float32', shape: [-1, WIDTH] },
  output: { name: 'margin', kind: 'logit' },
  routing_key: 'visitor',
  fields: [
    { name: 'campaign', type: 'string', required: true },
    { name: 'country', type: 'string', required: false },
    { name: 'os', type: 'string', required: false, default: 'android' },
    { name: 'creative', type: 'string', required: true },
    { name: 'publisher', type: 'string', required: false },
    { name: 'bid', type: 'number', required: false, min: 0 },
    { name: 'is_app', type: 'boolean', required: false, default: false },
    { name: 'slot.position', type: 'integer', required: false, default: 1, min: 1, max: 10 },
    { name: 'slot.hour', type: 'integer', required: false, default: 12, min: 0, max: 23 },
    { name: 'visitor', type: 'string', required: false },
  ],
  features: [
    { kind: 'one_hot', field: 'campaign', categories: CAMPAIGNS, unknown: 'reject' },
    { kind: 'one_hot', field: 'country', categories: COUNTRIES, unknown: 'zeros' },
    { kind: 'one_hot', field: 'os', categories: OSES, unknown: 'other' },
    { kind: 'id_pattern', field: 'creative', pattern: '^cr-([0-9]+)$', modulo: 100 },
    { kind: 'lookup', field: 'creative', file: 'creative_ctr.csv', default: 0.02 },
    { kind: 'lookup', field: 'publisher', file: 'publisher_score.json', default: 0.5 },
    { kind: 'number', field: 'bid' },
    { kind: 'boolean', field: 'is_app' },
    { kind: 'number', field: 'slot.position' },
    { kind: 'cyclic', field: 'slot.hour', period: 24 },
    { kind: 'bucket', field: 'visitor', buckets: VISITOR_BUCKETS, prefix: 'v' },
  ],
};

/** Per column: split threshold, the two leaves, and where a NaN goes. */
const THRESHOLDS = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 50, 0.03, 0.5, 1, 0.5, 3.5, 0, 0, ...Array(VISITOR_BUCKETS).fill(0.5)];
const stumpOf = (j: number) => ({
  t: THRESHOLDS[j],
  yes: ((j % 3) - 1) * 0.05 * (j + 1),
  no: 0.07 - 0.02 * (j % 5),
  missingYes: j % 2 === 0,
});
const BASE = -1.5;

function teamModel(inputName = 'inputs', width = WIDTH): Uint8Array {
  const nodes: TreeNode[] = [];
  const votes: TreeVote[] = [];
  for (let j = 0; j < width; j++) {
    const s = stumpOf(j);
    nodes.push({ tree: j, id: 0, mode: 'BRANCH_LT', feature: j, value: s.t, t: 1, f: 2, missingTrue: s.missingYes }, { tree: j, id: 1, mode: 'LEAF' }, { tree: j, id: 2, mode: 'LEAF' });
    votes.push({ tree: j, id: 1, target: 0, weight: s.yes }, { tree: j, id: 2, target: 0, weight: s.no });
  }
  return buildModel({
    nodes: [{
      op: 'TreeEnsembleRegressor', domain: 'ai.onnx.ml', inputs: [inputName], outputs: ['margin'],
      attrs: { ...treeAttrs(nodes, votes, 'target'), n_targets: 1, aggregate_function: 'SUM', base_values: { floats: [BASE] }, post_transform: 'NONE' },
    }],
    inputs: [{ name: inputName, type: { tensor: DT.FLOAT, shape: ['batch', width] } }],
    outputs: [{ name: 'margin', type: { tensor: DT.FLOAT, shape: ['batch', 1] } }],
  });
}

interface TeamRequest {
  campaign?: unknown; country?: string; os?: string; creative?: unknown; publisher?: string; bid?: unknown; is_app?: unknown;
  slot?: { position?: unknown; hour?: unknown }; visitor?: string; model?: string;
}

/** The row the manifest says, written out independently of the engine's encoder. */
function expectedRow(r: TeamRequest): number[] {
  const row: number[] = [];
  const oneHot = (v: string | undefined, cats: string[], other: boolean) => {
    row.push(...cats.map((c) => (c === v ? 1 : 0)));
    if (other) row.push(v !== undefined && !cats.includes(v) ? 1 : 0);
  };
  oneHot(r.campaign as string, CAMPAIGNS, false);
  oneHot(r.country, COUNTRIES, false);
  oneHot(r.os ?? 'android', OSES, true);
  const m = /^cr-([0-9]+)$/.exec(r.creative as string);
  row.push(m === null ? NaN : Number(m[1]) % 100);
  row.push(CREATIVE_TABLE[r.creative as string] ?? 0.02);
  row.push(r.publisher === undefined ? 0.5 : PUBLISHER_TABLE[r.publisher] ?? 0.5);
  row.push(r.bid === undefined ? NaN : (r.bid as number));
  row.push(r.is_app === true ? 1 : 0);
  row.push((r.slot?.position as number | undefined) ?? 1);
  const a = (2 * Math.PI * ((r.slot?.hour as number | undefined) ?? 12)) / 24;
  row.push(Math.sin(a), Math.cos(a));
  const buckets = Array(VISITOR_BUCKETS).fill(0);
  if (r.visitor !== undefined) {
    const d = /^v([0-9]{1,9})$/.exec(r.visitor);
    buckets[d !== null ? Number(d[1]) % VISITOR_BUCKETS : fnv1a32(r.visitor) % VISITOR_BUCKETS] = 1;
  }
  row.push(...buckets);
  return row.map((x) => Math.fround(x));
}

function expectedCtr(r: TeamRequest): number {
  let margin = BASE;
  expectedRow(r).forEach((x, j) => {
    const s = stumpOf(j);
    const yes = Number.isNaN(x) ? s.missingYes : x < Math.fround(s.t);
    margin += Math.fround(yes ? s.yes : s.no);
  });
  return 1 / (1 + Math.exp(-margin));
}

function writeModel(dir: string, folder: string, manifest: unknown, onnx: Uint8Array | string | null = teamModel()): string {
  const d = join(dir, folder);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'manifest.json'), JSON.stringify(manifest, null, 2));
  if (onnx !== null) writeFileSync(join(d, 'model.onnx'), onnx);
  writeFileSync(join(d, 'creative_ctr.csv'), CREATIVE_CSV);
  writeFileSync(join(d, 'publisher_score.json'), JSON.stringify(PUBLISHER_TABLE));
  return d;
}

/** Requests covering every encoder: known, unknown and missing values. */
const REQUESTS: TeamRequest[] = [
  { campaign: 'brand', country: 'us', os: 'ios', creative: 'cr-1', publisher: 'pub_a', bid: 2.5, is_app: true, slot: { position: 2, hour: 20 }, visitor: 'v12' },
  { campaign: 'search', country: 'jp', os: 'windows', creative: 'cr-7', publisher: 'pub_z', bid: 0.25, is_app: false, slot: { position: 10, hour: 0 }, visitor: 'v3' },
  { campaign: 'video', creative: 'banner-9' },
  { campaign: 'video', country: 'fr', creative: 'cr-9', slot: { hour: 23 }, visitor: 'guest-41' },
  { campaign: 'brand', creative: 'cr-123', bid: 0, slot: {}, visitor: 'v7' },
];

// ---------------------------------------------------------------------------
// In-process: the manifest's own checks and the encoder against expectedRow
// ---------------------------------------------------------------------------

describe('manifest format (in process)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ctr-manifest-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the encoder writes exactly the columns the manifest describes, for known, unknown and missing values', () => {
    const d = writeModel(dir, 'ad_team', MANIFEST);
    const manifest = readManifest(join(d, 'manifest.json'), dir);
    assert.equal(manifest.routing_key, 'visitor');
    const encoder = new FeatureEncoder(manifest);
    assert.equal(encoder.width, WIDTH);
    for (const r of REQUESTS) assert.deepEqual([...encoder.encode(r)], expectedRow(r), JSON.stringify(r));
  });

  test('the request schema names the field and what was expected', () => {
    const schema = new RequestSchema(readManifest(join(writeModel(dir, 'ad_team', MANIFEST), 'manifest.json'), dir));
    const ok = REQUESTS[0];
    assert.equal(schema.check(ok as Record<string, unknown>), null);
    const cases: [TeamRequest, string, RegExp][] = [
      [{ ...ok, campaign: undefined }, 'campaign', /is required \(a string\)/],
      [{ ...ok, campaign: 'tv' }, 'campaign', /must be one of "brand", "search", "video" \(got "tv"\)/],
      [{ ...ok, creative: 12 }, 'creative', /must be a string/],
      [{ ...ok, bid: -1 }, 'bid', /a finite number >= 0/],
      [{ ...ok, is_app: 'yes' }, 'is_app', /true or false/],
      [{ ...ok, slot: { position: 11 } }, 'slot.position', /an integer in \[1, 10\]/],
      [{ ...ok, slot: { position: 2.5 } }, 'slot.position', /an integer in \[1, 10\]/],
      [{ ...ok, slot: 3 as never }, 'slot', /must be an object/],
    ];
    for (const [body, field, expected] of cases) {
      const p = schema.check(body as Record<string, unknown>);
      assert.equal(p?.field, field, JSON.stringify(body));
      assert.match(p!.expected, expected);
    }
  });

  test('a bad manifest is refused naming the file and the field', () => {
    const bad = (patch: (m: any) => void, expected: RegExp) => {
      const m = structuredClone(MANIFEST) as any;
      patch(m);
      assert.throws(() => validateManifest(m, '/models/x/manifest.json', { dir: join(dir, 'ad_team'), root: dir }), (err: Error) => {
        assert.match(err.message, /manifest \/models\/x\/manifest\.json/);
        assert.match(err.message, expected);
        return true;
      });
    };
    bad((m) => (m.features[0].field = 'campaign_id'), /features\[0\].*"campaign_id" is not declared/);
    bad((m) => (m.fields[1].type = 'text'), /fields\[1\] \(country\).*"type" must be one of/);
    bad((m) => (m.features[3].pattern = '^cr-([0-9]+)-([a-z])$'), /features\[3\].*exactly one capture group \(it has 2\)/);
    bad((m) => (m.features[1].unknown = 'ignore'), /features\[1\].*"unknown" must be "zeros", "other" or "reject"/);
    bad((m) => (m.features[6].field = 'campaign'), /features\[6\].*a number feature reads a number or integer field; "campaign" is string/);
    bad((m) => (m.fields[7].default = 0), /fields\[7\] \(slot\.position\).*"default" must be an integer in \[1, 10\]/);
    bad((m) => (m.features[4].file = 'missing.csv'), /features\[4\].*lookup file missing\.csv cannot be read/);
    bad((m) => (m.features[4].file = '../../etc/passwd.csv'), /features\[4\].*resolves outside MODELS_DIR/);
    bad((m) => (m.file = '../../x.onnx'), /"file" "\.\.\/\.\.\/x\.onnx" resolves outside MODELS_DIR/);
    bad((m) => (m.input.shape = [-1, WIDTH + 1]), /features encode 25 columns but input\.shape\[1\] is 26/);
    bad((m) => m.fields.push({ name: 'model', type: 'string' }), /reserved/);
    bad((m) => m.fields.push({ name: 'slot.constructor', type: 'string' }), /fields\[10\] \(slot\.constructor\).*built-in object property/);
    writeFileSync(join(dir, 'ad_team', 'bad.csv'), 'k,v\ncr-1,abc\n');
    bad((m) => (m.features[4].file = 'bad.csv'), /lookup file bad\.csv line 2: expected key,number/);
  });

  test('an old manifest (no "fields") with its own field names loads, fields derived', () => {
    const old = validateManifest({
      name: 'old', version: '1', file: 'm.onnx', input: { name: 'x', dtype: 'float32', shape: [-1, 4] }, output: { name: 'p', kind: 'probability' },
      features: [{ kind: 'one_hot', field: 'country', categories: ['us', 'de'] }, { kind: 'numeric', field: 'age', default: 30, min: 0, max: 120 }],
    });
    assert.deepEqual(old.fields, [
      { name: 'country', type: 'string', required: true },
      { name: 'context.age', type: 'number', required: false, default: 30, min: 0, max: 120 },
    ]);
    assert.equal(old.routing_key, 'user_id');
    assert.deepEqual([...new FeatureEncoder(old).encode({ country: 'fr' })], [0, 0, 1, 30]);
  });

  test('model contracts: a wrong width, input name or output names the file and what differs', () => {
    const check = (folder: string, onnx: Uint8Array, expected: RegExp, patch: (m: any) => void = () => {}) => {
      const m = structuredClone(MANIFEST) as any;
      patch(m);
      writeModel(dir, folder, m, onnx);
      assert.throws(() => loadModel(dir, folder, 0), (err: Error) => {
        assert.match(err.message, new RegExp(`model ad_team \\(.*${folder}/manifest\\.json\\): model file .*${folder}/model\\.onnx`));
        assert.match(err.message, expected);
        return true;
      });
    };
    check('narrow', teamModel('inputs', WIDTH - 1), /input width: the manifest encodes 25 columns, the graph's input takes 24/);
    check('renamed', teamModel('X'), /input name: manifest says "inputs", the graph's input is X \(float32 \[batch, 25\]\)/);
    check('no_output', teamModel(), /output name: manifest says "ctr", the graph's outputs are margin/, (m) => (m.output.name = 'ctr'));
    check('corrupt', new TextEncoder().encode('this is not a model'), /not a readable ONNX model/);
    // A symbolic batch dimension (and width) is what exporters write: accepted.
    writeModel(dir, 'good', MANIFEST);
    assert.equal(loadModel(dir, 'good', 0).signature.inputs[0].shape?.[0], 'batch');
  });
  test('A/B routing is sticky by the manifest\'s routing_key; a request without it still routes, by weight', () => {
    writeModel(dir, 'ab_one', { ...MANIFEST, name: 'one' });
    writeModel(dir, 'ab_two', { ...MANIFEST, name: 'two' });
    const registry = loadModelRegistry(dir);
    const models = registry.models.filter((m) => m.name === 'one' || m.name === 'two');
    const router = new AbRouter(models, { one: 1, two: 1 });
    assert.equal(router.routingKey, 'visitor');
    for (let i = 0; i < 50; i++) {
      const first = router.routeRequest({ visitor: `v${i}`, campaign: 'brand' });
      assert.equal(router.routeRequest({ visitor: `v${i}`, campaign: 'video' }), first, 'the same visitor meets the same model');
      assert.equal(first, router.route(`v${i}`));
    }
    const seen = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const m = router.routeRequest({ campaign: 'brand', user_id: 'user_1' });
      seen.set(m.name, (seen.get(m.name) ?? 0) + 1);
    }
    // 400 fair coin flips: each side well inside [100, 300]
    assert.ok((seen.get('one') ?? 0) > 100 && (seen.get('two') ?? 0) > 100, JSON.stringify([...seen]));
  });

  test("the README's example manifest is valid as printed", () => {
    const readme = readFileSync(join(projectRoot(), 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Bring your own model'));
    const json = /```json\n([\s\S]*?)```/.exec(section)![1];
    const d = join(dir, 'readme_example');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'ad_ctr.csv'), 'ad_id,ctr\nad_17,0.031\n');
    const m = validateManifest(JSON.parse(json), 'README', { dir: d, root: dir });
    const row = new FeatureEncoder(m).encode({ country: 'de', ad_id: 'ad_17', price: 0.4, context: { hour: 9 } });
    assert.deepEqual([...row].slice(0, 8), [0, 1, 0, 0, 17, Math.fround(0.031), Math.fround(0.4), 0]);
  });
});

// ---------------------------------------------------------------------------
// End to end, both front ends and both inference backends
// ---------------------------------------------------------------------------

for (const entry of ['api', 'native-free'] as const) {
  describe(`served end to end (${entry === 'api' ? 'uWS + onnxruntime-node' : 'node:http + TypeScript evaluator'})`, () => {
    let dir: string;
    let server: ServerProcess;
    let client: TestClient;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'ctr-byom-'));
      writeModel(dir, 'ad_team', MANIFEST);
      server = await startServerProcess({ MODELS_DIR: dir, WORKERS: '1', REQUEST_DEADLINE_MS: '10000' }, 60_000, { entry });
      client = new TestClient(server.url, 4);
    });
    after(async () => {
      await client?.close();
      assert.equal(await server?.stop(), 0);
      rmSync(dir, { recursive: true, force: true });
    });

    test('POST /predict_ctr: the CTR is the direct computation on the manifest-encoded row', async () => {
      for (const r of REQUESTS) {
        const reply = await client.postJson('/predict_ctr', r);
        assert.equal(reply.status, 200, JSON.stringify(reply.body));
        assert.equal(reply.body.model, 'ad_team');
        assert.equal(reply.body.model_version, '7');
        assert.ok(Math.abs(reply.body.ctr - expectedCtr(r)) < 1e-6, `${JSON.stringify(r)}: served ${reply.body.ctr}, expected ${expectedCtr(r)}`);
      }
      // msgpack carries the same fields
      const viaPack = await client.postMsgpack('/predict_ctr', REQUESTS[0]);
      assert.equal(viaPack.status, 200);
      assert.ok(Math.abs(viaPack.body.ctr - expectedCtr(REQUESTS[0])) < 1e-6);
    });

    test('POST /predict_ctr/batch: every row its own CTR', async () => {
      const reply = await client.postJson('/predict_ctr/batch', { requests: REQUESTS });
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      reply.body.predictions.forEach((p: { ctr: number }, i: number) => assert.ok(Math.abs(p.ctr - expectedCtr(REQUESTS[i])) < 1e-6, `row ${i}`));
    });

    test('a request without the routing key still routes; no demo field is required', async () => {
      const r = await client.postJson('/predict_ctr', { campaign: 'search', creative: 'cr-1' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.model, 'ad_team');
    });

    test('validation errors name the field and what was expected, single and batch', async () => {
      const ok = REQUESTS[0];
      let r = await client.postJson('/predict_ctr', { ...ok, campaign: 'tv' });
      assertError(r, 400, 'invalid_request', 'campaign');
      assert.match(r.body.error.message, /must be one of "brand", "search", "video"/);
      r = await client.postJson('/predict_ctr', { creative: 'cr-1' });
      assertError(r, 400, 'invalid_request', 'campaign');
      assert.match(r.body.error.message, /is required/);
      r = await client.postJson('/predict_ctr', { ...ok, slot: { position: 0 } });
      assertError(r, 400, 'invalid_request', 'slot.position');
      assert.match(r.body.error.message, /an integer in \[1, 10\]/);
      assertError(await client.postJson('/predict_ctr', { ...ok, is_app: 1 }), 400, 'invalid_request', 'is_app');
      assertError(await client.postJson('/predict_ctr', { ...ok, bid: 'high' }), 400, 'invalid_request', 'bid');
      assertError(await client.postMsgpack('/predict_ctr', { ...ok, bid: Infinity }), 400, 'invalid_request', 'bid');
      r = await client.postJson('/predict_ctr/batch', { requests: [ok, { ...ok, campaign: 'radio' }] });
      assertError(r, 400, 'invalid_request', 'requests[1].campaign');
      assert.match(r.body.error.message, /must be one of/);
      // and the server still serves
      assert.equal((await client.postJson('/predict_ctr', ok)).status, 200);
    });

    test('GET /models shows the request schema and the input signature', async () => {
      const r = await client.get('/models');
      assert.equal(r.status, 200);
      const m = r.body.models.find((x: { name: string }) => x.name === 'ad_team');
      assert.equal(m.status, 'ready');
      assert.equal(m.routing_key, 'visitor');
      const fields = Object.fromEntries(m.request.fields.map((f: { name: string }) => [f.name, f]));
      assert.deepEqual(fields.campaign, { name: 'campaign', type: 'string', required: true, categories: CAMPAIGNS, unknown: 'reject' });
      assert.deepEqual(fields['slot.position'], { name: 'slot.position', type: 'integer', required: false, default: 1, min: 1, max: 10 });
      assert.deepEqual(fields.is_app, { name: 'is_app', type: 'boolean', required: false, default: false });
      assert.deepEqual(m.features.map((f: { kind: string }) => f.kind), MANIFEST.features.map((f) => f.kind));
      assert.deepEqual(m.features[10].columns, [WIDTH - VISITOR_BUCKETS, WIDTH]);
      assert.equal(m.features[4].entries, 3);
      assert.deepEqual(m.input, { name: 'inputs', dtype: 'float32', shape: [-1, WIDTH] });
      assert.deepEqual(m.signature.inputs, [{ name: 'inputs', dtype: 'float32', shape: ['batch', WIDTH] }]);
    });
  });
}

// ---------------------------------------------------------------------------
// Broken models among good ones
// ---------------------------------------------------------------------------

describe('one broken model leaves the others serving', () => {
  let dir: string;
  let server: ServerProcess;
  let client: TestClient;
  const named = (name: string) => ({ ...MANIFEST, name });
  before(async () => {
    const root = mkdtempSync(join(tmpdir(), 'ctr-broken-'));
    dir = join(root, 'models');
    // A real model file outside MODELS_DIR: the escape must be refused, not read.
    writeFileSync(join(root, 'x.onnx'), teamModel());
    writeModel(dir, 'a_good', named('good'));
    writeModel(dir, 'b_narrow', named('narrow'), teamModel('inputs', WIDTH - 1));
    writeModel(dir, 'c_escape', { ...named('escape'), file: '../../x.onnx' }, null);
    writeModel(dir, 'd_corrupt', named('corrupt'), 'garbage');
    writeModel(dir, 'e_manifest', { ...named('typo'), fields: [{ name: 'campaign', type: 'strnig' }] });
    // Passes the signature check, but no backend can run its operator: fails at warm-up, in the workers.
    writeModel(dir, 'f_unrunnable', named('unrunnable'), buildModel({
      nodes: [{ op: 'NoSuchOperator', inputs: ['inputs'], outputs: ['margin'] }],
      inputs: [{ name: 'inputs', type: { tensor: DT.FLOAT, shape: ['batch', WIDTH] } }],
      outputs: [{ name: 'margin', type: { tensor: DT.FLOAT, shape: ['batch', 1] } }],
    }));
    server = await startServerProcess({ MODELS_DIR: dir, WORKERS: '2' });
    client = new TestClient(server.url, 4);
  });
  after(async () => {
    await client?.close();
    assert.equal(await server?.stop(), 0);
    rmSync(join(dir, '..'), { recursive: true, force: true });
  });

  test('GET /models: the good model ready, each broken one failed with its own name and reason', async () => {
    const r = await client.get('/models');
    assert.equal(r.status, 200);
    const byName = Object.fromEntries(r.body.models.map((m: { name: string }) => [m.name, m]));
    assert.equal(byName.good.status, 'ready');
    const reasons: Record<string, RegExp> = {
      narrow: /b_narrow\/model\.onnx does not match the manifest: input width: the manifest encodes 25 columns, the graph's input takes 24/,
      escape: /"file" "\.\.\/\.\.\/x\.onnx" resolves outside MODELS_DIR/,
      corrupt: /d_corrupt\/model\.onnx is not a readable ONNX model/,
      typo: /e_manifest\/manifest\.json fields\[0\] \(campaign\): "type" must be one of/,
      unrunnable: /model unrunnable: the (ort|ts) backend cannot open .*f_unrunnable\/model\.onnx/,
    };
    for (const [name, reason] of Object.entries(reasons)) {
      assert.equal(byName[name]?.status, 'failed', `${name}: ${JSON.stringify(byName[name])}`);
      assert.match(byName[name].reason, reason, name);
      assert.ok(byName[name].reason.includes(name), `the reason names ${name}`);
    }
    assert.equal(byName.good.ab_weight, 1, 'the broken models take no traffic');
  });

  test('/ready is 200 and names the failed models; the good model serves', async () => {
    const ready = await client.get('/ready');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.models, 1);
    assert.deepEqual(ready.body.failed.map((f: { name: string }) => f.name).sort(), ['corrupt', 'escape', 'narrow', 'typo', 'unrunnable']);
    for (let i = 0; i < 20; i++) {
      const r = await client.postJson('/predict_ctr', { ...REQUESTS[i % REQUESTS.length], visitor: `v${i}` });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.model, 'good');
    }
    assertError(await client.postJson('/predict_ctr', { ...REQUESTS[0], model: 'narrow' }), 404, 'model_not_found', 'model');
    const unrunnable = await client.postJson('/predict_ctr', { ...REQUESTS[0], model: 'unrunnable' });
    assertError(unrunnable, 503, 'not_ready');
    assert.match(unrunnable.body.error.message, /model unrunnable failed/);
  });

  test('a directory where no model loads stops the server naming every reason', () => {
    const only = mkdtempSync(join(tmpdir(), 'ctr-none-'));
    try {
      writeModel(only, 'narrow', named('narrow'), teamModel('inputs', 3));
      assert.throws(() => loadModelRegistry(only), /no model loaded:[\s\S]*model narrow .*input width/);
    } finally {
      rmSync(only, { recursive: true, force: true });
    }
  });
});
