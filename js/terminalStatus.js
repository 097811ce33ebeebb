'use strict';
// Parlay X Terminal Status (ES 202 391-8) semantics on top of the native presence watcher:
// address validation, groups, target limits, the mapping of SIP fetch outcomes to results and
// faults, and the usage record of every operation. Transport-independent: the SOAP handler and
// the JS API both call it.
const { UsageStatus } = require('./usage');
const { failure, recordOperation } = require('./recordedOperation');

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

/** How a fetch outcome that is not a status becomes a fault (README "Presence to status"). */
function outcomeFault(outcome) {
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

function addressFault(parsed, part) {
  return failure('SVC0002', [part], parsed.error === 'unknownScheme' ? UsageStatus.UNKNOWN_SCHEME : UsageStatus.INVALID);
}

class TerminalStatusService {
  /**
   * @param {{ core: any, config: any, native: any, usage: import('./usage').UsageLog }} deps
   *   the NativeCore, its config, the addon, the usage record log
   */
  constructor({ core, config, native, usage }) {
    this.core = core;
    this.config = config;
    this.native = native;
    this.usage = usage;
    this.groupSchemes = new Set(config.groups.schemes.map((s) => s.toLowerCase()));
    // The core stores group URIs with a lower-case scheme; look them up the same way.
    this.groupMembers = new Map(Object.entries(config.groups.members));
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

  /** The group URI as configured (scheme lower-cased), or null when address is no group. */
  groupKey(address) {
    const colon = address.indexOf(':');
    if (colon <= 0) return null;
    const key = address.slice(0, colon).toLowerCase() + address.slice(colon);
    return this.groupMembers.has(key) || this.groupSchemes.has(address.slice(0, colon).toLowerCase()) ? key : null;
  }

  /**
   * Replaces each group URI by its configured members and drops empty and repeated addresses
   * (first one kept). Shared by getStatusForGroup and startNotification.
   * @param {string[]} addresses
   * @param {string} part message part named in the fault
   * @returns {string[]}
   * @throws {import('./parlayx/faults').ParlayxFault} SVC0002 (UNRESOLVED_GROUPS) for an unknown group
   */
  expandGroups(addresses, part) {
    const expanded = [];
    for (const address of addresses) {
      const group = this.groupKey(address);
      if (group === null) {
        expanded.push(address);
        continue;
      }
      const members = this.groupMembers.get(group);
      if (!members) throw failure('SVC0002', [part], UsageStatus.UNRESOLVED_GROUPS);
      expanded.push(...members);
    }
    const seen = new Set();
    return expanded.filter((t) => t.length > 0 && !seen.has(t) && seen.add(t));
  }

  /** @param {string} address */
  isGroup(address) {
    return this.groupKey(address) !== null;
  }

  /**
   * getStatus: one terminal, never a group.
   * @param {string} address
   * @param {RequestContext} [context]
   * @returns {Promise<Status>}
   */
  getStatus(address, context = {}) {
    const target = typeof address === 'string' ? address : '';
    return this.recorded('getStatus', context, () => target, async () => {
      if (target.length === 0) throw failure('SVC0002', ['address'], UsageStatus.INVALID);
      if (this.isGroup(target)) throw failure('POL0006', ['address'], UsageStatus.GROUPS_NOT_ALLOWED);
      const parsed = this.native.parseAddress(target);
      if (!parsed.ok) throw addressFault(parsed, 'address');
      const outcome = await this.fetch(parsed.canonical);
      if (outcome.kind === 'status') return outcome.status;
      throw outcomeFault(outcome);
    });
  }

  /**
   * getStatusForGroup: every address (groups expanded to their members) fetched in parallel;
   * answers within the fetch timeout with one StatusData per distinct terminal.
   * @param {string[]} addresses
   * @param {RequestContext} [context]
   * @returns {Promise<StatusData[]>}
   */
  getStatusForGroup(addresses, context = {}) {
    let targets = Array.isArray(addresses) ? addresses.filter((a) => typeof a === 'string') : [];
    return this.recorded('getStatusForGroup', context, () => targets.join(','), async () => {
      if (!Array.isArray(addresses) || addresses.length === 0 || targets.length !== addresses.length) {
        throw failure('SVC0002', ['addresses'], UsageStatus.INVALID);
      }
      targets = this.expandGroups(addresses, 'addresses');
      if (targets.length === 0) throw failure('SVC0002', ['addresses'], UsageStatus.INVALID);
      if (targets.length > this.config.terminalStatus.maxTargets) {
        throw failure('POL0003', ['addresses'], UsageStatus.EXCEEDED_MAX_TARGETS);
      }
      return Promise.all(targets.map((address) => this.statusData(address)));
    });
  }

  /** @returns {Promise<StatusData>} */
  async statusData(address) {
    const parsed = this.native.parseAddress(address);
    if (!parsed.ok) return { address, reportStatus: 'Error', errorInformation: addressFault(parsed, 'addresses') };
    const outcome = await this.fetch(parsed.canonical);
    if (outcome.kind === 'status') {
      return { address, reportStatus: 'Retrieved', currentStatus: outcome.status };
    }
    if (outcome.kind === 'timeout' || outcome.kind === 'shutdown') {
      return { address, reportStatus: 'NotRetrieved' };
    }
    return { address, reportStatus: 'Error', errorInformation: outcomeFault(outcome) };
  }

  /** Runs an operation and writes its usage record (js/recordedOperation.js). */
  recorded(eventType, context, target, operation) {
    const sink = { usage: this.usage, serviceName: this.config.service.name };
    return recordOperation(sink, eventType, context, () => ({ TARGET: target() }), operation);
  }
}

module.exports = { TerminalStatusService, outcomeFault };
