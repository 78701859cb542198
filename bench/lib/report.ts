// Terminal tables and JSON result files for bench runs.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LoadResult } from './load_runner.js';
import { benchRoot } from './targets.js';

export function resultsDir(): string {
  return join(benchRoot(), 'bench/results');
}

/** bench/results/<prefix>-<timestamp>.<ext>, or `explicit` when given. */
export function resultPath(prefix: string, ext: string, explicit?: string): string {
  if (explicit !== undefined) return explicit;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/Z$/, '');
  return join(resultsDir(), `${prefix}-${stamp}.${ext}`);
}

export function writeResult(path: string, data: unknown): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(data, null, 2) + '\n');
  return path;
}

/** Renders rows as an aligned text table; numbers right-aligned. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: (string | number)[], i: number) =>
    r.map((c, j) => {
      const s = String(c ?? '');
      return i > 0 && typeof rows[i - 1][j] === 'number' ? s.padStart(widths[j]) : s.padEnd(widths[j]);
    }).join('  ');
  return [line(cells[0], 0), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map((r, i) => line(r, i + 1))].join('\n');
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return '-';
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(3);
}

export function errorsText(r: LoadResult): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(r.statuses)) if (!k.startsWith('2')) parts.push(`${k}:${v}`);
  for (const [k, v] of Object.entries(r.errors)) parts.push(`${k}:${v}`);
  return parts.length === 0 ? '0' : parts.join(' ');
}

export const RESULT_HEADER = ['target', 'mode', 'offered/s', 'achieved/s', 'rows/s', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'errors', 'gen cpu', 'srv cpu', 'srv p99 ms'];

export function resultRow(label: string, r: LoadResult): (string | number)[] {
  const mode = r.mode === 'open' ? 'open' : `closed/${r.tool}`;
  return [
    label + (r.generator.bottleneck ? ' (!gen)' : ''), mode, r.offeredRate ?? NaN, r.throughput, r.rowsPerSec,
    r.latency.p50, r.latency.p90, r.latency.p99, r.latency.p999, r.latency.max, errorsText(r),
    r.generator.cpuCores, r.server?.cpuCores ?? NaN,
    // The server's own end-to-end p99 over the same window (≈, from its /metrics buckets).
    r.serverView?.stages.end_to_end?.p99 ?? NaN,
  ];
}

export function describeOne(label: string, r: LoadResult): string {
  const lines = [table(RESULT_HEADER, [resultRow(label, r)])];
  if (r.mode === 'open') {
    lines.push(`from schedule (strict): p50 ${fmt(r.strict.p50)}  p99 ${fmt(r.strict.p99)}  p99.9 ${fmt(r.strict.p999)} ms;` +
      ` service (send→answer): p50 ${fmt(r.service.p50)}  p99 ${fmt(r.service.p99)} ms; ` +
      (r.selfLag !== undefined
        ? `generator's own lateness p99 ${fmt(r.selfLag.p99)} ms (send lag incl. waits for a connection ${fmt(r.sendLag.p99)} ms)`
        : `generator send lag p99 ${fmt(r.sendLag.p99)} ms`));
  }
  const e2e = r.serverView?.stages.end_to_end;
  if (e2e !== undefined) {
    const st = r.serverView!.stages;
    const p99 = (k: string) => (st[k] !== undefined ? ` ${k.replace(/_/g, ' ')} ≈${fmt(st[k].p99)}` : '');
    lines.push(`server's own view (GET /metrics over the window, ${e2e.count.toLocaleString('en-US')} requests): end to end p50 ≈${fmt(e2e.p50)}  p99 ≈${fmt(e2e.p99)} ms, ` +
      `${(e2e.within1ms * 100).toFixed(1)} % within 1 ms; p99 of${p99('queue_wait')}${p99('inference')} ms`);
  }
  lines.push(`generator: ${r.generator.note}`);
  if (r.generator.bottleneck) lines.push('(!gen): the load generator itself was saturated in this run, so these figures understate the server.');
  return lines.join('\n');
}
