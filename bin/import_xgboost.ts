// `ctr-engine import-xgboost model.json --name N --out DIR [--version V]
// [--features features.json] [--force]`: argument parsing and the report
// lines; the import itself is engine/xgboost_import/.
import { parseArgs } from 'node:util';
import { importXgboost } from '../engine/xgboost_import/import_xgboost.js';
import { XgboostImportError } from '../engine/xgboost_import/xgboost_json.js';

export const IMPORT_USAGE = `usage: ctr-engine import-xgboost model.json --name NAME --out MODELS_DIR [--version V] [--features features.json] [--force]
  Converts XGBoost's JSON model (booster.save_model("model.json"); XGBoost 1.x-3.x; objectives
  binary:logistic, reg:logistic, binary:logitraw, reg:squarederror) into MODELS_DIR/NAME/model.onnx
  and a manifest.json; --features gives the manifest's "fields" and "features" (else a skeleton of number fields).`;

/** Runs the command; returns the process exit code (0 done, 1 refused or failed, 2 bad usage). */
export function runImportXgboost(argv: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        name: { type: 'string' }, out: { type: 'string' }, version: { type: 'string' },
        features: { type: 'string' }, force: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    console.error(`ctr-engine import-xgboost: ${(err as Error).message}\n${IMPORT_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(IMPORT_USAGE);
    return 0;
  }
  const missing = positionals.length !== 1 ? 'exactly one model.json' : values.name === undefined ? '--name' : values.out === undefined ? '--out' : null;
  if (missing !== null) {
    console.error(`ctr-engine import-xgboost: needs ${missing}\n${IMPORT_USAGE}`);
    return 2;
  }
  try {
    const r = importXgboost({
      modelPath: positionals[0], name: values.name!, outDir: values.out!, version: values.version, featuresPath: values.features, force: values.force,
    });
    const out = r.manifest.output as { name: string; kind: string };
    console.log(`ctr-engine import-xgboost: ${r.model.objective}, ${r.model.trees.length} trees, ${r.model.numFeature} features → ${r.onnxPath} (output "${out.name}", kind ${out.kind})`);
    console.log(`ctr-engine import-xgboost: manifest ${r.manifestPath}`);
    for (const n of r.notes) console.log(`ctr-engine import-xgboost: note: ${n}`);
    return 0;
  } catch (err) {
    if (!(err instanceof XgboostImportError)) throw err;
    console.error(`ctr-engine import-xgboost: ${positionals[0]}: ${err.message}`);
    return 1;
  }
}
