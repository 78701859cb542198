// Opening a request thread's inline inference from the server's settings
// (the main thread in engine_core.ts, each acceptor thread in api/acceptors/).
import type { ServerConfig } from './config.js';
import type { InferenceBackendRef } from './inference_backend.js';
import { InlineInference } from './inline_inference.js';
import type { ModelRegistry } from './model_registry.js';
import type { TelemetryBuffers } from './telemetry/index.js';

/**
 * null when INLINE_MAX_US is 0, or when inference is slowed on purpose
 * (INJECT_INFERENCE_DELAY_MS stands for a slow model, which belongs in the workers).
 */
export function openInline<T>(cfg: ServerConfig, backend: InferenceBackendRef, registry: ModelRegistry, telemetry: TelemetryBuffers, acceptor: number): Promise<InlineInference<T> | null> {
  if (cfg.inlineMaxUs <= 0 || cfg.injectInferenceDelayMs > 0) return Promise.resolve(null);
  return InlineInference.open<T>(backend, registry.models, telemetry, acceptor, { maxUs: cfg.inlineMaxUs, maxLoopUtilization: cfg.inlineMaxLoopUtilization, batchMaxSize: cfg.batchMaxSize });
}

/** One line for the start-up log: per model, the rows that run inline and the measured cost. */
export function inlineSummary(inline: InlineInference<unknown>, registry: ModelRegistry): string {
  return registry.models.map((m) => {
    const s = inline.status(m);
    if (s === null || s.maxRows === 0) return `${m.name} in workers${s === null ? '' : ` (1 row ${s.oneRowUs.toFixed(1)} µs)`}`;
    return `${m.name} ≤ ${s.maxRows} rows here (1 row ${s.oneRowUs.toFixed(1)} µs, +${s.perRowUs.toFixed(2)} µs/row)`;
  }).join('; ');
}
