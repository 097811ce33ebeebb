'use strict';
// What startCallNotification and startCallDirectionNotification (and their stops) share: the
// check of a start request part by part, the addresses (exact or a trailing-`*` pattern), the
// core's refusals as Parlay X faults, and the usage record of the operation (seeds/001 table 1).
// The two services (callNotifications.js, callDirection.js) differ only in their kind, their
// operation names and their record's SERVICE.
//
// Checks of a start, in this order, the first failure answering the request:
//   service running (policy)              SVC0001                      FAILED_SERVICE_NOT_RUNNING
//   malformed reference part (endpoint over 2048 characters, correlator or interfaceName over 256,
//     control characters)                 SVC0002 <part>               INVALID
//   no addresses, or one that is not a string                SVC0002 addresses   INVALID
//     (an exact address or a group is checked by the policy below, with the same fault)
//   criteria not CallEvents of the request's generation (2.x: no Answer/Disconnected; Call
//     Direction: only the four events with a handle* operation)
//                                         SVC0002 criteria             INVALID
//   addressDirection other than Called    POL0001 <explanation>        INVALID
//   a pattern (trailing '*') that is not valid                         SVC0002 addresses INVALID
//   endpoint refused by the SSRF guard    SVC0002 endpoint             INVALID
//   the policy on the addresses (native/policy: address plan, privacy, pacer, ...; a pattern is
//     checked through its fixed prefix)   its own fault and status
//   correlator live for this kind         SVC0005 <correlator>, correlator   INVALID
//   overlapping criteria                  SVC0008 <address>            INVALID
//   calls disabled / gateway closing      SVC0001 <explanation>        FAILED_SERVICE_NOT_RUNNING
//   the core failed otherwise             SVC0001 <explanation>        FAILED_OPERATION
// A stop: service running, then correlator present, then the core: unknown AND another
// requester's registration are the same SVC0002 correlator (a requester learns nothing about the
// others' correlators), as endNotification does.
const { randomUUID } = require('node:crypto');
const native = require('../native');
const { ParlayxFault, CATALOGUE } = require('../parlayx/faults');
const { UsageStatus } = require('../usage');
const { statusName } = require('../policy');
const { failure } = require('../recordedOperation');
const { parseEndpointUrl } = require('../outbound/endpointUrl');
const { checkSimpleReference, CONTROL, MAX_ENDPOINT_CHARS } = require('../parlayx/simpleReference');

/** Parlay X CallEvents (3.x order) and their names in CALL_EVENTS (seeds/001 table 1). */
const EVENT_RECORD_NAMES = Object.freeze({
  Busy: 'busy',
  NotReachable: 'not_reachable',
  NoAnswer: 'no_answer',
  CalledNumber: 'called_number',
  Answer: 'answer',
  Disconnected: 'disconnected',
});
const EVENTS_V2 = Object.freeze(['Busy', 'NotReachable', 'NoAnswer', 'CalledNumber']);
const EVENTS_V3 = Object.freeze(Object.keys(EVENT_RECORD_NAMES));
// CALL_EVENTS joins the seed's lower-case names with ',' (like TARGET of Terminal Status).
const CALL_EVENTS_SEPARATOR = ',';

const NO_SUCH_HOST = new Set(['ENOTFOUND', 'ENODATA', 'EAI_NONAME']);
// A pattern's fixed part: at least two characters after the scheme ("tel:+4*"), so that one
// registration cannot watch a whole scheme.
const MIN_PATTERN_CHARS_AFTER_SCHEME = 2;

/** A fault with the reason METHOD shows after ':' in the usage record. */
function refusal(messageId, variables, statusCode, reason) {
  const fault = failure(messageId, variables, statusCode);
  fault.recordReason = reason;
  return fault;
}

function invalid(part, reason) {
  return refusal('SVC0002', [part], UsageStatus.INVALID, reason || `Invalid${part[0].toUpperCase()}${part.slice(1)}`);
}

/** "Privacy error" -> "PrivacyError": the METHOD reason of a fault that did not name one. */
function reasonOf(fault) {
  if (fault.recordReason) return fault.recordReason;
  // The policy's refusal of an address (or a group) it cannot use.
  if (fault.messageId === 'SVC0002' && fault.variables[0] === 'addresses') return 'InvalidAddress';
  const title = Object.hasOwn(CATALOGUE, fault.messageId) ? CATALOGUE[fault.messageId].title : fault.messageId;
  return String(title).replace(/(?:^|\s+)(\w)/g, (all, letter) => letter.toUpperCase()).replace(/\W/g, '');
}

