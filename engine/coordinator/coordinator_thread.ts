// Entry point of the coordinator thread (a plain worker_threads Worker,
// outside the Piscina pool): tick on a timer, post each snapshot as msgpack.
import { parentPort, workerData } from 'node:worker_threads';
import { pack } from 'msgpackr';
import { Coordinator } from './coordinator.js';
import type { FromThread, ThreadData, ToThread } from './protocol.js';

const port = parentPort!;
const { options } = workerData as ThreadData;
const coordinator = new Coordinator(options);
let warned = 0;
let timer: NodeJS.Timeout | undefined;

function post(msg: FromThread, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

function publish(): void {
  try {
    // A copy of its own: msgpackr may hand back a view of a buffer it reuses.
    const bytes = new Uint8Array(pack(coordinator.tick()));
    post({ type: 'snapshot', bytes }, [bytes.buffer]);
  } catch (e) {
    // Keep ticking: the main thread keeps serving the previous snapshot.
    post({ type: 'warning', message: `monitor tick failed: ${(e as Error).stack ?? e}` });
  }
  while (warned < coordinator.warnings.length) post({ type: 'warning', message: coordinator.warnings[warned++] });
}

function schedule(): void {
  // Aligned to the tick grid so a slow tick doesn't push every later one back.
  const delay = coordinator.tickMs - (Date.now() % coordinator.tickMs);
  timer = setTimeout(() => { publish(); schedule(); }, delay);
}

port.on('message', (msg: ToThread) => {
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
    case 'close':
      clearTimeout(timer);
      port.close();
      break;
  }
});

publish();
schedule();
