'use strict';
// Parlay X TerminalStatusNotificationManager (ES 202 391-8 §8.2) on top of the native
// notification engine: validation of startNotification / endNotification, the requester's
// notification limits, group expansion, and the usage record of every operation.
// Transport-independent: the SOAP handler and the JS API both call it. The limits are decided by
// the native policy per requester (PolicyEngine::checkNotificationLimits: the notifications
// section tightened by the `notifications:` of the requester's, service's and operation's
// policy). What is sent afterwards (statusNotification, statusError, statusEnd) is decided by the
// native core and sent by js/delivery/.
//
// Checks, in this order (docs/policy.md), the first failure answering the request:
//   service running (policy)             SVC0001                    FAILED_SERVICE_NOT_RUNNING
//   malformed part (also: endpoint over 2048 characters, correlator or interfaceName over 256)
//                                        SVC0002 <part>             INVALID
//   endpoint refused by the SSRF guard   SVC0002 endpoint           INVALID
//     (js/outbound: resolves to a loopback, private, link-local... address or an own listener,
//     or the name does not exist; a DNS failure other than that is SVC0001 FAILED_OPERATION)
//   the requester's notification limits (native/policy, before the endpoint's DNS look-up):
//   Busy criterion not allowed           POL0001 <explanation>      INVALID
//   frequency below minFrequencyMs       POL0009                    INVALID
//   duration above maxDurationSec        POL0001 <explanation>      INVALID
//   count absent, unlimited not allowed  POL0004                    INVALID
//   count above maxCount                 POL0005                    INVALID
//   the policy on the addresses (native/policy): scheme, address plan, groups, max targets,
//   admission control, privacy, pacer, traffic shaping, each with its status code
//   correlator already active            SVC0005 <correlator>, correlator   INVALID
//   unknown correlator (endNotification) SVC0002 correlator         INVALID
//   the core could not start/store it    SVC0001 <explanation>      FAILED_OPERATION
//   gateway shutting down                SVC0001 <explanation>      FAILED_SERVICE_NOT_RUNNING
// The notification limits come before the policy on the addresses so that a request refused for
// its content takes no admission, pacer or traffic-shaping capacity.
const { randomUUID } = require('node:crypto');
const { ParlayxFault } = require('./parlayx/faults');
const { UsageStatus } = require('./usage');
const { failure, recordOperation } = require('./recordedOperation');
const { parseEndpointUrl } = require('./outbound/endpointUrl');
const { checkSimpleReference } = require('./parlayx/simpleReference');
const { listForRequest } = require('./resourceLists');

/** TimeMetrics (common types) in milliseconds; Month and Year are fixed lengths. */
const METRIC_MS = Object.freeze(Object.assign(Object.create(null), {
  Millisecond: 1,
  Second: 1000,
  Minute: 60 * 1000,
  Hour: 3600 * 1000,
  Day: 86400 * 1000,
  Week: 7 * 86400 * 1000,
  Month: 30 * 86400 * 1000,
  Year: 365 * 86400 * 1000,
}));
const STATUSES = new Set(['Reachable', 'Unreachable', 'Busy']);
const XSD_INT_MAX = 2147483647;
// DNS answers for names that do not exist: the endpoint is wrong, not the service.
const NO_SUCH_HOST = new Set(['ENOTFOUND', 'ENODATA', 'EAI_NONAME']);

/**
 * @typedef {object} TimeMetric
 * @property {'Millisecond'|'Second'|'Minute'|'Hour'|'Day'|'Week'|'Month'|'Year'} metric
 * @property {number} units non-negative integer (xsd:int)
 */
/**
 * startNotification's parts (ES 202 391-8 §8.2.1); groups may appear in addresses.
 * @typedef {object} StartNotificationRequest
 * @property {{endpoint: string, interfaceName?: string, correlator: string}} reference
 * @property {string[]} addresses
 * @property {Array<'Reachable'|'Unreachable'|'Busy'>} [criteria] empty or absent: any status
 * @property {boolean} checkImmediate
 * @property {TimeMetric} frequency
 * @property {TimeMetric} [duration] absent or 0 units: the configured default
 * @property {number} [count] absent: unlimited (if the policy allows it)
 */

function invalid(part) {
  return failure('SVC0002', [part], UsageStatus.INVALID);
}

/** A TimeMetric in milliseconds (may exceed 2^53 for huge units; compared, never stored so). */
function timeMetricMs(value, part) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(part);
  const { metric, units } = value;
  if (typeof metric !== 'string' || !Object.hasOwn(METRIC_MS, metric)) throw invalid(part);
  if (!Number.isInteger(units) || units < 0 || units > XSD_INT_MAX) throw invalid(part);
  return METRIC_MS[metric] * units;
}

