'use strict';
// Parlay X Terminal Status (ES 202 391-8) semantics on top of the native presence watcher: the
// service policy (native/policy: address validation, groups, target limits, admission, privacy,
// pacing, traffic shaping), the mapping of SIP fetch outcomes to results and faults, and the
// usage record of every operation. Transport-independent: the SOAP handler and the JS API both
// call it.
const { UsageStatus } = require('./usage');
const { failure, recordOperation } = require('./recordedOperation');
const { policyFault } = require('./policy');
const { listForRequest } = require('./resourceLists');

/** @typedef {'Reachable'|'Unreachable'|'Busy'} Status */
/**
 * @typedef {object} StatusData
 * @property {string} address
 * @property {'Retrieved'|'NotRetrieved'|'Error'} reportStatus
 * @property {Status} [currentStatus]
 * @property {ParlayxFault} [errorInformation]
 */
/**
 * Who asks, and the id shared by every usage record the request causes.
 * @typedef {object} RequestContext
 * @property {string} [requester]
 * @property {string} [globalId]
 */

/**
 * How a fetch outcome that is not a status becomes a fault (README "Presence to status"). The
 * fault keeps the outcome's kind and SIP status as `presenceOutcome`, for APIs whose errors say
 * more than SVC0001 (js/camara/errors.js).
 */
function outcomeFault(outcome) {
  const fault = faultOfOutcome(outcome);
  fault.presenceOutcome = { kind: outcome.kind, sipStatus: outcome.sipStatus };
  return fault;
}

function faultOfOutcome(outcome) {
  switch (outcome.kind) {
    case 'sipError':
      return failure('SVC0001', [`presence server answered ${outcome.sipStatus} ${outcome.detail}`.trim()],
        UsageStatus.FAILED_OPERATION);
    case 'timeout':
      return failure('SVC0001', [`presence server did not answer in time (${outcome.detail})`],
        UsageStatus.FAILED_OPERATION);
    case 'badDocument':
      return failure('SVC0001', [`presence document not usable: ${outcome.detail}`], UsageStatus.FAILED_OPERATION);
    default:
      return failure('SVC0001', ['service is shutting down'], UsageStatus.FAILED_SERVICE_NOT_RUNNING);
  }
}

class TerminalStatusService {
  /**
   * @param {{ core: any, config: any, usage: import('./usage').UsageLog,
   *           policy: import('./policy').ServicePolicy, counters?: import('./policy').PolicyCounters,
   *           onOperation?: import('./recordedOperation').OperationObserver,
   *           onStatus?: (status: Status) => void }} deps
   *   the NativeCore, its config, the usage record log, the service policy, the outcome counters,
   *   the metrics' observers of finished operations and of each terminal status answered
   */
  constructor({ core, config, usage, policy, counters, onOperation, onStatus }) {
    this.core = core;
    this.onStatus = onStatus || null;
    this.config = config;
    this.usage = usage;
    this.policy = policy;
    this.sink = {
      usage, serviceName: config.service.name, policyService: 'terminalStatus', counters,
      api: 'parlayx-terminal-status', onOperation,
    };
    /** The record sinks of the other APIs served by getStatusFor, by api. */
    this.fronts = new Map();
    this.flushScheduled = false;
    this.flushNow = () => {
      this.flushScheduled = false;
      this.core.flush();
    };
  }

