'use strict';
// The gateway's Prometheus metrics (prom-client), one Registry per Gateway: several gateways in
// one process (tests, embedders) must not add into each other's series, so the global default
// registry is never used.
//
// Requests are counted as they are recorded (observeOperation, called where each operation's
// usage record gets its STATUSCODE). Everything else already has a counter in the part that owns
// it (core.stats(), the delivery scheduler, usage.stats(), the policy counters): those are read
// when Prometheus scrapes, not mirrored on every event, so the hot paths pay nothing for them.
const client = require('prom-client');

/** Latency buckets in seconds: a fetch is bounded by presence.fetchTimeoutMs (1 s by default). */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * A counter whose value is another part's running total, read at scrape time.
 * prom-client counters only go up by inc(): reset, then inc by the total.
 * @param {client.Registry} register
 * @param {string} name
 * @param {string} help
 * @param {string[]} labelNames
 * @param {() => Array<[Record<string, string>, number]>} read
 */
function totalCounter(register, name, help, labelNames, read) {
  return new client.Counter({
    name, help, labelNames, registers: [register],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.inc(labels, value);
    },
  });
}

/** A gauge read at scrape time. */
function readGauge(register, name, help, labelNames, read) {
  return new client.Gauge({
    name, help, labelNames, registers: [register],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.set(labels, value);
    },
  });
}

/**
 * A histogram whose buckets another part keeps (the usage store's writer thread counts its
 * commits' latency natively: two clock reads per transaction), read at scrape time. prom-client's
 * Histogram only takes observations one by one, so this is a metric of its own that the Registry
 * writes out like one: cumulative `_bucket{le}` samples, `_sum` and `_count`.
 * @param {client.Registry} register
 * @param {string} name
 * @param {string} help
 * @param {() => import('../usage').LatencyHistogram} read
 */
function readHistogram(register, name, help, read) {
  const metric = {
    name, help, type: 'histogram', aggregator: 'sum',
    async get() {
      const { bounds, counts, sum, count } = read();
      const values = [];
      let below = 0;
      bounds.forEach((le, i) => {
        below += counts[i];
        values.push({ metricName: `${name}_bucket`, labels: { le }, value: below });
      });
      values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: count });
      values.push({ metricName: `${name}_sum`, labels: {}, value: sum });
      values.push({ metricName: `${name}_count`, labels: {}, value: count });
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
    reset() {},
  };
  register.registerMetric(metric);
  return metric;
}

/** core.stats().cluster fields (store.backend postgresql). */
const CLUSTER_GAUGES = [
  ['parlayx_cluster_lease_held', 'leaseHeld', 'Whether this instance holds its cluster lease (1).'],
  ['parlayx_cluster_connected', 'connected', 'Whether the registration database is reachable (1).'],
  ['parlayx_cluster_owned_notifications', 'owned', 'Notifications this instance owns (watches).'],
  ['parlayx_cluster_live_instances', 'liveInstances', 'Live instances of the service, this one included.'],
  ['parlayx_cluster_stored_notifications', 'storedNotifications', 'Notifications stored for the whole service.'],
];
const CLUSTER_COUNTERS = [
  ['parlayx_cluster_claimed_total', 'claimed', 'Notifications taken over from other instances.'],
  ['parlayx_cluster_handed_over_total', 'handedOver', 'Notifications handed over to other instances.'],
  ['parlayx_cluster_lease_losses_total', 'leaseLosses', 'Times this instance lost its lease and dropped every notification.'],
  ['parlayx_cluster_fenced_writes_total', 'fencedWrites', 'Writes refused because another instance owned the notification.'],
];