/** A core failure as a fault of the operation (so that it is answered and recorded). */
function coreFault(error, log, operation) {
  if (error instanceof ParlayxFault) return error;
  if (error && error.code === 'ERR_PX_CLOSED') {
    return failure('SVC0001', ['service is shutting down'], UsageStatus.FAILED_SERVICE_NOT_RUNNING);
  }
  log('error', `${operation} failed in the native core`, { error: (error && error.stack) || String(error) });
  return failure('SVC0001', [`${operation} could not be completed`], UsageStatus.FAILED_OPERATION);
}

class TerminalStatusNotificationService {
  /**
   * @param {{ core: any, config: any, usage: import('./usage').UsageLog,
   *           policy: import('./policy').ServicePolicy,
   *           destinations: import('./outbound/destinationPolicy').DestinationPolicy,
   *           counters?: import('./policy').PolicyCounters, log?: Function,
   *           onOperation?: import('./recordedOperation').OperationObserver }} deps
   *   the NativeCore, its config, the usage record log, the service policy, the SSRF guard of
   *   the endpoints, the outcome counters, a structured log sink, the metrics' observer
   */
  constructor({ core, config, usage, policy, destinations, counters, log = () => {}, onOperation }) {
    this.core = core;
    this.destinations = destinations;
    this.config = config;
    this.policy = policy;
    this.log = log;
    this.sink = {
      usage, serviceName: config.service.name, policyService: 'terminalStatus', counters,
      api: 'parlayx-terminal-status-notification', onOperation,
    };
  }

  /**
   * startNotification: validates the request, expands groups, and starts the notification in
   * the core (resolves once it is committed to the notification store). Its GLOBALID is shared
   * by the usage records of every later delivery of the notification.
   * @param {StartNotificationRequest} request
   * @param {import('./terminalStatus').RequestContext} [context]
   * @returns {Promise<void>} rejects with a ParlayxFault
   */
  startNotification(request, context = {}) {
    const requester = context.requester || '';
    const globalId = context.globalId || randomUUID();
    const req = request !== null && typeof request === 'object' ? request : {};
    const reference = req.reference !== null && typeof req.reference === 'object' ? req.reference : {};
    // What the record shows; refined as validation gets further.
    const shown = {
      TARGET: Array.isArray(req.addresses) ? req.addresses.filter((a) => typeof a === 'string').join(',') : '',
      CORRELATOR: typeof reference.correlator === 'string' ? reference.correlator : '',
      NOTIFICATION_ENDPOINT: typeof reference.endpoint === 'string' ? reference.endpoint : '',
      NOTIFICATION_EXPIRES_AT: '',
    };
    return recordOperation(this.sink, 'startNotification', { requester, globalId }, () => shown, async () => {
      this.policy.checkService(requester, 'startNotification');
      const { spec, timing } = this.validate(req, requester);
      await this.checkDestination(spec.endpoint);
      // validate() has checked that the addresses are a list of strings.
      await this.policy.run(requester, 'startNotification', req.addresses, async (decision) => {
        spec.addresses = decision.targets.map((t) => t.address);
        Object.assign(shown, timing);
        spec.requester = requester;
        spec.globalId = globalId;
        let outcome;
        try {
          // A request on exactly one group with a resource list: its members are watched
          // through one list subscription (presence.resourceLists; README "Resource lists").
          outcome = await this.core.startNotification(spec, listForRequest(this.config, req.addresses) || undefined);
        } catch (error) {
          throw coreFault(error, this.log, 'startNotification');
        }
        if (outcome === 'duplicate') {
          throw failure('SVC0005', [spec.correlator, 'correlator'], UsageStatus.INVALID);
        }
      }, (expanded) => { shown.TARGET = expanded.join(','); });
    });
  }

