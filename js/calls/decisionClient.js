'use strict';
// Call Direction's decisions: for each CallDecisionDue of the core, POST handle<Event> to the
// deciding registration's endpoint and give the core the application's Action
// (core.decideCall). The call waits on the SIP side meanwhile, so the attempt has a deadline:
// the decision's timeoutMs minus a margin (the answer must still reach the SIP thread before its
// own timer applies calls.defaultAction). Anything but a valid Action in time — a connection
// error, the deadline, a non-200 answer, a SOAP fault, an answer that is not the operation's
// response, an unknown actionToPerform, Route without a valid routingAddress — is an
// application error: the configured default action is decided instead, and recorded so.
//
// Connections go through the same SSRF guard (js/outbound/destinationPolicy.js, checked on the
// address actually connected to) and the same connection budget as notification deliveries
// (js/http1Client.js ConnectionBudget), on keep-alive connections per endpoint origin. A decision
// is sent at once, never queued behind deliveries: it is bounded by its deadline instead.
//
// Record per decision: event type handle<Event>, CODE 0 when the application's action was
// applied, 1 otherwise, CORRELATOR, CALLER, CALLED_PARTY and ACTION: 'Continue', 'EndCall',
// 'Route:<address>', 'Default:<action>' when the default replaced an application error (the
// reason goes to the log), with a 'Late:' prefix when the core had already applied its own
// default (decideCall returned false).
const { randomUUID } = require('node:crypto');
const native = require('../native');
const { KeepAlivePool } = require('../http1Client');
const { parseEndpointUrl } = require('../outbound/endpointUrl');
const { DeliveryRecords } = require('../delivery/records');
const { UsageStatus } = require('../usage');

// The SOAP builder and parser, required at the first decision, not at load (start-up, issue 15).
let soapBuilder = null;
let soapRequests = null;

const ACTIONS = new Set(['Continue', 'Route', 'EndCall']);
const IDLE_SWEEP_MS = 1000;
// The margin kept for the answer's way to the SIP thread: a fifth of the timeout, 20..250 ms.
const MIN_MARGIN_MS = 20;
const MAX_MARGIN_MS = 250;
const MIN_DEADLINE_MS = 10;

/**
 * How long the application has to answer a decision the SIP side waits timeoutMs for.
 * @param {number} timeoutMs
 * @returns {number}
 */
function decisionDeadlineMs(timeoutMs) {
  const margin = Math.min(MAX_MARGIN_MS, Math.max(MIN_MARGIN_MS, Math.floor(timeoutMs / 5)));
  return Math.max(MIN_DEADLINE_MS, timeoutMs - margin);
}

/**
 * An application's Action as the core takes it, or the reason it is not one.
 * @param {{ action: string, routingAddress?: string }} answer as read from the response
 * @returns {{ action: { action: string, routingAddress?: string } } | { error: string }}
 */
function checkAction(answer) {
  if (!ACTIONS.has(answer.action)) return { error: `unknown actionToPerform ${JSON.stringify(answer.action.slice(0, 40))}` };
  if (answer.action !== 'Route') return { action: { action: answer.action } };
  if (answer.routingAddress === undefined || answer.routingAddress === '') return { error: 'Route without routingAddress' };
  const parsed = native.parseAddress(answer.routingAddress);
  if (!parsed.ok) return { error: `Route to an invalid routingAddress (${parsed.reason || parsed.error})` };
  return { action: { action: 'Route', routingAddress: parsed.canonical } };
}

/** One handle* request in flight: the ResponseHandler of js/http1Client.js. */
class DecisionAttempt {
  constructor(client, due, operation, pool, request, deadlineMs) {
    this.client = client;
    this.due = due;
    this.operation = operation;
    this.pool = pool;
    this.request = request;
    this.wantsBody = true;
    this.done = false;
    this.retried = false;
    this.started = Date.now();
    this.deadlineMs = deadlineMs;
    this.timer = setTimeout(onDeadline, deadlineMs, this);
    this.settled = new Promise((resolve) => { this.resolve = resolve; });
  }

  onHttpResponse(status, body) {
    if (status !== 200) {
      this.finish(null, `HTTP ${status}`);
      return;
    }
    soapRequests ??= require('../soap/requests');
    const { readActionResponse } = soapRequests;
    let answer;
    try {
      answer = readActionResponse(body || '', this.operation);
    } catch (error) {
      this.finish(null, error.message);
      return;
    }
    const checked = checkAction(answer);
    if (checked.error) this.finish(null, checked.error);
    else this.finish(checked.action, '');
  }

  onHttpError(error, reusedConnection) {
    const code = error.code || 'ERROR';
    // A kept-alive connection the server closed just as it was reused: once more, if time is left.
    if (reusedConnection && !this.retried && !this.done && (code === 'ECONNRESET' || code === 'EPIPE')) {
      this.retried = true;
      this.pool.send(this, this.request);
      return;
    }
    this.finish(null, code === 'ERR_PX_DESTINATION' ? `endpoint refused: ${error.message}` : `${code}: ${error.message || code}`);
  }

  finish(action, reason) {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.client.attempts.delete(this);
    this.resolve(this.client.apply(this, action, reason));
  }
}

function onDeadline(attempt) {
  attempt.pool.abort(attempt);
  attempt.finish(null, `no answer within ${attempt.deadlineMs} ms`);
}

