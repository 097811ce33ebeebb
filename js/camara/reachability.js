'use strict';
// CAMARA Device Reachability Status on the Parlay X Terminal Status service: a retrieve is a
// getStatus of the device's tel: address (js/terminalStatus.js getStatusFor), so the service
// policy, the fetch or live-subscription answer and the usage record are getStatus's, the
// record's SERVICE being camara.serviceName. The status becomes the contract's
// ReachabilityStatusResponse (docs/camara.md):
//   Reachable (open, registered)        -> reachable: true,  connectivity: camara.connectivity.reachable
//   Busy (open with a busy activity)    -> reachable: true,  connectivity: camara.connectivity.busy
//   Unreachable (closed, no presence)   -> reachable: false, no connectivity
const { ParlayxFault } = require('../parlayx/faults');
const { fromFault } = require('./errors');

/** The api name of CAMARA Device Reachability Status in metrics and request logs. */
const REACHABILITY_API = 'camara-device-reachability-status';

/**
 * @typedef {object} ReachabilityStatus the contract's ReachabilityStatusResponse
 * @property {boolean} reachable
 * @property {Array<'DATA'|'SMS'>} [connectivity]
 * @property {string} lastStatusTime RFC 3339 date-time
 */

class ReachabilityService {
  /**
   * @param {{ terminalStatus: import('../terminalStatus').TerminalStatusService,
   *           camara: { serviceName: string, connectivity: { reachable: string[], busy: string[] } } }} deps
   *   camara: the gateway configuration's camara section
   */
  constructor({ terminalStatus, camara }) {
    this.terminalStatus = terminalStatus;
    this.front = Object.freeze({ serviceName: camara.serviceName, api: REACHABILITY_API });
    this.connectivity = Object.freeze({
      Reachable: Object.freeze([...camara.connectivity.reachable]),
      Busy: Object.freeze([...camara.connectivity.busy]),
    });
  }

  /**
   * The reachability of one terminal.
   * @param {string} address a tel:/sip: address (js/camara/device.js resolveDevice)
   * @param {{ requester: string, globalId?: string }} context
   * @returns {Promise<ReachabilityStatus>}
   * @throws {import('./errors').CamaraError} the policy's refusal or the fetch's failure
   */
  async retrieve(address, context) {
    let answer;
    try {
      answer = await this.terminalStatus.getStatusFor(this.front, address, context);
    } catch (error) {
      if (error instanceof ParlayxFault) throw fromFault(error);
      throw error;
    }
    const lastStatusTime = new Date(answer.observedAtMs).toISOString();
    if (answer.status === 'Unreachable') return { reachable: false, lastStatusTime };
    return { reachable: true, connectivity: [...this.connectivity[answer.status]], lastStatusTime };
  }
}

module.exports = { ReachabilityService, REACHABILITY_API };