/** core.stats() fields exported as counters (running totals) and gauges (levels now). */
const SIP_COUNTERS = [
  ['parlayx_sip_fetches_started_total', 'started', 'Presence fetches (SUBSCRIBE Expires: 0) started.'],
  ['parlayx_sip_fetches_completed_total', 'completed', 'Presence fetches ended (any outcome).'],
  ['parlayx_sip_fetch_timeouts_total', 'timeouts', 'Presence fetches without a NOTIFY within presence.fetchTimeoutMs.'],
  ['parlayx_sip_fetch_sip_errors_total', 'sipErrors', 'Presence fetches answered with a final non-2xx response.'],
  ['parlayx_sip_fetches_answered_from_subscriptions_total', 'fetchesAnsweredFromSubscriptions',
    'getStatus answers taken from a running subscription, without a fetch.'],
  ['parlayx_sip_subscribe_requests_total', 'subscribeRequests', 'SUBSCRIBEs of long-lived subscriptions sent.'],
  ['parlayx_sip_subscription_refreshes_total', 'refreshes', 'In-dialog refresh SUBSCRIBEs sent.'],
  ['parlayx_sip_resubscribes_total', 'resubscribes', 'New subscription dialogs started after a failure.'],
  ['parlayx_sip_subscription_failures_total', 'subscriptionFailures', 'Terminals given up on after maxSubscribeFailures.'],
  ['parlayx_sip_stray_requests_total', 'strayRequests', 'NOTIFYs of no fetch or subscription in progress (481).'],
  ['parlayx_sip_notify_source_refused_total', 'notifySourceRefused', 'NOTIFYs refused for their source (403).'],
  ['parlayx_sip_tcp_refused_total', 'tcpRefused', 'Inbound SIP TCP connections closed over the caps.'],
  ['parlayx_sip_tcp_idle_closed_total', 'tcpIdleClosed', 'Inbound SIP TCP connections closed when idle.'],
];
const SIP_GAUGES = [
  ['parlayx_sip_fetches_in_flight', 'inFlight', 'Presence fetches in progress.'],
  ['parlayx_sip_subscriptions', 'subscriptions', 'Terminals with a long-lived presence subscription.'],
  ['parlayx_sip_subscriptions_active', 'subscriptionsActive', 'Of those, with an established dialog.'],
  ['parlayx_sip_tcp_connections', 'tcpConnections', 'Inbound SIP TCP connections open.'],
  ['parlayx_notifications_active', 'notifications', 'Active Terminal Status notifications.'],
];

