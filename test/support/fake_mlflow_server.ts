// The fake MLflow tracking server lives in bench/lib (the fault soak runs it
// too, and bench/ may not import test/); tests keep importing it from here.
export * from '../../bench/lib/fake_mlflow_server.js';