/**
 * One address of a start request as the core takes it: the canonical address, or a pattern
 * `<canonical prefix>*` whose prefix (without the `*`) parses as an address of its scheme and has
 * at least two characters after the scheme. `tel:+44*` watches every tel:+44... number;
 * `sip:alice*` every sip:alice... URI (the canonical form: lower-case host, no parameters).
 * @param {string} address
 * @returns {{ pattern: boolean, canonical: string } | null} canonical is the prefix for a pattern;
 *   null when invalid
 */
function parseWatchedAddress(address) {
  if (typeof address !== 'string' || address.length === 0 || address.length > MAX_ENDPOINT_CHARS || CONTROL.test(address)) {
    return null;
  }
  const pattern = address.endsWith('*');
  const text = pattern ? address.slice(0, -1) : address;
  if (pattern && text.includes('*')) return null;
  const parsed = native.parseAddress(text);
  if (!parsed.ok) return null;
  if (pattern) {
    const colon = parsed.canonical.indexOf(':');
    if (colon < 0 || parsed.canonical.length - colon - 1 < MIN_PATTERN_CHARS_AFTER_SCHEME) return null;
  }
  return { pattern, canonical: parsed.canonical };
}

/**
 * The criteria of a request, checked against its generation: [] (every event) becomes the
 * generation's events, so that a 2.x registration never gets a 3.x event.
 * @returns {string[]} without repeats
 * @throws {ParlayxFault} SVC0002 criteria
 */
function checkCriteria(criteria, namespace, kind = 'notification') {
  // Call Direction decides only where a handle* operation exists (the four 2.x events).
  // The SOAP builder is required at the first call registration, not at load (start-up, issue 15).
  const allowed = kind === 'direction' || require('../soap/builder').isParlayX2(namespace) ? EVENTS_V2 : EVENTS_V3;
  const given = criteria === undefined || criteria === null ? [] : criteria;
  if (!Array.isArray(given) || !given.every((c) => typeof c === 'string' && allowed.includes(c))) {
    throw invalid('criteria');
  }
  return given.length === 0 ? [...allowed] : [...new Set(given)];
}

/** CALL_EVENTS of the record: the seed's names of the events, in the request's order. */
function callEventsAttribute(criteria) {
  return criteria.filter((c) => Object.hasOwn(EVENT_RECORD_NAMES, c)).map((c) => EVENT_RECORD_NAMES[c])
    .join(CALL_EVENTS_SEPARATOR);
}

/** A core refusal or failure as the fault of the operation (binding-contract.md error codes). */
function coreFault(error, log, operation, correlator) {
  if (error instanceof ParlayxFault) return error;
  const code = error && error.code;
  if (code === 'ERR_PX_DUPLICATE_CORRELATOR') {
    return refusal('SVC0005', [correlator, 'correlator'], UsageStatus.INVALID, 'DuplicateCorrelator');
  }
  if (code === 'ERR_PX_OVERLAPPING_CRITERIA') {
    return refusal('SVC0008', [String(error.address || '')], UsageStatus.INVALID, 'OverlappedCriteria');
  }
  if (code === 'ERR_PX_CALLS_DISABLED') {
    return refusal('SVC0001', ['call services are disabled'], UsageStatus.FAILED_SERVICE_NOT_RUNNING, 'ServiceDisabled');
  }
  if (code === 'ERR_PX_CLOSED') {
    return refusal('SVC0001', ['service is shutting down'], UsageStatus.FAILED_SERVICE_NOT_RUNNING, 'ShuttingDown');
  }
  log('error', `${operation} failed in the native core`, { error: (error && error.stack) || String(error) });
  return refusal('SVC0001', [`${operation} could not be completed`], UsageStatus.FAILED_OPERATION, 'CoreFailure');
}

/**
 * The start/stop operations of one registration kind.
 */
