// Entry point of the coordinator thread (a plain worker_threads Worker,
// outside the Piscina pool): tick on a timer, post each snapshot as msgpack,
// and, when MLflow logging is on, record one batch per model every flush
// interval (the sink delivers in the background, from this thread).
import { parentPort, workerData } from 'node:worker_threads';
import { pack } from 'msgpackr';
import { Coordinator } from './coordinator.js';
import { MlflowFlusher } from './mlflow_flusher.js';
import type { FromThread, ThreadData, ToThread } from './protocol.js';
import type { Snapshot } from './snapshot.js';

const port = parentPort!;
const { options, mlflow: mlflowOptions } = workerData as ThreadData;
const coordinator = new Coordinator(options);
let warned = 0;
let timer: NodeJS.Timeout | undefined;
let closing = false;

function post(msg: FromThread, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

const fields = (f?: Record<string, unknown>): string => {
  if (!f || Object.keys(f).length === 0) return '';
  try { return ` ${JSON.stringify(f)}`; } catch { return ''; }
};

let mlflow: MlflowFlusher | null = null;
if (mlflowOptions) {
  try {
    mlflow = new MlflowFlusher(mlflowOptions, options.models, {
      info: (msg, f) => post({ type: 'info', message: `${msg}${fields(f)}` }),
      warn: (msg, f) => post({ type: 'warning', message: `${msg}${fields(f)}` }),
    });
    const flusher = mlflow;
    coordinator.mlflowStatus = () => flusher.status();
  } catch (e) {
    // Monitoring without MLflow beats no monitoring: say why and carry on.
    post({ type: 'warning', message: `MLflow logging disabled: ${(e as Error).message}` });
  }
}

/** One tick: snapshot to the main thread; then an MLflow flush if one is due (or `forceFlush`). */
function publish(forceFlush = false): Snapshot | null {
  const now = Date.now();
  let snapshot: Snapshot | null = null;
  try {
    snapshot = coordinator.tick(now);
    // A copy of its own: msgpackr may hand back a view of a buffer it reuses.
    const bytes = new Uint8Array(pack(snapshot));
    post({ type: 'snapshot', bytes }, [bytes.buffer]);
  } catch (e) {
    // Keep ticking: the main thread keeps serving the previous snapshot.
    post({ type: 'warning', message: `monitor tick failed: ${(e as Error).stack ?? e}` });
  }
  if (snapshot && mlflow) {
    try {
      if (forceFlush) mlflow.flush(snapshot, now);
      else mlflow.maybeFlush(snapshot, now, coordinator.tickMs / 2);
    } catch (e) {
      post({ type: 'warning', message: `MLflow flush failed: ${(e as Error).stack ?? e}` });
    }
  }
  while (warned < coordinator.warnings.length) post({ type: 'warning', message: coordinator.warnings[warned++] });
  return snapshot;
}

function schedule(): void {
  // Aligned to the tick grid so a slow tick doesn't push every later one back.
  const delay = coordinator.tickMs - (Date.now() % coordinator.tickMs);
  timer = setTimeout(() => { publish(); schedule(); }, delay);
}

async function shutdown(deadlineMs: number, runStatus: 'FINISHED' | 'FAILED'): Promise<void> {
  clearTimeout(timer);
  // The final tick carries everything recorded up to now, and goes to MLflow as the final flush.
  publish(true);
  let status = null;
  if (mlflow) {
    try {
      status = await mlflow.close(deadlineMs, runStatus);
    } catch (e) {
      post({ type: 'warning', message: `MLflow close failed: ${(e as Error).message}` });
    }
    // One more snapshot, so the main thread's last view shows the sink closed.
    publish();
  }
  post({ type: 'closed', mlflow: status });
  port.close();
}

port.on('message', (msg: ToThread) => {
  if (closing) return;
  switch (msg.type) {
    case 'setBaseline':
    case 'capture': {
      const result = msg.type === 'setBaseline'
        ? coordinator.setBaseline(msg.model, msg.input)
        : coordinator.captureBaseline(msg.model, msg.window);
      // A fresh snapshot first, so the caller sees the new baseline in effect once the reply lands.
      if (result.ok) publish();
      post({ type: 'reply', id: msg.id, result });
      break;
    }
    case 'workers':
      coordinator.setWorkers(msg.alive, msg.expected);
      break;
    case 'histograms':
      try {
        post({ type: 'histograms', id: msg.id, body: coordinator.histograms() });
      } catch (e) {
        post({ type: 'histograms', id: msg.id, body: null, error: (e as Error).message });
      }
      break;
    case 'labelVersion':
      coordinator.setLabelVersion(msg.model, msg.slot, msg.version);
      break;
    case 'modelVersion': {
      // The points so far belong to the old version: flush them into its run first.
      publish(true);
      coordinator.setModelVersion(msg.model, msg.version);
      const name = coordinator.modelName(msg.model);
      if (mlflow && name !== undefined) mlflow.newVersion(name, msg.version);
      publish();
      break;
    }
    case 'close':
      closing = true;
      void shutdown(msg.deadlineMs, msg.status ?? 'FINISHED');
      break;
  }
});

publish();
schedule();
