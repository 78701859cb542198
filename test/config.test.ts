// Configuration: env and flags, flags win, bad values are refused naming the option.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeConfig, loadConfig } from '../engine/config.js';
import { AbRouter } from '../engine/ab_router.js';
import { loadModelRegistry } from '../engine/model_registry.js';

test('defaults serve the shipped models on 127.0.0.1:8000', () => {
  const cfg = loadConfig({}, []);
  assert.equal(cfg.port, 8000);
  assert.equal(cfg.host, '127.0.0.1');
  assert.ok(cfg.workers >= 1);
  assert.equal(cfg.mlflowExperimentName, 'ctr_prediction_production');
  assert.ok(loadModelRegistry(cfg.modelsDir).models.length >= 2);
});

test('flags override environment variables', () => {
  const cfg = loadConfig({ PORT: '9000', WORKERS: '3', AB_WEIGHTS: 'xgboost=1' }, ['--port', '9100', '--ab-weights=xgboost=70,logistic=30']);
  assert.equal(cfg.port, 9100);
  assert.equal(cfg.workers, 3);
  assert.deepEqual(cfg.abWeights, { xgboost: 70, logistic: 30 });
});

test('bad values are refused with the option named', () => {
  assert.throws(() => loadConfig({ PORT: 'eighty' }, []), /PORT/);
  assert.throws(() => loadConfig({ WORKERS: '0' }, []), /WORKERS/);
  assert.throws(() => loadConfig({}, ['--batch-max-size', '1.5']), /--batch-max-size/);
  assert.throws(() => loadConfig({}, ['--no-such-flag', '1']), /unknown flag/);
  assert.throws(() => loadConfig({ AB_WEIGHTS: 'xgboost' }, []), /AB_WEIGHTS/);
});

test('the admin token is never printed', () => {
  const text = describeConfig(loadConfig({ ADMIN_TOKEN: 's3cret' }, []));
  assert.ok(!text.includes('s3cret'));
  assert.match(text, /ADMIN_TOKEN\s+\(set\)/);
});

test('A/B weights must name loaded models and can exclude one', () => {
  const registry = loadModelRegistry(loadConfig({}, []).modelsDir);
  assert.throws(() => new AbRouter(registry.models, { gbdt: 1 }), /unknown model/);
  const onlyXgb = new AbRouter(registry.models, { xgboost: 1, logistic: 0 });
  for (let i = 0; i < 100; i++) assert.equal(onlyXgb.route(`user_${i}`).name, 'xgboost');
});
