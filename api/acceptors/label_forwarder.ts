// Click labels from an acceptor thread (ACCEPTORS > 1): the ring of recent
// predictions (engine/labels/prediction_log.ts) is the main thread's, which
// also serves POST /feedback, so an acceptor collects what it answered during
// one loop turn and posts it in one message; the main thread records it.
// Times cross as absolute milliseconds (each thread's performance.now() has
// its own origin).
import type { MessagePort } from 'node:worker_threads';
import type { PredictionLog } from '../../engine/labels/prediction_log.js';
import type { FromAcceptor } from './protocol.js';

export class LabelForwarder implements Pick<PredictionLog, 'record'> {
  private ids: string[] = [];
  private models: number[] = [];
  private variants: number[] = [];
  private ctrs: number[] = [];
  private times: number[] = [];
  private scheduled = false;

  constructor(private readonly port: MessagePort) {}

  record(id: string, model: number, variant: number, ctr: number, now: number): void {
    this.ids.push(id);
    this.models.push(model);
    this.variants.push(variant);
    this.ctrs.push(ctr);
    this.times.push(performance.timeOrigin + now);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  readonly flush = (): void => {
    this.scheduled = false;
    if (this.ids.length === 0) return;
    const msg: FromAcceptor = {
      kind: 'labels', ids: this.ids, models: Int32Array.from(this.models), variants: Uint8Array.from(this.variants),
      ctrs: Float64Array.from(this.ctrs), times: Float64Array.from(this.times),
    };
    this.ids = [];
    this.models.length = 0;
    this.variants.length = 0;
    this.ctrs.length = 0;
    this.times.length = 0;
    this.port.postMessage(msg);
  };
}

/** The main thread's side: records an acceptor's batch in the log, in this thread's time. */
export function recordForwardedLabels(log: Pick<PredictionLog, 'record'>, m: Extract<FromAcceptor, { kind: 'labels' }>): void {
  const origin = performance.timeOrigin;
  for (let i = 0; i < m.ids.length; i++) log.record(m.ids[i], m.models[i], m.variants[i], m.ctrs[i], m.times[i] - origin);
}
