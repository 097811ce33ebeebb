'use strict';
// Parlay X CallDirectionManager: startCallDirectionNotification / stopCallDirectionNotification
// with the checks, faults and usage records of js/calls/registrationRequests.js (the overlap
// rule differs in the core: at most one direction registration decides for an address). The
// decisions themselves (handle* to the application) are js/calls/decisionClient.js.
const { CallRegistrationOperations } = require('./registrationRequests');

class CallDirectionService {
  /**
   * @param {{ core: any, config: any, usage: import('../usage').UsageLog,
   *           policy: import('../policy').ServicePolicy,
   *           destinations: import('../outbound/destinationPolicy').DestinationPolicy,
   *           counters?: import('../policy').PolicyCounters, log?: Function,
   *           onOperation?: import('../recordedOperation').OperationObserver }} deps
   */
  constructor({ core, config, usage, policy, destinations, counters, log, onOperation }) {
    const calls = config.calls || {};
    this.operations = new CallRegistrationOperations({
      kind: 'direction',
      operations: { start: 'startCallDirectionNotification', stop: 'stopCallDirectionNotification' },
      policyService: 'callDirection',
      serviceName: calls.directionServiceName || 'PX_CD_SIP',
      api: 'parlayx-call-direction',
      core, usage, policy, destinations, counters, log, onOperation,
    });
  }

  /**
   * @param {import('./callNotifications').StartCallNotificationRequest} request (criteria: the
   *   events the application decides on: Busy, NotReachable, NoAnswer, CalledNumber; empty: all
   *   four; Answer/Disconnected have no handle* operation and are SVC0002 criteria)
   * @param {{ requester?: string, globalId?: string }} [context]
   * @returns {Promise<void>} rejects with a ParlayxFault
   */
  startCallDirectionNotification(request, context) {
    return this.operations.start(request, context);
  }

  /**
   * @param {{ correlator: string } | string} request
   * @param {{ requester?: string, globalId?: string }} [context]
   * @returns {Promise<void>} rejects with a ParlayxFault (SVC0002 correlator when unknown)
   */
  stopCallDirectionNotification(request, context) {
    return this.operations.stop(request, context);
  }
}

module.exports = { CallDirectionService };
