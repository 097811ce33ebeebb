'use strict';
// Sends the deliveries the native notification engine decides (statusNotification, statusError,
// statusEnd) to the applications' TerminalStatusNotification endpoints as SOAP 1.1 POSTs, and
// writes the usage records of every attempt (seeds/004 tables 7-12). A delivery of another API
// (delivery.api, e.g. CAMARA subscriptions) is written by that API's renderer (the `renderers`
// option: its body and headers, e.g. a CloudEvent with a bearer token) and sent the same way.
//
// - Order: the deliveries of one notification (requester, correlator) go strictly in the order
//   received, one at a time; a delivery waiting for a retry holds the later ones back. Different
//   notifications are sent in parallel.
// - Connections: keep-alive connections per endpoint origin (js/http1Client.js); at most
//   maxSocketsPerEndpoint requests in flight per origin and maxConnections open to all origins
//   together (idle ones are closed to make room), the others wait here, so that an attempt's
//   timeout only counts time actually spent on the wire and the file descriptors delivery can
//   take stay bounded however many endpoints applications name.
// - Outcome of an attempt: 2xx is delivered; connection errors, timeouts (timeoutMs), 404 and
//   5xx are retried after retryBackoffMs, doubled per further attempt up to retryBackoffMaxMs,
//   until maxAttempts; any other answer fails at once.
// - Records: <kind>_DeliveryAttempted when an attempt starts and <kind>_DeliveryResult when it
//   ends, paired by a fresh APP_CORRELATION_ID, with the GLOBALID of the startNotification; a
//   delivery of another API (delivery.api) carries that API's service as SERVICE (`services`).
//   Result STATUSCODE: VALID when delivered, FAILED_OPERATION when the attempt failed,
//   FAILED_SERVICE_NOT_RUNNING when close() aborted it. FAILURE_REASON is 'HTTP <status>',
//   'TIMEOUT', the socket error code (e.g. ECONNREFUSED, ECONNRESET), 'HPE_INVALID' (a malformed
//   answer), 'BLOCKED_DESTINATION' (the SSRF guard refused the address the name resolves to now;
//   not retried), 'INVALID_ENDPOINT' or 'ABORTED'; FAILURE_DETAIL says what happened, the attempt
//   number and whether the delivery will be retried. Records made in one tick go to the usage
//   log in one record() call; refused records are logged and counted (stats().recordErrors).
// - Settling: once a delivery is done for good (delivered, or given up: not retried, out of
//   attempts, unusable endpoint) onSettled() is told, and the core drops it from its durable
//   outbox. A delivery still queued, waiting for a retry or aborted at close() is not settled: the
//   core sends it again after the next start, so every decided delivery reaches the application
//   at least once, also across a crash (and may reach it twice when the crash fell between its
//   answer and its settling).
// - Quarantine: a delivery whose endpoint cannot be used at all (INVALID_ENDPOINT: a row stored by
//   an older version, say) is recorded and logged, and onUndeliverable() is told so that the
//   notification is ended instead of failing every later delivery. Nothing a delivery carries can
//   throw out of enqueue(): a malformed one is logged, counted (stats().malformed) and skipped.
// - A kept-alive connection the server closed just as it was reused (ECONNRESET/EPIPE on a
//   reused connection) is retried at once, without backoff.
const { randomUUID } = require('node:crypto');
const { ConnectionBudget } = require('../http1Client');
const { Job, Channel, Origin, deliveryChannelKey, isDelivery, safeJson } = require('./queue');
const { DeliveryRecords } = require('./records');
const { parseEndpointUrl } = require('../outbound/endpointUrl');
const { UsageStatus } = require('../usage');

/** The SOAP builder, required at the first delivery, not at load (start-up, issue 15). */
let soapBuilder = null;

const DEFAULT_CLOSE_GRACE_MS = 1000;
const IDLE_SWEEP_MS = 1000;
const TARGET_CACHE_SIZE = 10000;

/**
 * @typedef {object} Delivery one delivery of the native core (core.setDeliveryListener), or a call
 *   notification of js/calls/callDeliveries.js (kind notifyBusy ... notifyCallEvent, with `call`)
 * @property {string} kind
 * @property {string} requester
 * @property {string} correlator
 * @property {string} endpoint
 * @property {string} globalId
 * @property {number} sequence
 * @property {Array<{address: string, status: string}>} [statuses]
 * @property {string} [address]
 * @property {{messageId: string, text: string, variables: string[]}} [error]
 */