class CallRegistrationOperations {
  /**
   * @param {{ kind: 'notification'|'direction', operations: { start: string, stop: string },
   *           policyService: string, serviceName: string, core: any,
   *           usage: import('../usage').UsageLog, policy: import('../policy').ServicePolicy,
   *           destinations: import('../outbound/destinationPolicy').DestinationPolicy,
   *           counters?: import('../policy').PolicyCounters, log?: Function, api?: string,
   *           onOperation?: import('../recordedOperation').OperationObserver }} options
   *   operations: the Parlay X operation names (also the record's event types and the policy's
   *   operation names); serviceName: the record's SERVICE (config calls.*ServiceName); api and
   *   onOperation: the metrics' label and observer of finished operations
   */
  constructor({
    kind, operations, policyService, serviceName, core, usage, policy, destinations, counters, log = () => {},
    api = '', onOperation,
  }) {
    this.kind = kind;
    this.api = api;
    this.onOperation = onOperation;
    this.operations = operations;
    this.policyService = policyService;
    this.serviceName = serviceName;
    this.core = core;
    this.usage = usage;
    this.policy = policy;
    this.destinations = destinations;
    this.counters = counters;
    this.log = log;
  }

  /**
   * A start request: checks, policy, then the core (resolves once the registration is stored).
   * @param {import('./callNotifications').StartCallNotificationRequest} request
   * @param {{ requester?: string, globalId?: string }} [context]
   * @returns {Promise<void>} rejects with a ParlayxFault
   */
  start(request, context = {}) {
    const requester = context.requester || '';
    const operation = this.operations.start;
    const req = request !== null && typeof request === 'object' ? request : {};
    const reference = req.reference !== null && typeof req.reference === 'object' ? req.reference : {};
    const shown = {
      CORRELATOR: typeof reference.correlator === 'string' ? reference.correlator : '',
      CALLED_PARTY: Array.isArray(req.addresses) ? req.addresses.filter((a) => typeof a === 'string').join(',') : '',
      CALL_EVENTS: Array.isArray(req.criteria) ? callEventsAttribute(req.criteria) : '',
    };
    return this.recorded(operation, requester, context.globalId, shown, async () => {
      this.policy.checkService(requester, operation);
      const namespace = typeof req.namespace === 'string' && req.namespace !== '' ? req.namespace : this.defaultNamespace();
      const spec = this.checkReference(reference);
      if (!Array.isArray(req.addresses) || req.addresses.length === 0) throw invalid('addresses', 'NoAddresses');
      if (!req.addresses.every((a) => typeof a === 'string')) throw invalid('addresses', 'InvalidAddress');
      const criteria = checkCriteria(req.criteria, namespace, this.kind);
      shown.CALL_EVENTS = callEventsAttribute(criteria);
      if (req.addressDirection !== undefined && req.addressDirection !== 'Called') {
        if (req.addressDirection !== 'Calling') throw invalid('addressDirection');
        throw refusal('POL0001', ['addressDirection Calling is not supported'], UsageStatus.INVALID, 'CallingNotSupported');
      }
      // The policy sees exact addresses and groups as given (it checks and canonicalises them and
      // expands groups), and a pattern, checked here, through its fixed prefix.
      const prefixes = new Set();
      const policyAddresses = req.addresses.map((address) => {
        if (!address.endsWith('*')) return address;
        const parsed = parseWatchedAddress(address);
        if (parsed === null) throw invalid('addresses', 'InvalidAddress');
        prefixes.add(parsed.canonical);
        return parsed.canonical;
      });
      await this.checkDestination(spec.endpoint, operation);
      await this.policy.run(requester, operation, policyAddresses, async (decision) => {
        const addresses = decision.targets.map((t) => {
          const canonical = t.canonical || t.address;
          return prefixes.has(canonical) ? `${canonical}*` : canonical;
        });
        shown.CALLED_PARTY = addresses.join(',');
        try {
          await this.core.startCallRegistration({
            kind: this.kind, requester, correlator: spec.correlator, addresses: [...new Set(addresses)], criteria,
            endpoint: spec.endpoint, interfaceName: spec.interfaceName, ns: namespace,
          });
        } catch (error) {
          throw coreFault(error, this.log, operation, spec.correlator);
        }
      }, (expanded) => { shown.CALLED_PARTY = expanded.join(','); });
    });
  }

