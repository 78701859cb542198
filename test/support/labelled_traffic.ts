// Demo traffic with its ground truth (test/fixtures/labels/labelled_impressions.json,
// drawn by engine/training/synth.py from the world the demo models learnt),
// and the offline figures a test compares the server's online ones with.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface LabelledImpression {
  request: { user_id: string; ad_id: string; device: string; placement: string; context: { hour: number } };
  prob: number;
  click: boolean;
}

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/labels/labelled_impressions.json', import.meta.url));

export function loadLabelledImpressions(): LabelledImpression[] {
  const f = JSON.parse(readFileSync(FIXTURE, 'utf8')) as {
    user: number[]; ad: number[]; device: string[]; placement: string[]; hour: number[]; prob: number[]; click: number[];
  };
  return f.user.map((u, i) => ({
    request: { user_id: `user_${u}`, ad_id: `ad_${f.ad[i]}`, device: f.device[i], placement: f.placement[i], context: { hour: f.hour[i] } },
    prob: f.prob[i],
    click: f.click[i] === 1,
  }));
}

export interface OfflineQuality {
  n: number; clicks: number; meanPredicted: number; observed: number; logLoss: number; brier: number; auc: number;
}

/** The figures over joined (prediction, click) rows, computed directly (exact AUC with ties counted one half). */
export function offlineQuality(rows: { p: number; y: boolean }[]): OfflineQuality {
  const eps = 1e-15;
  let clicks = 0, sp = 0, ll = 0, br = 0;
  for (const { p, y } of rows) {
    const pc = Math.min(Math.max(p, eps), 1 - eps);
    sp += p;
    if (y) { clicks++; ll -= Math.log(pc); br += (1 - p) ** 2; } else { ll -= Math.log(1 - pc); br += p * p; }
  }
  const n = rows.length;
  const sorted = [...rows].sort((a, b) => a.p - b.p);
  let below = 0, num = 0;
  for (let i = 0; i < sorted.length;) {
    let j = i, c = 0, nc = 0;
    while (j < sorted.length && sorted[j].p === sorted[i].p) { if (sorted[j].y) c++; else nc++; j++; }
    num += c * below + 0.5 * c * nc;
    below += nc;
    i = j;
  }
  return { n, clicks, meanPredicted: sp / n, observed: clicks / n, logLoss: ll / n, brier: br / n, auc: num / (clicks * (n - clicks)) };
}