class GatewayMetrics {
  /**
   * @param {{ core: any, usage: import('../usage').UsageLog, delivery: { stats(): any },
   *   counters: import('../policy').PolicyCounters }} sources the parts whose totals are read at scrape time
   */
  constructor({ core, usage, delivery, counters }) {
    const register = new client.Registry();
    this.register = register;
    client.collectDefaultMetrics({ register });

    this.requests = new client.Counter({
      name: 'parlayx_requests_total',
      help: 'Operations by API, operation and outcome (the usage record STATUSCODE name).',
      labelNames: ['api', 'operation', 'outcome'],
      registers: [register],
    });
    this.latency = new client.Histogram({
      name: 'parlayx_request_duration_seconds',
      help: 'Time from the start of an operation to its usage record, by API, operation and outcome.',
      labelNames: ['api', 'operation', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers: [register],
    });
    this.statuses = new client.Counter({
      name: 'parlayx_terminal_statuses_total',
      help: 'Terminal statuses answered by getStatus and getStatusForGroup (Reachable, Unreachable, Busy).',
      labelNames: ['status'],
      registers: [register],
    });

    // One core.stats() per scrape, shared by every SIP series.
    let sip = null;
    const sipStats = () => {
      if (sip === null) {
        sip = core.stats();
        setImmediate(() => { sip = null; });
      }
      return sip;
    };
    for (const [name, field, help] of SIP_COUNTERS) {
      totalCounter(register, name, help, [], () => [[{}, Number(sipStats()[field]) || 0]]);
    }
    for (const [name, field, help] of SIP_GAUGES) {
      readGauge(register, name, help, [], () => [[{}, Number(sipStats()[field]) || 0]]);
    }
    // store.backend postgresql: this instance as a member of the clustered service.
    if (core.stats().cluster !== undefined) {
      const cluster = () => sipStats().cluster || {};
      for (const [name, field, help] of CLUSTER_GAUGES) {
        readGauge(register, name, help, [], () => [[{}, Number(cluster()[field]) || 0]]);
      }
      for (const [name, field, help] of CLUSTER_COUNTERS) {
        totalCounter(register, name, help, [], () => [[{}, Number(cluster()[field]) || 0]]);
      }
    }

    readGauge(register, 'parlayx_delivery_queue_depth', 'Notification deliveries waiting (queued or for a retry).', [],
      () => [[{}, delivery.stats().queued]]);
    readGauge(register, 'parlayx_delivery_in_flight', 'Notification delivery attempts in flight.', [],
      () => [[{}, delivery.stats().inFlight]]);
    totalCounter(register, 'parlayx_delivery_results_total',
      'Notification delivery outcomes: delivered, retried (an attempt failed, another follows), failed (given up), dropped.',
      ['result'], () => {
        const d = delivery.stats();
        return [[{ result: 'delivered' }, d.delivered], [{ result: 'retried' }, d.retries],
          [{ result: 'failed' }, d.failed], [{ result: 'dropped' }, d.dropped]];
      });

    readGauge(register, 'parlayx_usage_queue_depth', 'Usage record rows accepted and not yet committed.', [],
      () => [[{}, usage.stats().queued]]);
    totalCounter(register, 'parlayx_usage_rows_written_total', 'Usage record rows committed.', [],
      () => [[{}, usage.stats().written]]);
    totalCounter(register, 'parlayx_usage_commits_total', 'Usage store transactions committed.', [],
      () => [[{}, usage.stats().commits]]);
    totalCounter(register, 'parlayx_usage_write_errors_total', 'Usage record appends that could not be committed.', [],
      () => [[{}, usage.stats().writeErrors]]);
    totalCounter(register, 'parlayx_usage_rejected_full_total', 'Usage record appends refused: queue full.', [],
      () => [[{}, usage.stats().rejectedFull]]);
    // store.backend postgresql: whether it is reachable, and the local spool of batched records.
    readGauge(register, 'parlayx_usage_store_reachable', 'Whether the usage database is reachable (1); SQLite: always 1.', [],
      () => [[{}, usage.stats().reachable ? 1 : 0]]);
    readGauge(register, 'parlayx_usage_spooled_rows', 'Usage record rows waiting in the local spool for PostgreSQL.', [],
      () => [[{}, usage.stats().spooled]]);
    totalCounter(register, 'parlayx_usage_replayed_rows_total', 'Usage record rows replayed from the local spool into PostgreSQL.', [],
      () => [[{}, usage.stats().replayed]]);
    // Per committed transaction (one observation each, whatever its number of rows).
    readHistogram(register, 'parlayx_usage_commit_wait_seconds',
      'Usage store transactions committed, by the time from their oldest append\'s submission to their commit: the longest any of their records waited (what a durable request waits for its record, at most).',
      () => usage.stats().commitWaitSeconds);
    readHistogram(register, 'parlayx_usage_commit_duration_seconds',
      'Usage store transactions committed, by the time writing and committing them took (retries included).',
      () => usage.stats().commitSeconds);

    // Summed over requesters: their names are configuration, but a label per requester would
    // multiply every series by the number of applications.
    totalCounter(register, 'parlayx_policy_outcomes_total',
      'Policy outcomes by service, operation, outcome (STATUSCODE name or UNAUTHENTICATED; refusals are all but VALID) and level (request or target).',
      ['service', 'operation', 'outcome', 'level'], () => {
        const sums = new Map();
        for (const row of counters.snapshot()) {
          const key = `${row.service}\u0000${row.operation}\u0000${row.outcome}\u0000${row.level}`;
          const entry = sums.get(key);
          if (entry) entry[1] += row.count;
          else sums.set(key, [{ service: row.service, operation: row.operation, outcome: row.outcome, level: row.level }, row.count]);
        }
        return [...sums.values()];
      });
  }

  /**
   * One finished operation (js/recordedOperation.js and the call registrations).
   * @param {{ api: string, operation: string, outcome: string, seconds: number }} o
   */
  observeOperation({ api, operation, outcome, seconds }) {
    const labels = { api, operation, outcome };
    this.requests.inc(labels);
    this.latency.observe(labels, seconds);
  }

  /**
   * One terminal status answered (js/terminalStatus.js), for the status mix.
   * @param {'Reachable'|'Unreachable'|'Busy'} status
   */
  observeStatus(status) {
    this.statuses.inc({ status });
  }

  /** The Content-Type of text(). */
  get contentType() {
    return this.register.contentType;
  }

  /** @returns {Promise<string>} the Prometheus text exposition */
  text() {
    return this.register.metrics();
  }
}

module.exports = { GatewayMetrics };