  /**
   * Starts a presence fetch. Fetches started in one turn of the event loop (e.g. every request
   * read in one poll, or a whole group) reach the SIP thread with a single wake-up.
   * @param {string} canonical a valid tel/sip/sips address
   */
  fetch(canonical) {
    const outcome = this.core.fetchStatus(canonical, true);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushNow);
    }
    return outcome;
  }

  /**
   * getStatus: one terminal, never a group.
   * @param {string} address
   * @param {RequestContext} [context]
   * @returns {Promise<Status>}
   */
  getStatus(address, context = {}) {
    return this.#getStatus(this.sink, address, context, (status) => status);
  }

  /**
   * getStatus on behalf of another API (the CAMARA front): the same policy operation (getStatus),
   * fetch or live-subscription answer, faults and usage record, whose SERVICE and metrics api are
   * that API's. Also tells when the status was learnt (the NOTIFY's arrival, or the answer from
   * the running subscription, which is current while its dialog lives).
   * @param {{ serviceName: string, api: string }} front
   * @param {string} address
   * @param {RequestContext} [context]
   * @returns {Promise<{ status: Status, observedAtMs: number }>}
   */
  getStatusFor(front, address, context = {}) {
    let sink = this.fronts.get(front.api);
    if (sink === undefined || sink.serviceName !== front.serviceName) {
      sink = { ...this.sink, serviceName: front.serviceName, api: front.api };
      this.fronts.set(front.api, sink);
    }
    return this.#getStatus(sink, address, context, (status) => ({ status, observedAtMs: Date.now() }));
  }

  #getStatus(sink, address, context, result) {
    const target = typeof address === 'string' ? address : '';
    return recordOperation(sink, 'getStatus', context, () => ({ TARGET: target }), () =>
      this.policy.run(context.requester || '', 'getStatus', [target], async (decision) => {
        const outcome = await this.fetch(decision.targets[0].canonical);
        if (outcome.kind === 'status') return result(this.answered(outcome.status));
        throw outcomeFault(outcome);
      }));
  }

  /**
   * getStatusForGroup: every address (groups expanded to their members) fetched in parallel;
   * answers within the fetch timeout with one StatusData per distinct terminal. Targets refused
   * on their own (address plan, scheme, privacy) are answered Error, the ones beyond a partial
   * process-up-to limit NotRetrieved.
   * @param {string[]} addresses
   * @param {RequestContext} [context]
   * @returns {Promise<StatusData[]>}
   */
  getStatusForGroup(addresses, context = {}) {
    const given = Array.isArray(addresses) ? addresses.filter((a) => typeof a === 'string') : [];
    // A list with something other than strings is malformed as a whole.
    const requested = Array.isArray(addresses) && given.length === addresses.length ? given : [];
    let shown = given.join(',');
    return this.recorded('getStatusForGroup', context, () => shown, (notes) =>
      this.policy.run(context.requester || '', 'getStatusForGroup', requested, (decision) => {
        if (decision.status !== UsageStatus.VALID) notes.statusCode = decision.status;
        // A group with a resource list: the targets the policy let through are fetched with one
        // list SUBSCRIBE (js/resourceLists.js); refused and NotRetrieved ones as below.
        const listed = this.listFetches(listForRequest(this.config, requested), decision.targets);
        return Promise.all(decision.targets.map((target, index) => {
          if (target.status !== UsageStatus.VALID) {
            const fault = policyFault(target.fault, target.status);
            notes.targetFailures.push({ target: target.address, fault });
            return { address: target.address, reportStatus: 'Error', errorInformation: fault };
          }
          if (!target.process) return { address: target.address, reportStatus: 'NotRetrieved' };
          return this.statusData(target, listed && listed[index]);
        }));
      }, (expanded) => { shown = expanded.join(','); }));
  }

  /**
   * The list fetch of the targets to fetch (valid, processed), by target index; null without a
   * list (presence.resourceLists).
   * @returns {Array<Promise<object>|undefined>|null}
   */
  listFetches(listUri, targets) {
    if (listUri === null) return null;
    const indexes = [];
    targets.forEach((t, i) => { if (t.status === UsageStatus.VALID && t.process) indexes.push(i); });
    if (indexes.length === 0) return null;
    const promises = this.core.fetchStatusList(listUri, indexes.map((i) => targets[i].canonical));
    const byIndex = new Array(targets.length);
    indexes.forEach((targetIndex, k) => { byIndex[targetIndex] = promises[k]; });
    return byIndex;
  }

  /** @returns {Promise<StatusData>} */
  async statusData({ address, canonical }, listed) {
    const outcome = await (listed || this.fetch(canonical));
    if (outcome.kind === 'status') {
      return { address, reportStatus: 'Retrieved', currentStatus: this.answered(outcome.status) };
    }
    if (outcome.kind === 'timeout' || outcome.kind === 'shutdown') {
      return { address, reportStatus: 'NotRetrieved' };
    }
    return { address, reportStatus: 'Error', errorInformation: outcomeFault(outcome) };
  }

  /** Tells the status observer (the metrics' status mix) of a status answered; returns it. */
  answered(status) {
    if (this.onStatus !== null) this.onStatus(status);
    return status;
  }

  /** Runs an operation and writes its usage record (js/recordedOperation.js). */
  recorded(eventType, context, target, operation) {
    return recordOperation(this.sink, eventType, context, () => ({ TARGET: target() }), operation);
  }
}

module.exports = { TerminalStatusService, outcomeFault };
