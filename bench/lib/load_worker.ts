// Worker-thread entry: runs one thread's share of a load run and posts the result.
import { parentPort, workerData } from 'node:worker_threads';
import { runThread, type ThreadSpec } from './load_core.js';

const spec = workerData as ThreadSpec;
spec.requests = spec.requests.map((r) => Buffer.from(r.buffer, r.byteOffset, r.byteLength));
runThread(spec).then((r) => parentPort!.postMessage(r));
