// A graceful stop, the same for both front ends (SIGTERM in bin/serve.ts).
// A balancer only notices a replica going away at its next health check, so
// closing the listener at once drops what it still sends. Instead:
//   1. /ready answers 503 and every response says Connection: close, while
//      the server keeps serving for the grace period (longer than the
//      balancer's check interval, so it has marked the replica down);
//   2. the listener closes;
//   3. rows already queued or in a worker are answered (bounded by the
//      request deadline, after which they would get 504 anyway);
//   4. the front end closes the core (final monitor tick, MLflow flush) and
//      its remaining connections.
// Each phase is logged.
import type { EngineCore } from '../engine/engine_core.js';
import { closeEveryConnection } from './respond.js';

export interface DrainSteps {
  core: EngineCore;
  /** Stops accepting connections; open ones keep being served. */
  stopListening(): void;
  /** Closes the core and then every connection left (the front end's close()). */
  close(): Promise<void>;
  /** ACCEPTORS > 1: step 1 on the acceptor threads (their responses close their connections too). */
  onDraining?(): void;
  /** ACCEPTORS > 1: waits for the acceptor threads' queued and running rows (within `deadlineMs`); resolves with the rows left. */
  finishElsewhere?(deadlineMs: number): Promise<number>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function drain(steps: DrainSteps, graceMs: number, log: (line: string) => void): Promise<void> {
  const { core } = steps;
  core.state.draining = true;
  closeEveryConnection(true);
  steps.onDraining?.();
  log(`drain 1/4: /ready answers 503 and responses close their connections; serving for ${graceMs} ms more (DRAIN_GRACE_MS)`);
  if (graceMs > 0) await sleep(graceMs);
  steps.stopListening();
  log(`drain 2/4: grace over, listener closed; finishing ${core.batcher.pendingWork()} queued or running rows`);
  // Rows still queued are answered within the request deadline (200 or 504); wait no longer than that.
  const until = performance.now() + core.cfg.requestDeadlineMs + 100;
  const elsewhere = steps.finishElsewhere?.(core.cfg.requestDeadlineMs + 100) ?? Promise.resolve(0);
  while (core.batcher.pendingWork() > 0 && performance.now() < until) await sleep(5);
  const left = core.batcher.pendingWork() + await elsewhere;
  log(`drain 3/4: in-flight work done (${left} rows left); closing workers, final monitoring tick and MLflow flush`);
  await steps.close();
  closeEveryConnection(false);
  log('drain 4/4: flushed and closed');
}
