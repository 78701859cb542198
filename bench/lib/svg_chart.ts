// A hand-written SVG line chart: latency percentiles (log scale) against
// offered load, one colour per server, one dash pattern per percentile.
export interface Series {
  label: string;
  color: string;
  dash?: string;
  points: { x: number; y: number }[];
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Horizontal reference lines, e.g. the p99 objective. */
  hlines?: { y: number; label: string }[];
  width?: number;
  height?: number;
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
export const PERCENTILE_DASH: Record<string, string> = { p50: '2 3', p90: '6 3', p99: '', 'p99.9': '10 3 2 3' };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceTicks(max: number): number[] {
  if (max <= 0) return [0];
  const step0 = max / 5;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0)!;
  const out: number[] = [];
  for (let v = 0; v <= max * 1.0001; v += step) out.push(v);
  return out;
}

export function renderChart(c: ChartSpec): string {
  const W = c.width ?? 900, H = c.height ?? 520;
  const L = 70, R = 230, T = 40, B = 55;
  const pw = W - L - R, ph = H - T - B;
  const pts = c.series.flatMap((s) => s.points).filter((p) => p.y > 0 && Number.isFinite(p.y));
  // One load level only: no lines to draw, so the point sits mid-axis and each series gets a labelled marker of its own (below).
  const single = new Set(pts.map((p) => p.x)).size === 1;
  const xMax = single ? Math.max(1, pts[0].x) * 2 : Math.max(1, ...pts.map((p) => p.x)) * 1.05;
  const ys = [...pts.map((p) => p.y), ...(c.hlines ?? []).map((h) => h.y)];
  const yLo = 10 ** Math.floor(Math.log10(Math.max(1e-3, Math.min(...ys, 1))));
  const yHi = 10 ** Math.ceil(Math.log10(Math.max(...ys, 1)));
  const sx = (x: number) => L + (x / xMax) * pw;
  const sy = (y: number) => T + ph - ((Math.log10(Math.max(y, yLo)) - Math.log10(yLo)) / (Math.log10(yHi) - Math.log10(yLo))) * ph;
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  o.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  o.push(`<text x="${L}" y="22" font-size="15" font-weight="bold">${esc(c.title)}</text>`);
  for (const t of niceTicks(xMax)) {
    o.push(`<line x1="${sx(t)}" y1="${T}" x2="${sx(t)}" y2="${T + ph}" stroke="#eee"/>`);
    o.push(`<text x="${sx(t)}" y="${T + ph + 16}" text-anchor="middle">${t >= 1000 ? `${t / 1000}k` : t}</text>`);
  }
  for (let d = Math.log10(yLo); d <= Math.log10(yHi) + 1e-9; d++) {
    const y = 10 ** d;
    o.push(`<line x1="${L}" y1="${sy(y)}" x2="${L + pw}" y2="${sy(y)}" stroke="#ddd"/>`);
    o.push(`<text x="${L - 6}" y="${sy(y) + 4}" text-anchor="end">${y >= 1 ? y : y.toPrecision(1)}</text>`);
  }
  o.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  o.push(`<text x="${L + pw / 2}" y="${H - 12}" text-anchor="middle">${esc(c.xLabel)}</text>`);
  o.push(`<text transform="translate(18 ${T + ph / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`);
  for (const h of c.hlines ?? []) {
    o.push(`<line x1="${L}" y1="${sy(h.y)}" x2="${L + pw}" y2="${sy(h.y)}" stroke="#999" stroke-dasharray="4 4"/>`);
    o.push(`<text x="${L + pw - 4}" y="${sy(h.y) - 4}" text-anchor="end" fill="#666">${esc(h.label)}</text>`);
  }
  c.series.forEach((s, i) => {
    const p = s.points.filter((q) => q.y > 0).sort((a, b) => a.x - b.x);
    if (single && p.length > 0) {
      // Side by side around the load level, a short bar per series and its value, so overlapping dots stay readable.
      const n = c.series.length;
      const cx = sx(p[0].x) + (i - (n - 1) / 2) * Math.min(40, pw / (2 * n));
      for (const q of p) {
        const y = sy(q.y).toFixed(1);
        o.push(`<line x1="${(cx - 12).toFixed(1)}" y1="${y}" x2="${(cx + 12).toFixed(1)}" y2="${y}" stroke="${s.color}" stroke-width="3"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
        o.push(`<text x="${(cx + 14).toFixed(1)}" y="${(sy(q.y) + 4).toFixed(1)}" fill="${s.color}" font-size="10">${q.y >= 10 ? q.y.toFixed(0) : q.y.toPrecision(2)}</text>`);
      }
    } else if (p.length > 0) {
      const d = p.map((q, j) => `${j === 0 ? 'M' : 'L'}${sx(q.x).toFixed(1)},${sy(q.y).toFixed(1)}`).join(' ');
      o.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
      for (const q of p) o.push(`<circle cx="${sx(q.x).toFixed(1)}" cy="${sy(q.y).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
    }
    const ly = T + 10 + i * 18;
    o.push(`<line x1="${L + pw + 15}" y1="${ly}" x2="${L + pw + 45}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    o.push(`<text x="${L + pw + 50}" y="${ly + 4}">${esc(s.label)}</text>`);
  });
  o.push('</svg>');
  return o.join('\n') + '\n';
}