  /**
   * A stop request: ends the requester's registration with this correlator.
   * @param {{ correlator: string } | string} request the typed request, or the correlator
   * @param {{ requester?: string, globalId?: string }} [context]
   * @returns {Promise<void>} rejects with a ParlayxFault (SVC0002 correlator when unknown)
   */
  stop(request, context = {}) {
    const requester = context.requester || '';
    const operation = this.operations.stop;
    const correlator = typeof request === 'string' ? request : request && request.correlator;
    const shown = { CORRELATOR: typeof correlator === 'string' ? correlator : '' };
    return this.recorded(operation, requester, context.globalId, shown, async () => {
      this.policy.checkService(requester, operation);
      if (typeof correlator !== 'string' || correlator.length === 0) throw invalid('correlator');
      await this.policy.run(requester, operation, [], async () => {
        let outcome;
        try {
          outcome = await this.core.stopCallRegistration(this.kind, requester, correlator);
        } catch (error) {
          throw coreFault(error, this.log, operation, correlator);
        }
        // Another requester's registration is unknown to this one.
        if (outcome !== 'stopped') throw invalid('correlator', 'UnknownCorrelator');
      });
    });
  }

  /** The namespace a request without one (the JS API) is taken in: the served 3.x WSDL's. */
  defaultNamespace() {
    return this.kind === 'direction'
      ? 'http://www.csapi.org/schema/parlayx/call_direction/notification_manager/v3_1/local'
      : 'http://www.csapi.org/schema/parlayx/call_notification/notification_manager/v3_1/local';
  }

  /** SimpleReference: endpoint (a usable http(s) URL), interfaceName, correlator. */
  checkReference(reference) {
    return checkSimpleReference(reference, (part) => invalid(part));
  }

  /** The SSRF guard on the endpoint's resolved addresses (SVC0002 endpoint when refused). */
  async checkDestination(endpoint, operation) {
    try {
      await this.destinations.check(parseEndpointUrl(endpoint).url);
    } catch (error) {
      if (error.code === 'ERR_PX_DESTINATION') {
        this.log('warn', `${operation} endpoint refused`, { endpoint, reason: error.reason });
        throw invalid('endpoint', 'BlockedEndpoint');
      }
      if (NO_SUCH_HOST.has(error.code)) throw invalid('endpoint');
      throw refusal('SVC0001', [`cannot resolve the endpoint host: ${error.code || error.message}`],
        UsageStatus.FAILED_OPERATION, 'EndpointLookupFailed');
    }
  }

  /**
   * Runs an operation and writes its record (seeds/001 table 1: CODE, REQUESTER, METHOD with
   * ':reason' on failure, CORRELATOR, CALLED_PARTY on starts, CALL_EVENTS) before the answer
   * leaves. A record that cannot be queued fails the request with SVC0001, as for Terminal Status.
   */
  async recorded(operation, requester, globalId, shown, work) {
    const started = performance.now();
    let fault;
    try {
      await work();
    } catch (error) {
      if (!(error instanceof ParlayxFault)) throw error;
      fault = error;
    }
    const statusCode = fault ? fault.usageStatus ?? UsageStatus.FAILED_OTHER : UsageStatus.VALID;
    const attributes = {
      CODE: fault ? '1' : '0',
      REQUESTER: requester,
      METHOD: fault ? `${operation}:${reasonOf(fault)}` : operation,
      CORRELATOR: shown.CORRELATOR,
    };
    if (operation === this.operations.start) {
      attributes.CALLED_PARTY = shown.CALLED_PARTY;
      attributes.CALL_EVENTS = shown.CALL_EVENTS;
    }
    if (this.counters) this.counters.add({ requester, service: this.policyService, operation, outcome: statusName(statusCode) });
    // `service`: the record's SERVICE column for a store that takes it per entry (calls.*ServiceName).
    const entry = { globalId: globalId || randomUUID(), eventType: operation, statusCode, attributes, service: this.serviceName };
    const observe = (code) => {
      if (this.onOperation) {
        this.onOperation({
          api: this.api, operation, outcome: statusName(code), seconds: (performance.now() - started) / 1000,
          requester, requestId: entry.globalId,
        });
      }
    };
    try {
      await this.usage.record([entry]);
    } catch (error) {
      if (error.code !== 'ERR_PX_USAGE_QUEUE_FULL' && error.code !== 'ERR_PX_USAGE_WRITE') throw error;
      observe(UsageStatus.FAILED_JMS_ENQUEUE);
      throw failure('SVC0001', ['usage records cannot be written (queue full)'], UsageStatus.FAILED_JMS_ENQUEUE);
    }
    observe(statusCode);
    if (fault) throw fault;
  }
}

module.exports = {
  CallRegistrationOperations,
  parseWatchedAddress,
  checkCriteria,
  callEventsAttribute,
  EVENT_RECORD_NAMES,
  CALL_EVENTS_SEPARATOR,
};
