// Streaming change detection per model, one observation per coordinator
// tick, so a sudden shift is flagged within seconds instead of when a window
// closes. Page-Hinkley, two-sided: with x_t the tick's observation,
//   up:   m_t = Σ (x_i − δ),  alarm when m_t − min_{s≤t} m_s > λ
//   down: m_t = Σ (x_i + δ),  alarm when max_{s≤t} m_s − m_t > λ
// where x is centred on a reference (the baseline, else the lifetime figure
// before the tick). δ is half the smallest shift worth flagging; λ trades
// detection delay for false alarms (delay ≈ λ / (shift − δ) ticks).
//   prediction mean: x = tick mean / reference − 1 (relative; δ 0.05, λ 0.5:
//     a 10 % shift is flagged in ~10 ticks, a doubling in 1);
//   error rate: x = tick error rate − reference (absolute; δ 0.005, λ 0.05).
// λ grows with the tick's noise: λ_t = max(λ, 10 σ_t² / δ), σ_t² the variance
// of x at this tick (prediction variance / (reference² · predictions in the
// tick); p(1 − p) / requests for the error rate), which keeps the false-alarm
// rate low at any traffic rate (Page-Hinkley's average run length between
// false alarms grows like exp(2δλ/σ²) ≥ e^20 ticks) at the cost of a slower
// detection when ticks hold few rows.
// Ticks with fewer than `minCount` observations are skipped (no evidence).
// After an alarm the sums restart, so a lasting shift alarms again and again
// while it lasts; `alarm` stays set for `holdTicks` after the last one.

export interface PageHinkleyConfig { delta: number; lambda: number; minCount: number; holdTicks: number }

export const PREDICTION_MEAN_PH: PageHinkleyConfig = { delta: 0.05, lambda: 0.5, minCount: 20, holdTicks: 30 };
export const ERROR_RATE_PH: PageHinkleyConfig = { delta: 0.005, lambda: 0.05, minCount: 20, holdTicks: 30 };

export interface ChangeState {
  alarm: boolean;
  direction: 'up' | 'down' | null;
  /** Statistic against λ: max(up, down) of the cumulative deviations. */
  statistic: number;
  threshold: { delta: number; lambda: number; min_count: number };
  alarms: number;
  last_alarm_at: string | null;
  reference: number | null;
}

export class PageHinkley {
  #up = 0;
  #upMin = 0;
  #down = 0;
  #downMax = 0;
  #hold = 0;
  #direction: 'up' | 'down' | null = null;
  alarms = 0;
  lastAlarmAt: number | null = null;
  /** λ of the last observation (noise-scaled). */
  lambda: number;

  constructor(readonly cfg: PageHinkleyConfig) {
    this.lambda = cfg.lambda;
  }

  /** One observation (already centred) with the variance of its noise; true when it raised an alarm. */
  add(x: number, now: number, variance = 0): boolean {
    const { delta } = this.cfg;
    const lambda = (this.lambda = Math.max(this.cfg.lambda, (10 * variance) / delta));
    if (this.#hold > 0) this.#hold--;
    this.#up += x - delta;
    this.#upMin = Math.min(this.#upMin, this.#up);
    this.#down += x + delta;
    this.#downMax = Math.max(this.#downMax, this.#down);
    const up = this.#up - this.#upMin, down = this.#downMax - this.#down;
    if (up > lambda || down > lambda) {
      this.#direction = up > lambda ? 'up' : 'down';
      this.alarms++;
      this.lastAlarmAt = now;
      this.#hold = this.cfg.holdTicks;
      this.reset();
      return true;
    }
    return false;
  }

  /** A tick without evidence: the hold still runs out. */
  idle(): void {
    if (this.#hold > 0) this.#hold--;
  }

  reset(): void {
    this.#up = this.#upMin = this.#down = this.#downMax = 0;
  }

  get statistic(): number {
    return Math.max(this.#up - this.#upMin, this.#downMax - this.#down);
  }

  state(reference: number | null): ChangeState {
    const alarm = this.#hold > 0;
    return {
      alarm, direction: alarm ? this.#direction : null, statistic: this.statistic,
      threshold: { delta: this.cfg.delta, lambda: this.lambda, min_count: this.cfg.minCount },
      alarms: this.alarms, last_alarm_at: this.lastAlarmAt === null ? null : new Date(this.lastAlarmAt).toISOString(), reference,
    };
  }
}

export interface ModelChange { prediction_mean: ChangeState; error_rate: ChangeState }

/** One model's two detectors, fed from cumulative counters at every tick. */
export class ModelChangeDetector {
  readonly pred = new PageHinkley(PREDICTION_MEAN_PH);
  readonly err = new PageHinkley(ERROR_RATE_PH);
  #n = 0;
  #sum = 0;
  #req = 0;
  #errors = 0;
  #m2 = 0;
  #refMean: number | null = null;
  #refErr: number | null = null;

  /**
   * Cumulative prediction count, sum and Welford m2, requests and errors now;
   * `baseline` (when one is in force) is the prediction reference.
   */
  update(n: number, sum: number, m2: number, requests: number, errors: number, baseline: { mean: number; std: number } | null, now: number): ModelChange {
    const dn = n - this.#n, ds = sum - this.#sum, dr = requests - this.#req, de = errors - this.#errors;
    // Lifetime figures before this tick: the reference without a baseline.
    const lifeMean = this.#n > 0 ? this.#sum / this.#n : null;
    const lifeErr = this.#req > 0 ? this.#errors / this.#req : null;
    const lifeVar = this.#n > 1 ? this.#m2 / (this.#n - 1) : 0;
    this.#refMean = baseline?.mean ?? lifeMean;
    this.#refErr = lifeErr;
    const ref = this.#refMean;
    if (dn >= this.pred.cfg.minCount && ref !== null && ref > 0) {
      const variance = (baseline ? baseline.std * baseline.std : lifeVar) / (ref * ref * dn);
      this.pred.add(ds / dn / ref - 1, now, variance);
    } else this.pred.idle();
    if (dr >= this.err.cfg.minCount && this.#refErr !== null) {
      const p = Math.max(this.#refErr, 0.001);
      this.err.add(de / dr - this.#refErr, now, (p * (1 - p)) / dr);
    } else this.err.idle();
    this.#n = n; this.#sum = sum; this.#m2 = m2; this.#req = requests; this.#errors = errors;
    return { prediction_mean: this.pred.state(this.#refMean), error_rate: this.err.state(this.#refErr) };
  }
}
