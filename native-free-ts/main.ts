// `node dist/native-free-ts/main.js`: the server with no native addon, the
// node:http front end and (unless INFERENCE_BACKEND says otherwise) the
// pure-TypeScript evaluator. Same options, output and SIGTERM handling as
// api/main.ts.
import { exitOnStartFailure, loadConfigOrExit, serveUntilSignalled } from '../engine/server_main.js';
import { startNativeFreeServer } from './start_server.js';

const cfg = loadConfigOrExit({ inferenceBackend: 'ts', frontEnd: 'native-free' });
serveUntilSignalled(cfg, startNativeFreeServer).catch(exitOnStartFailure);