/** One HTTP attempt of a job; the ResponseHandler of its request (js/http1Client.js). */
class Attempt {
  constructor(owner, channel, job, origin, appCorrelationId, timeoutMs) {
    this.owner = owner;
    this.channel = channel;
    this.job = job;
    this.origin = origin;
    this.appCorrelationId = appCorrelationId;
    this.done = false;
    this.timer = setTimeout(onAttemptTimeout, timeoutMs, this);
  }

  onHttpResponse(status) {
    if (status >= 200 && status < 300) {
      this.owner.finish(this, null);
      return;
    }
    // node:http is required here, at the first failed attempt, not at load (start-up, issue 15).
    const message = require('node:http').STATUS_CODES[status];
    this.owner.finish(this, {
      reason: `HTTP ${status}`,
      detail: message ? `HTTP ${status} ${message}` : `HTTP ${status}`,
      retry: status === 404 || status >= 500,
    });
  }

  onHttpError(error, reusedConnection) {
    if (error.code === 'ERR_PX_DESTINATION') {
      this.owner.finish(this, { reason: 'BLOCKED_DESTINATION', detail: error.message, retry: false });
      return;
    }
    const code = error.code || 'ERROR';
    // A kept-alive connection the server closed just as it was reused: try again at once.
    const immediate = reusedConnection && (code === 'ECONNRESET' || code === 'EPIPE');
    this.owner.finish(this, { reason: code, detail: error.message || code, retry: true, immediate });
  }
}

function onAttemptTimeout(attempt) {
  attempt.timer = null;
  attempt.origin.pool.abort(attempt);
  attempt.owner.finish(attempt, { reason: 'TIMEOUT', detail: `no answer within ${attempt.owner.settings.timeoutMs} ms`, retry: true });
}

class NotificationDelivery {
  /**
   * @param {{ config: { timeoutMs: number, maxAttempts: number, retryBackoffMs: number,
   *           retryBackoffMaxMs: number, maxSocketsPerEndpoint: number, maxConnections?: number },
   *           usage: import('../usage').UsageLog, log?: Function, closeGraceMs?: number,
   *           destinations?: import('../outbound/destinationPolicy').DestinationPolicy,
   *           onUndeliverable?: (delivery: Delivery, reason: string) => void,
   *           onSettled?: (delivery: Delivery) => void, onGivenUp?: (delivery: Delivery) => void,
   *           renderers?: Record<string, (delivery: Delivery) => { body: string, headers: Record<string, string> }>,
   *           services?: Record<string, string> }} options
   *   config: the `notifications.delivery` section; closeGraceMs: how long close() lets attempts
   *   in flight finish before aborting them (default 1000); destinations: the SSRF guard checked
   *   on every new connection; onUndeliverable: told of a delivery whose endpoint can never be
   *   used (its notification should end); onSettled: told of each delivery done for good;
   *   onGivenUp: told of each delivery that will never be delivered (failed for good, not aborted
   *   by close(): the call notifications' 'Error' record); renderers: by delivery.api, the
   *   body and headers of the deliveries of APIs other than Parlay X; services: by delivery.api,
   *   the SERVICE attribute of its delivery records (a Parlay X delivery, without api, has none)
   */
  constructor({
    config, usage, log = () => {}, closeGraceMs = DEFAULT_CLOSE_GRACE_MS, destinations, onUndeliverable = () => {},
    onSettled = () => {}, onGivenUp = () => {}, renderers = {}, services = {},
  }) {
    this.renderers = renderers;
    this.services = services;
    this.onSettled = onSettled;
    this.onGivenUp = onGivenUp;
    this.settings = config;
    this.maxConnections = config.maxConnections || 1024;
    this.budget = new ConnectionBudget(this.maxConnections);
    // Origins with channels waiting while the limit of all origins together was reached.
    this.starved = new Set();
    this.destinations = destinations;
    this.onUndeliverable = onUndeliverable;
    this.log = log;
    this.closeGraceMs = closeGraceMs;
    this.channels = new Map();
    this.origins = new Map();
    this.targets = new Map();
    this.attempts = new Set();
    this.closing = false;
    this.idleWaiters = [];
    this.records = new DeliveryRecords(usage, log);
    this.sweeper = null;
    this.counters = { queued: 0, delivered: 0, failed: 0, retries: 0, dropped: 0, malformed: 0 };
  }

