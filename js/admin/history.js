'use strict';
// The admin page's plots: a small in-memory ring of samples of the gateway's Prometheus counters
// (js/admin/metrics.js), one every periodMs (2 s) for the last `size` periods (300: 10 minutes).
// Each sample holds what happened in its period: requests by outcome (the usage record STATUSCODE
// name), their mean latency and a p95 bound from the latency histogram's buckets, and the
// terminal statuses answered (Reachable / Unreachable / Busy). Nothing is added to the hot paths:
// the counters the metrics already keep are read and differenced here.

/** Sampling period and length of the ring: 2 s for 10 minutes. */
const DEFAULT_PERIOD_MS = 2000;
const DEFAULT_SIZE = 300;

/**
 * @typedef {object} HistorySample
 * @property {number} t             end of the period, ms since the epoch
 * @property {number} requests      operations finished in the period (all APIs)
 * @property {Record<string, number>} outcomes  of those, by STATUSCODE name (only names seen)
 * @property {Record<string, number>} statuses  Reachable / Unreachable / Busy answered in the period
 * @property {number|null} latencyMeanMs  null when no request finished
 * @property {number|null} latencyP95Ms   upper bound of the histogram bucket holding the 95th
 *   percentile; null when no request finished, Infinity beyond the last bucket (JSON: null with
 *   latencyP95Over set)
 * @property {boolean} [latencyP95Over] the 95th percentile lies above the last bucket
 */

/** Running totals of the counters, summed over their label sets. */
async function readTotals(metrics) {
  const [requests, latency, statuses] = await Promise.all([
    metrics.requests.get(), metrics.latency.get(), metrics.statuses.get(),
  ]);
  const outcomes = {};
  for (const { value, labels } of requests.values) outcomes[labels.outcome] = (outcomes[labels.outcome] || 0) + value;
  const byStatus = {};
  for (const { value, labels } of statuses.values) byStatus[labels.status] = (byStatus[labels.status] || 0) + value;
  let sum = 0;
  let count = 0;
  /** @type {Map<number, number>} le -> cumulative count, summed over label sets */
  const buckets = new Map();
  for (const { value, labels, metricName } of latency.values) {
    if (metricName.endsWith('_sum')) sum += value;
    else if (metricName.endsWith('_count')) count += value;
    else if (metricName.endsWith('_bucket')) {
      const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
      buckets.set(le, (buckets.get(le) || 0) + value);
    }
  }
  return { outcomes, statuses: byStatus, sum, count, buckets };
}

/** `now - before` for every key of `now` (counters never go down; a key new in `now` counts from 0). */
function difference(now, before) {
  const out = {};
  for (const [key, value] of Object.entries(now)) {
    const d = value - (before[key] || 0);
    if (d > 0) out[key] = d;
  }
  return out;
}

/**
 * The smallest bucket bound holding the q-quantile of the requests between two readings.
 * @returns {number|null} ms; Infinity beyond the last finite bucket; null without requests
 */
function quantileBound(now, before, q) {
  const total = now.count - before.count;
  if (total <= 0) return null;
  const bounds = [...now.buckets.keys()].sort((a, b) => a - b);
  for (const le of bounds) {
    const cumulative = now.buckets.get(le) - (before.buckets.get(le) || 0);
    if (cumulative >= q * total) return le === Infinity ? Infinity : le * 1000;
  }
  return Infinity;
}

class MetricsHistory {
  /**
   * @param {{ metrics: import('./metrics').GatewayMetrics, periodMs?: number, size?: number,
   *   now?: () => number, log?: Function }} options
   */
  constructor({ metrics, periodMs = DEFAULT_PERIOD_MS, size = DEFAULT_SIZE, now = Date.now, log = () => {} }) {
    this.metrics = metrics;
    this.periodMs = periodMs;
    this.size = size;
    this.now = now;
    this.log = log;
    /** @type {HistorySample[]} oldest first, at most `size` */
    this.ring = [];
    this.last = null;
    this.timer = null;
    this.sampling = null;
  }

  /** Takes the baseline reading and samples every periodMs from now on (the timer keeps no process alive). */
  start() {
    if (this.timer !== null) return;
    this.sampling = this.sample();
    this.timer = setInterval(() => {
      if (this.sampling !== null) return; // the previous reading has not finished: skip a beat
      this.sampling = this.sample();
    }, this.periodMs);
    this.timer.unref();
  }

  stop() {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Reads the counters and appends the period since the last reading (the first only sets the baseline). */
  async sample() {
    try {
      const totals = await readTotals(this.metrics);
      const t = this.now();
      if (this.last !== null) {
        const outcomes = difference(totals.outcomes, this.last.outcomes);
        const requests = Object.values(outcomes).reduce((a, b) => a + b, 0);
        const count = totals.count - this.last.count;
        const p95 = quantileBound(totals, this.last, 0.95);
        /** @type {HistorySample} */
        const s = {
          t,
          requests,
          outcomes,
          statuses: difference(totals.statuses, this.last.statuses),
          latencyMeanMs: count > 0 ? ((totals.sum - this.last.sum) / count) * 1000 : null,
          latencyP95Ms: p95 === Infinity ? null : p95,
        };
        if (p95 === Infinity) s.latencyP95Over = true;
        this.ring.push(s);
        if (this.ring.length > this.size) this.ring.splice(0, this.ring.length - this.size);
      }
      this.last = totals;
    } catch (error) {
      this.log('error', 'admin page: metrics sample failed', { error: error.stack || String(error) });
    } finally {
      this.sampling = null;
    }
  }

  /** @returns {HistorySample[]} oldest first */
  samples() {
    return this.ring.slice();
  }
}

module.exports = { MetricsHistory, DEFAULT_PERIOD_MS, DEFAULT_SIZE, quantileBound };