class DecisionClient {
  /**
   * @param {{ core: { decideCall: Function }, calls: { defaultAction?: string },
   *           usage: import('../usage').UsageLog, log?: Function,
   *           destinations?: import('../outbound/destinationPolicy').DestinationPolicy,
   *           budget?: import('../http1Client').ConnectionBudget }} options
   *   calls: the `calls` section (defaultAction); destinations/budget: the deliveries' SSRF guard
   *   and connection budget
   */
  constructor({ core, calls, usage, log = () => {}, destinations, budget }) {
    this.core = core;
    this.defaultAction = calls && calls.defaultAction === 'EndCall' ? 'EndCall' : 'Continue';
    this.log = log;
    this.destinations = destinations;
    this.budget = budget;
    this.pools = new Map();
    this.attempts = new Set();
    this.records = new DeliveryRecords(usage, log);
    this.sweeper = null;
    this.closed = false;
    this.counters = { decided: 0, defaulted: 0, late: 0 };
  }

  /**
   * Starts a decision for each due (returns at once).
   * @param {Array<import('../../index').CallDecisionDue>} decisions
   */
  handle(decisions) {
    for (const due of decisions) this.decide(due);
  }

  /**
   * One decision: resolves with what was given to the core once it is decided.
   * @param {import('../../index').CallDecisionDue} due
   * @returns {Promise<{ action: { action: string, routingAddress?: string }, fromApplication: boolean,
   *   accepted: boolean, reason: string }>}
   */
  decide(due) {
    soapBuilder ??= require('../soap/builder');
    const { handleEnvelope, handleOperation } = soapBuilder;
    const operation = handleOperation(due.event);
    const parsed = typeof due.endpoint === 'string' ? parseEndpointUrl(due.endpoint) : null;
    if (this.closed || operation === undefined || parsed === null) {
      const reason = this.closed ? 'gateway closing' : operation === undefined ? `no handle operation for ${due.event}` : 'unusable endpoint';
      return Promise.resolve(this.apply({ due, operation: operation || 'handle', started: Date.now() }, null, reason));
    }
    let body;
    try {
      body = handleEnvelope(due);
    } catch (error) {
      return Promise.resolve(this.apply({ due, operation, started: Date.now() }, null, error.message));
    }
    const { url, authorization } = parsed;
    const pool = this.poolOf(url);
    let head = `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${pool.host}\r\n`
      + 'Content-Type: text/xml; charset=utf-8\r\nSOAPAction: ""\r\nUser-Agent: parlayx-gateway\r\n';
    if (authorization !== null) head += `Authorization: ${authorization}\r\n`;
    const request = `${head}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const timeoutMs = Number.isFinite(due.timeoutMs) && due.timeoutMs > 0 ? due.timeoutMs : 1500;
    const attempt = new DecisionAttempt(this, due, operation, pool, request, decisionDeadlineMs(timeoutMs));
    this.attempts.add(attempt);
    pool.send(attempt, request);
    return attempt.settled;
  }

  poolOf(url) {
    let pool = this.pools.get(url.origin);
    if (pool === undefined) {
      pool = new KeepAlivePool(url, { destinations: this.destinations, budget: this.budget });
      this.pools.set(url.origin, pool);
      if (this.sweeper === null) {
        this.sweeper = setInterval(() => {
          const now = Date.now();
          for (const p of this.pools.values()) p.sweep(now);
        }, IDLE_SWEEP_MS);
        this.sweeper.unref();
      }
    }
    return pool;
  }

  /** Gives the core the application's action, or the default one; records and logs it. */
  apply(attempt, action, reason) {
    const { due, operation } = attempt;
    const fromApplication = action !== null;
    const decided = fromApplication ? action : { action: this.defaultAction };
    let accepted = false;
    try {
      accepted = this.core.decideCall(due.callRef, due.decisionId, decided) === true;
    } catch (error) {
      reason = reason || `decideCall failed: ${error.message}`;
      this.log('error', `${operation}: the decision could not be given to the core`, { correlator: due.correlator, error: error.message });
    }
    if (fromApplication) this.counters.decided++;
    else this.counters.defaulted++;
    if (!accepted) this.counters.late++;
    if (!fromApplication) {
      this.log('warn', `${operation}: application error, default action ${decided.action}`, {
        correlator: due.correlator, endpoint: due.endpoint, reason, elapsedMs: Date.now() - attempt.started,
      });
    }
    let shown = decided.action === 'Route' ? `Route:${decided.routingAddress}` : decided.action;
    if (!fromApplication) shown = `Default:${shown}`;
    if (!accepted) shown = `Late:${shown}`;
    const ok = fromApplication && accepted;
    this.records.add(due.globalId || randomUUID(), operation, ok ? UsageStatus.VALID : UsageStatus.FAILED_OPERATION, {
      CODE: ok ? '0' : '1',
      CORRELATOR: String(due.correlator || ''),
      CALLER: String(due.caller || ''),
      CALLED_PARTY: String(due.called || ''),
      ACTION: shown,
    });
    return { action: decided, fromApplication, accepted, reason };
  }

  /** Counters since start. */
  stats() {
    return { ...this.counters, inFlight: this.attempts.size };
  }

  /** Resolves once the records written so far were accepted by the usage log. */
  written() {
    return this.records.written();
  }

  /**
   * Stops: decisions in flight are abandoned (the SIP side applies its default when its timer
   * passes, or the core's close ends the calls), connections closed.
   */
  async close() {
    if (this.closed) return;
    this.closed = true;
    for (const attempt of [...this.attempts]) {
      attempt.pool.abort(attempt);
      attempt.done = true;
      clearTimeout(attempt.timer);
      attempt.resolve({ action: null, fromApplication: false, accepted: false, reason: 'gateway closing' });
    }
    this.attempts.clear();
    clearInterval(this.sweeper);
    for (const pool of this.pools.values()) pool.close();
    await this.records.written();
  }
}

module.exports = { DecisionClient, decisionDeadlineMs, checkAction };