  /**
   * Checks a startNotification request part by part: the format of every part but the addresses
   * first (SVC), then the requester's notification limits (POL, decided natively); the addresses
   * are the policy's.
   * @param {any} req
   * @param {string} requester
   * @returns {{ spec: object, timing: Record<string, string> }} the core's spec, without
   *   addresses, requester and globalId; the record's timing attributes once it is admitted
   */
  validate(req, requester) {
    const reference = req.reference;
    const { correlator, interfaceName } = checkSimpleReference(reference, invalid);

    if (!Array.isArray(req.addresses) || req.addresses.length === 0 || !req.addresses.every((a) => typeof a === 'string')) {
      throw invalid('addresses');
    }

    const criteria = req.criteria === undefined || req.criteria === null ? [] : req.criteria;
    if (!Array.isArray(criteria) || !criteria.every((c) => STATUSES.has(c))) throw invalid('criteria');
    if (typeof req.checkImmediate !== 'boolean') throw invalid('checkImmediate');
    const frequencyMs = timeMetricMs(req.frequency, 'frequency');
    const durationMs = req.duration === undefined || req.duration === null ? 0 : timeMetricMs(req.duration, 'duration');
    const count = req.count;
    if (count !== undefined && count !== null && (!Number.isInteger(count) || count <= 0 || count > XSD_INT_MAX)) {
      throw invalid('count');
    }

    const limited = { busy: criteria.includes('Busy'), frequencyMs, durationMs };
    if (count !== undefined && count !== null) limited.count = count;
    const effectiveDurationMs = this.policy.checkNotificationLimits(requester, limited);

    const createdAtMs = Date.now();
    const expiresAtMs = createdAtMs + effectiveDurationMs;
    // A frequency longer than the duration allows one notification at most, as the duration does.
    const effectiveFrequencyMs = Math.min(frequencyMs, effectiveDurationMs);
    const timing = {
      DURATION: String(effectiveDurationMs),
      NOTIFICATION_EXPIRES_AT: new Date(expiresAtMs).toISOString(),
      FREQUENCY: String(effectiveFrequencyMs),
    };
    if (count !== undefined && count !== null) timing['NOTIFICATION LIMIT'] = String(count);
    const spec = {
      correlator,
      endpoint: reference.endpoint,
      interfaceName,
      criteria: [...new Set(criteria)],
      checkImmediate: req.checkImmediate,
      frequencyMs: effectiveFrequencyMs,
      createdAtMs,
      expiresAtMs,
    };
    if (count !== undefined && count !== null) spec.countLimit = count;
    return { spec, timing };
  }

  /** The SSRF guard on the endpoint's resolved addresses (SVC0002 endpoint when refused). */
  async checkDestination(endpoint) {
    try {
      await this.destinations.check(parseEndpointUrl(endpoint).url);
    } catch (error) {
      if (error.code === 'ERR_PX_DESTINATION') {
        this.log('warn', 'startNotification endpoint refused', { endpoint, reason: error.reason });
        throw invalid('endpoint');
      }
      if (NO_SUCH_HOST.has(error.code)) throw invalid('endpoint');
      throw failure('SVC0001', [`cannot resolve the endpoint host: ${error.code || error.message}`], UsageStatus.FAILED_OPERATION);
    }
  }

  /**
   * endNotification: ends the requester's notification with this correlator; no statusEnd is
   * sent for it.
   * @param {string} correlator
   * @param {import('./terminalStatus').RequestContext} [context]
   * @returns {Promise<void>} rejects with a ParlayxFault (SVC0002 for an unknown correlator)
   */
  endNotification(correlator, context = {}) {
    const requester = context.requester || '';
    const shown = { CORRELATOR: typeof correlator === 'string' ? correlator : '' };
    return recordOperation(this.sink, 'endNotification', { requester, globalId: context.globalId }, () => shown, async () => {
      this.policy.checkService(requester, 'endNotification');
      if (typeof correlator !== 'string' || correlator.length === 0) throw invalid('correlator');
      await this.policy.run(requester, 'endNotification', [], async () => {
        let ended;
        try {
          ended = await this.core.endNotification(requester, correlator);
        } catch (error) {
          throw coreFault(error, this.log, 'endNotification');
        }
        // Another requester's notification is unknown to this one.
        if (!ended) throw invalid('correlator');
      });
    });
  }

  /**
   * Admin: the active notifications with their progress; only those of `requester` when given
   * (a requester sees its own notifications only).
   * @param {{ requester?: string }} [filter]
   * @returns {object[]} as the core's listNotifications()
   */
  list({ requester } = {}) {
    const all = this.core.listNotifications();
    return requester === undefined ? all : all.filter((n) => n.requester === requester);
  }

  /**
   * Admin: the notifications of the whole service — clustered (docs/cluster.md) every
   * instance's as stored, else this instance's (list()).
   * @param {{ requester?: string }} [filter]
   * @returns {Promise<object[]>}
   */
  async listService({ requester } = {}) {
    const stored = this.core.readStoredNotifications(requester);
    return stored === null ? this.list({ requester }) : stored;
  }

  /**
   * Admin: ends a notification on the operator's behalf; the application gets a statusError for
   * the whole notification (SVC0001 with the reason).
   * @param {string} correlator
   * @param {{ requester?: string, reason?: string }} [options]
   * @returns {Promise<boolean>} false when there is no such notification
   */
  terminate(correlator, { requester = '', reason = 'notification terminated by the operator' } = {}) {
    if (typeof correlator !== 'string' || correlator.length === 0) {
      return Promise.reject(new TypeError('terminate(correlator): correlator must be a non-empty string'));
    }
    return this.core.terminateNotification(requester, correlator, String(reason));
  }
}

module.exports = { TerminalStatusNotificationService, METRIC_MS };
