// The stream's lines for GET /metrics (Prometheus text format 0.0.4).
import type { StreamMetrics } from './hub.js';

export function streamPrometheusText(m: StreamMetrics): string {
  const out: string[] = [];
  const one = (name: string, type: 'gauge' | 'counter', help: string, value: number): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
  };
  one('ctr_stream_connections', 'gauge', 'Open WebSocket connections on /monitoring/stream.', m.connections);
  one('ctr_stream_frames_sent_total', 'counter', 'Stream frames delivered, one per client per frame.', m.framesSent);
  one('ctr_stream_frames_skipped_total', 'counter', 'Stream frames skipped for clients over the backpressure bound.', m.framesSkipped);
  one('ctr_stream_slow_closed_total', 'counter', 'Stream clients closed for staying over the backpressure bound.', m.slowClosed);
  one('ctr_stream_frames_encoded_total', 'counter', 'Stream frames encoded (each distinct format, model filter and tick once).', m.framesEncoded);
  one('ctr_stream_rejected_total', 'counter', 'Stream connections refused at upgrade (bad options, unknown model, shutting down).', m.rejected);
  one('ctr_stream_buffered_bytes', 'gauge', 'Bytes queued in the server for stream clients.', m.bufferedBytes);
  return out.join('\n') + '\n';
}