  /**
   * Accepts deliveries from the core (in the order they must be sent); returns at once.
   * @param {Delivery[]} deliveries
   */
  enqueue(deliveries) {
    if (this.closing) {
      this.counters.dropped += deliveries.length;
      if (deliveries.length > 0) {
        this.log('warn', 'notification deliveries dropped: delivery is closed', { count: deliveries.length });
      }
      return;
    }
    for (const delivery of deliveries) {
      if (!isDelivery(delivery)) {
        this.counters.malformed++;
        this.log('error', 'malformed delivery skipped', { delivery: safeJson(delivery) });
        continue;
      }
      const key = deliveryChannelKey(delivery);
      let channel = this.channels.get(key);
      if (channel === undefined) {
        channel = new Channel(key);
        this.channels.set(key, channel);
      }
      const service = delivery.api && Object.hasOwn(this.services, delivery.api) ? this.services[delivery.api] : undefined;
      channel.jobs.push(new Job(delivery, service));
      this.counters.queued++;
      if (!channel.busy) this.schedule(channel);
    }
  }

  /** Counters: waiting deliveries, attempts in flight, and totals since start. */
  stats() {
    const { queued, delivered, failed, retries, dropped, malformed } = this.counters;
    const recordErrors = this.records.errors;
    return {
      queued, inFlight: this.attempts.size, delivered, failed, retries, dropped, recordErrors, malformed,
      connections: this.budget.open, connectionsPeak: this.budget.peak, connectionsEvicted: this.budget.evicted,
    };
  }

