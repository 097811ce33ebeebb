'use strict';
// The JS side of the service policy. The decisions are the native core's (native/policy, order
// and rules in docs/policy.md); this module turns them into Parlay X faults carrying their usage
// STATUSCODE, releases admissions, and keeps the outcome counters per requester, service,
// operation and outcome.
const { ParlayxFault } = require('./parlayx/faults');
const { UsageStatus } = require('./usage');

const STATUS_NAMES = Object.freeze(Object.fromEntries(Object.entries(UsageStatus).map(([name, code]) => [code, name])));

/** Outcome name of a STATUSCODE ('VALID', 'FAILED_PACER', ...). */
function statusName(code) {
  return STATUS_NAMES[code] || 'UNKNOWN';
}

/**
 * A fault of a policy decision (or of one of its targets) as a ParlayxFault with usageStatus.
 * @param {{ messageId: string, variables: string[] }} fault
 * @param {number} status
 */
function policyFault(fault, status) {
  const error = new ParlayxFault(fault.messageId, fault.variables);
  error.usageStatus = status;
  return error;
}

/**
 * @typedef {object} PolicyTarget
 * @property {string} address as requested (or a group member as configured)
 * @property {string} canonical
 * @property {number} status VALID (0) or why this target alone is refused
 * @property {{messageId: string, variables: string[]}} [fault]
 * @property {boolean} process false: left out by the process-up-to limit (NotRetrieved)
 */
/**
 * @typedef {object} PolicyDecision
 * @property {number} status
 * @property {boolean} refused
 * @property {{messageId: string, variables: string[]}} [fault]
 * @property {PolicyTarget[]} targets
 * @property {number} admission non-zero: to be released once the request has finished
 */

class ServicePolicy {
  /**
   * @param {any} core the NativeCore (evaluatePolicy, checkServicePolicy,
   *   checkNotificationLimits, releasePolicy)
   * @param {{ prepare: (requester: string, operation: string, addresses: string[]) => Promise<void> } | null} [groups]
   *   the XCAP group source (js/xcapGroups.js): fetches the documents the core needs before it
   *   resolves the request's groups
   */
  constructor(core, groups = null) {
    this.core = core;
    this.groups = groups;
  }

  /**
   * Step 1 alone (service running), for operations that check other parts before addresses.
   * @throws {ParlayxFault} SVC0001 (FAILED_SERVICE_NOT_RUNNING)
   */
  checkService(requester, operation) {
    const decision = this.core.checkServicePolicy(requester, operation);
    if (decision.refused) throw policyFault(decision.fault, decision.status);
  }

  /**
   * The requester's startNotification limits (native/policy: every policy level and the
   * notifications section combined, most restrictive wins). Takes no admission.
   * @param {string} requester
   * @param {{ busy: boolean, frequencyMs: number, durationMs: number, count?: number }} request
   *   durationMs 0: none asked for
   * @returns {number} the notification's duration in ms: as asked, or the requester's default
   * @throws {ParlayxFault} POL0001, POL0004, POL0005 or POL0009 (INVALID)
   */
  checkNotificationLimits(requester, request) {
    const decision = this.core.checkNotificationLimits(requester, request);
    if (decision.refused) throw policyFault(decision.fault, decision.status);
    return decision.durationMs;
  }

  /**
   * Runs every policy step, then `work` under the admitted decision, and releases the admission
   * afterwards whatever happens. A refused request throws the fault of the first refusing check.
   * @template T
   * @param {string} requester
   * @param {string} operation e.g. 'getStatus'
   * @param {string[]} addresses
   * @param {(decision: PolicyDecision) => Promise<T>} work
   * @param {(addresses: string[]) => void} [onTargets] told the expanded targets as soon as they
   *   are known, also when the request is refused after group expansion (for the usage record)
   * @returns {Promise<T>}
   * @throws {ParlayxFault} with its usageStatus
   */
  async run(requester, operation, addresses, work, onTargets) {
    if (this.groups !== null) await this.groups.prepare(requester, operation, addresses);
    const decision = this.core.evaluatePolicy(requester, operation, addresses);
    if (onTargets && decision.targets.length > 0) onTargets(decision.targets.map((t) => t.address));
    if (decision.refused) throw policyFault(decision.fault, decision.status);
    try {
      return await work(decision);
    } finally {
      if (decision.admission) this.core.releasePolicy(decision.admission);
    }
  }
}

/**
 * Outcome counters: per requester, service, operation and outcome (a STATUSCODE name, or
 * UNAUTHENTICATED), for whole requests (level 'request') and for the targets of a group request
 * refused on their own (level 'target').
 */
class PolicyCounters {
  constructor() {
    /** @type {Map<string, {requester: string, service: string, operation: string, outcome: string, level: string, count: number}>} */
    this.counts = new Map();
  }

  /**
   * @param {{requester: string, service: string, operation: string, outcome: string, level?: 'request'|'target'}} key
   * @param {number} [n]
   */
  add({ requester, service, operation, outcome, level = 'request' }, n = 1) {
    const id = `${requester}\u0000${service}\u0000${operation}\u0000${outcome}\u0000${level}`;
    const entry = this.counts.get(id);
    if (entry) entry.count += n;
    else this.counts.set(id, { requester, service, operation, outcome, level, count: n });
  }

  /**
   * The counters, optionally only those of one requester, sorted for stable output.
   * @param {{ requester?: string }} [filter]
   */
  snapshot({ requester } = {}) {
    const rows = [];
    for (const entry of this.counts.values()) {
      if (requester === undefined || entry.requester === requester) rows.push({ ...entry });
    }
    const key = (r) => [r.requester, r.service, r.operation, r.level, r.outcome].join('\u0000');
    return rows.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  }
}

module.exports = { ServicePolicy, PolicyCounters, policyFault, statusName };
