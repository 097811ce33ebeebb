'use strict';
// Parlay X Terminal Status (ES 202 391-8) semantics on top of the native presence watcher:
// address validation, groups, target limits, and the mapping of SIP fetch outcomes to results
// and faults. Transport-independent: the SOAP handler and the JS API both call it.
const { ParlayxFault } = require('./parlayx/faults');

/** @typedef {'Reachable'|'Unreachable'|'Busy'} Status */
/**
 * @typedef {object} StatusData
 * @property {string} address
 * @property {'Retrieved'|'NotRetrieved'|'Error'} reportStatus
 * @property {Status} [currentStatus]
 * @property {ParlayxFault} [errorInformation]
 */

/** How a fetch outcome that is not a status becomes a fault (README "Presence to status"). */
function outcomeFault(outcome) {
  switch (outcome.kind) {
    case 'sipError':
      return new ParlayxFault('SVC0001', [
        `presence server answered ${outcome.sipStatus} ${outcome.detail}`.trim(),
      ]);
    case 'timeout':
      return new ParlayxFault('SVC0001', [`presence server did not answer in time (${outcome.detail})`]);
    case 'badDocument':
      return new ParlayxFault('SVC0001', [`presence document not usable: ${outcome.detail}`]);
    default:
      return new ParlayxFault('SVC0001', ['service is shutting down']);
  }
}

class TerminalStatusService {
  /**
   * @param {{ core: any, config: any, native: any }} deps the NativeCore, its config, the addon
   */
  constructor({ core, config, native }) {
    this.core = core;
    this.config = config;
    this.native = native;
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

  /** @param {string} address */
  isGroup(address) {
    return this.groupKey(address) !== null;
  }

  /**
   * getStatus: one terminal, never a group.
   * @param {string} address
   * @returns {Promise<Status>}
   */
  async getStatus(address) {
    if (typeof address !== 'string' || address.length === 0) {
      throw new ParlayxFault('SVC0002', ['address']);
    }
    if (this.isGroup(address)) throw new ParlayxFault('POL0006', ['address']);
    const parsed = this.native.parseAddress(address);
    if (!parsed.ok) throw new ParlayxFault('SVC0002', ['address']);
    const outcome = await this.fetch(parsed.canonical);
    if (outcome.kind === 'status') return outcome.status;
    throw outcomeFault(outcome);
  }

  /**
   * getStatusForGroup: every address (groups expanded to their members) fetched in parallel;
   * answers within the fetch timeout with one StatusData per distinct terminal.
   * @param {string[]} addresses
   * @returns {Promise<StatusData[]>}
   */
  async getStatusForGroup(addresses) {
    if (!Array.isArray(addresses) || addresses.length === 0) {
      throw new ParlayxFault('SVC0002', ['addresses']);
    }
    const targets = [];
    for (const address of addresses) {
      if (typeof address !== 'string' || address.length === 0) {
        throw new ParlayxFault('SVC0002', ['addresses']);
      }
      const group = this.groupKey(address);
      if (group !== null) {
        const members = this.groupMembers.get(group);
        if (!members) throw new ParlayxFault('SVC0002', ['addresses']);
        targets.push(...members);
      } else {
        targets.push(address);
      }
    }
    const seen = new Set();
    const unique = targets.filter((t) => !seen.has(t) && seen.add(t));
    if (unique.length > this.config.terminalStatus.maxTargets) {
      throw new ParlayxFault('POL0003', ['addresses']);
    }
    return Promise.all(unique.map((address) => this.statusData(address)));
  }

  /** @returns {Promise<StatusData>} */
  async statusData(address) {
    const parsed = this.native.parseAddress(address);
    if (!parsed.ok) {
      return { address, reportStatus: 'Error', errorInformation: new ParlayxFault('SVC0002', ['addresses']) };
    }
    const outcome = await this.fetch(parsed.canonical);
    if (outcome.kind === 'status') {
      return { address, reportStatus: 'Retrieved', currentStatus: outcome.status };
    }
    if (outcome.kind === 'timeout' || outcome.kind === 'shutdown') {
      return { address, reportStatus: 'NotRetrieved' };
    }
    return { address, reportStatus: 'Error', errorInformation: outcomeFault(outcome) };
  }
}

module.exports = { TerminalStatusService, outcomeFault };