  /** Resolves when nothing is queued or in flight. */
  idle() {
    if (this.channels.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Resolves when nothing is queued or in flight and every usage record written so far has been
   * accepted by the usage log (committed, in durable mode). For tests, benchmarks and operators.
   */
  async settled() {
    await this.idle();
    await this.records.written();
  }

  /**
   * Stops sending: deliveries still queued or waiting for a retry are dropped (logged), attempts
   * in flight get closeGraceMs to finish and are then aborted (recorded as failed). Resolves once
   * every usage record of the attempts has been handed to the usage log.
   */
  async close() {
    if (this.closing) return;
    this.closing = true;
    let dropped = 0;
    for (const channel of this.channels.values()) {
      if (channel.retryTimer !== null) {
        clearTimeout(channel.retryTimer);
        channel.retryTimer = null;
        channel.busy = false;
      }
      // The job in flight (if any) stays; the rest is dropped.
      const keep = channel.attempt !== null ? 1 : 0;
      dropped += channel.size - keep;
      channel.jobs = keep ? [channel.current] : [];
      channel.head = 0;
      if (!keep) this.channels.delete(channel.key);
    }
    for (const origin of this.origins.values()) {
      origin.waiting = [];
      origin.waitingHead = 0;
    }
    this.starved.clear();
    this.counters.queued = 0;
    this.counters.dropped += dropped;
    if (dropped > 0) this.log('warn', 'notification deliveries dropped at shutdown', { count: dropped });
    if (this.attempts.size > 0) {
      let timer;
      await Promise.race([
        this.idle(),
        new Promise((resolve) => { timer = setTimeout(resolve, this.closeGraceMs); }),
      ]);
      clearTimeout(timer);
    }
    for (const attempt of [...this.attempts]) {
      attempt.origin.pool.abort(attempt);
      this.finish(attempt, { reason: 'ABORTED', detail: 'gateway shutting down', retry: false, aborted: true });
    }
    this.channels.clear();
    this.resolveIdle();
    clearInterval(this.sweeper);
    for (const origin of this.origins.values()) origin.pool.close();
    await this.records.written();
  }

  /**
   * The channel's first job waits for a connection of its origin, or goes at once. Jobs that
   * cannot be sent at all are failed and skipped (in a loop: a long run of them must not recurse).
   */
  schedule(channel) {
    for (;;) {
      const job = channel.current;
      if (this.prepare(job)) {
        channel.busy = true;
        const origin = job.target.origin;
        // Channels already waiting for this origin go first (FIFO across notifications).
        if (origin.inFlight < origin.maxSockets && origin.waitingHead === origin.waiting.length
          && this.attempts.size < this.maxConnections) {
          this.send(channel, job, origin);
        } else {
          origin.push(channel);
          if (this.attempts.size >= this.maxConnections) this.starved.add(origin);
        }
        return;
      }
      this.counters.queued--;
      this.counters.failed++;
      this.giveUp(job.delivery);
      this.settle(job.delivery);
      channel.shift();
      if (channel.size === 0) {
        this.removeChannel(channel);
        return;
      }
    }
  }

  /** Builds the job's request once; false (logged, recorded when possible) when it cannot be sent. */
  prepare(job) {
    if (job.request !== null) return true;
    const d = job.delivery;
    let target;
    let body;
    let extraHead = '';
    try {
      if (d.api) {
        if (!Object.hasOwn(this.renderers, d.api)) throw new Error(`no renderer for the API ${d.api}`);
        const rendered = this.renderers[d.api](d);
        body = rendered.body;
        for (const [name, value] of Object.entries(rendered.headers)) extraHead += `${name}: ${value}\r\n`;
        target = this.targetOf(d.endpoint, false);
      } else {
        soapBuilder ??= require('../soap/builder');
        body = soapBuilder.deliveryEnvelope(d);
        target = this.targetOf(d.endpoint, true);
      }
      job.attemptedAttributes('');
    } catch (error) {
      this.log('error', 'malformed delivery dropped', { kind: d.kind, correlator: d.correlator, error: error.message });
      return false;
    }
    if (target === null) {
      // Never attempted, but recorded as a failed attempt so that usage records show it.
      const appCorrelationId = randomUUID();
      job.attempts++;
      this.records.add(d.globalId, job.attemptedType, UsageStatus.VALID, job.attemptedAttributes(appCorrelationId));
      this.records.add(d.globalId, job.resultType, UsageStatus.FAILED_OPERATION, job.resultAttributes(
        'INVALID_ENDPOINT', 'the endpoint is not a usable http: or https: URL; notification quarantined', appCorrelationId,
      ));
      this.log('error', `${d.kind} not delivered: invalid endpoint, notification quarantined`, {
        requester: d.requester, correlator: d.correlator, endpoint: d.endpoint,
      });
      try {
        this.onUndeliverable(d, 'invalid endpoint');
      } catch (error) {
        this.log('error', 'quarantine of an undeliverable notification failed', { correlator: d.correlator, error: error.message });
      }
      return false;
    }
    job.target = target;
    job.request = `${target.head}${extraHead}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    return true;
  }

  /**
   * Where an endpoint URL is sent: its origin and the request head up to Content-Length; null
   * when it is not a usable endpoint (js/outbound/endpointUrl.js, the rule startNotification
   * applies). Cached: the URL of every delivery of a notification is the same.
   * @param {string} endpoint
   * @param {boolean} soap true: the SOAP content type and action; false: the renderer's headers
   */
  targetOf(endpoint, soap) {
    const key = soap ? endpoint : `\n${endpoint}`;
    let target = this.targets.get(key);
    if (target !== undefined) return target;
    const parsed = parseEndpointUrl(endpoint);
    if (parsed === null) {
      target = null;
    } else {
      const { url, authorization } = parsed;
      let origin = this.origins.get(url.origin);
      if (origin === undefined) {
        origin = new Origin(url, this.settings.maxSocketsPerEndpoint, this.destinations, this.budget);
        this.origins.set(url.origin, origin);
        if (this.sweeper === null) {
          this.sweeper = setInterval(sweepIdle, IDLE_SWEEP_MS, this.origins);
          this.sweeper.unref();
        }
      }
      let head = `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${origin.pool.host}\r\n`
        + (soap ? 'Content-Type: text/xml; charset=utf-8\r\nSOAPAction: ""\r\n' : '') + 'User-Agent: parlayx-gateway\r\n';
      if (authorization !== null) head += `Authorization: ${authorization}\r\n`;
      target = { origin, head };
    }
    if (this.targets.size >= TARGET_CACHE_SIZE) this.targets.clear();
    this.targets.set(key, target);
    return target;
  }

  send(channel, job, origin) {
    const d = job.delivery;
    job.attempts++;
    this.counters.queued--;
    origin.inFlight++;
    const appCorrelationId = randomUUID();
    this.records.add(d.globalId, job.attemptedType, UsageStatus.VALID, job.attemptedAttributes(appCorrelationId));
    const attempt = new Attempt(this, channel, job, origin, appCorrelationId, this.settings.timeoutMs);
    channel.attempt = attempt;
    this.attempts.add(attempt);
    origin.pool.send(attempt, job.request);
  }

  /**
   * Ends an attempt: records its result, then retries the job, or moves the channel on to its
   * next job. `failure` is null for a delivered attempt.
   */
  finish(attempt, failure) {
    if (attempt.done) return;
    attempt.done = true;
    if (attempt.timer !== null) clearTimeout(attempt.timer);
    this.attempts.delete(attempt);
    const { channel, job, origin } = attempt;
    channel.attempt = null;
    origin.inFlight--;
    const settings = this.settings;
    const d = job.delivery;
    let retryIn = -1;
    if (failure === null) {
      this.counters.delivered++;
      this.records.add(d.globalId, job.resultType, UsageStatus.VALID, job.resultAttributes('', '', attempt.appCorrelationId));
    } else {
      let detail = `${failure.detail}; attempt ${job.attempts} of ${settings.maxAttempts}`;
      if (failure.retry && job.attempts < settings.maxAttempts && !this.closing) {
        retryIn = failure.immediate ? 0
          : Math.min(settings.retryBackoffMs * 2 ** (job.attempts - 1), settings.retryBackoffMaxMs);
        detail += `, retry in ${retryIn} ms`;
      } else {
        detail += failure.retry && !failure.aborted ? ', giving up' : ', not retried';
      }
      this.records.add(d.globalId, job.resultType,
        failure.aborted ? UsageStatus.FAILED_SERVICE_NOT_RUNNING : UsageStatus.FAILED_OPERATION,
        job.resultAttributes(failure.reason, detail, attempt.appCorrelationId));
    }
    if (retryIn >= 0) {
      this.counters.retries++;
      this.counters.queued++;
      channel.retryTimer = setTimeout(retryChannel, retryIn, this, channel);
    } else {
      if (failure !== null) {
        this.counters.failed++;
        this.log('warn', `${d.kind} not delivered`, {
          correlator: d.correlator, endpoint: d.endpoint, attempts: job.attempts, reason: failure.reason,
        });
      }
      if (failure !== null && !failure.aborted) this.giveUp(d);
      // Aborted by close(): not settled, so it is sent again after the next start.
      if (failure === null || !failure.aborted) this.settle(d);
      this.next(channel);
    }
    if (!this.closing) this.release(origin);
  }

  giveUp(delivery) {
    try {
      this.onGivenUp(delivery);
    } catch (error) {
      this.log('error', 'a given-up delivery could not be reported', { correlator: delivery.correlator, error: error.message });
    }
  }

  settle(delivery) {
    try {
      this.onSettled(delivery);
    } catch (error) {
      this.log('error', 'settling a delivery failed', { correlator: delivery.correlator, error: error.message });
    }
  }

  /** The channel's current job is done: the next one goes, or the channel is removed. */
  next(channel) {
    channel.shift();
    channel.busy = false;
    if (channel.size === 0) this.removeChannel(channel);
    else if (!this.closing) this.schedule(channel);
  }

  removeChannel(channel) {
    channel.busy = false;
    this.channels.delete(channel.key);
    if (this.channels.size === 0) this.resolveIdle();
  }

  /**
   * A connection slot is free: the longest-waiting channel of the origin takes it, then those of
   * origins that waited for the limit of all origins together.
   */
  release(origin) {
    this.drain(origin);
    for (const starved of this.starved) {
      if (this.attempts.size >= this.maxConnections) return;
      this.drain(starved);
      if (starved.waitingHead === starved.waiting.length) this.starved.delete(starved);
    }
  }

  drain(origin) {
    while (origin.inFlight < origin.maxSockets && this.attempts.size < this.maxConnections) {
      const channel = origin.pop();
      if (channel === undefined) return;
      this.send(channel, channel.current, origin);
    }
  }

  resolveIdle() {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

function sweepIdle(origins) {
  const now = Date.now();
  for (const origin of origins.values()) origin.pool.sweep(now);
}

function retryChannel(owner, channel) {
  channel.retryTimer = null;
  if (!owner.closing) owner.schedule(channel);
}

module.exports = { NotificationDelivery };
