// A pool of pre-encoded HTTP/1.1 requests (request line, headers and body as
// one Buffer), drawn from the project's traffic sampler, so that sending a
// request costs the generator one socket write and nothing else.
import { pack } from 'msgpackr';
import { createTrafficSampler, type DemoRequest } from './traffic_sampler.js';

export type BodyFormat = 'json' | 'msgpack';
export type RequestKind = 'single' | 'batch';

export interface PoolOptions {
  kind: RequestKind;
  /** Rows per batch request (ignored for single). */
  batchSize: number;
  format: BodyFormat;
  /** Distinct requests in the pool; the generator cycles through them. */
  size: number;
  seed: number;
  /** Pins every request to one model; absent lets the server's A/B router pick. */
  model?: string;
  host: string;
  port: number;
}

export interface RequestPool {
  method: 'POST';
  path: string;
  rowsPerRequest: number;
  /** Complete raw requests, ready to write to a keep-alive socket. */
  requests: Buffer[];
  /** Average encoded body size, for the report. */
  avgBodyBytes: number;
}

export type PredictRequest = DemoRequest & { model?: string };

/** Samples `n` prediction requests with the demo data's skew. */
export function sampleRequests(n: number, seed: number, model?: string): PredictRequest[] {
  const sampler = createTrafficSampler({ seed });
  const out: PredictRequest[] = [];
  for (let i = 0; i < n; i++) {
    const r = sampler.next();
    out.push(model === undefined ? { ...r } : { ...r, model });
  }
  return out;
}

function encodeBody(value: unknown, format: BodyFormat): Buffer {
  return format === 'json' ? Buffer.from(JSON.stringify(value)) : pack(value);
}

export function rawRequest(path: string, host: string, port: number, format: BodyFormat, body: Buffer): Buffer {
  const ct = format === 'json' ? 'application/json' : 'application/msgpack';
  const head =
    `POST ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nContent-Type: ${ct}\r\nAccept: ${ct}\r\n` +
    `Content-Length: ${body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

export function buildPool(o: PoolOptions): RequestPool {
  const rows = o.kind === 'single' ? 1 : o.batchSize;
  const samples = sampleRequests(o.size * rows, o.seed, o.model);
  const path = o.kind === 'single' ? '/predict_ctr' : '/predict_ctr/batch';
  const requests: Buffer[] = [];
  let bodyBytes = 0;
  for (let i = 0; i < o.size; i++) {
    const value = o.kind === 'single' ? samples[i] : { requests: samples.slice(i * rows, (i + 1) * rows) };
    const body = encodeBody(value, o.format);
    bodyBytes += body.length;
    requests.push(rawRequest(path, o.host, o.port, o.format, body));
  }
  return { method: 'POST', path, rowsPerRequest: rows, requests, avgBodyBytes: Math.round(bodyBytes / o.size) };
}
