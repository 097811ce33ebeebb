'use strict';
// Parlay X CallNotificationManager (ES 202 391-3 §8, 3.x §3.2 of the digest) on top of the
// native call registrations: startCallNotification / stopCallNotification with the checks,
// faults and usage records of js/calls/registrationRequests.js. Transport-independent: the SOAP
// handler and the JS API both call it. What the application is told afterwards (notify*) comes
// from the core's call listener through js/calls/callDeliveries.js.
const { CallRegistrationOperations } = require('./registrationRequests');

/**
 * startCallNotification's parts (3.x; 2.x has no Answer/Disconnected criteria).
 * @typedef {object} StartCallNotificationRequest
 * @property {{endpoint: string, interfaceName?: string, correlator: string}} reference
 * @property {string[]} addresses  the called parties: addresses, or `<address prefix>*` patterns
 * @property {Array<'Busy'|'NotReachable'|'NoAnswer'|'CalledNumber'|'Answer'|'Disconnected'>} [criteria]
 *   empty or absent: every event of the request's generation
 * @property {'Called'|'Calling'} [addressDirection]  v3_8; only Called is served
 * @property {string} [namespace]  the request's .../local namespace (SOAP); absent: 3.x
 */

class CallNotificationService {
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
      kind: 'notification',
      operations: { start: 'startCallNotification', stop: 'stopCallNotification' },
      policyService: 'callNotification',
      serviceName: calls.notificationServiceName || 'PX_CN_SIP',
      api: 'parlayx-call-notification',
      core, usage, policy, destinations, counters, log, onOperation,
    });
  }

  /**
   * @param {StartCallNotificationRequest} request
   * @param {{ requester?: string, globalId?: string }} [context]
   * @returns {Promise<void>} rejects with a ParlayxFault
   */
  startCallNotification(request, context) {
    return this.operations.start(request, context);
  }

  /**
   * @param {{ correlator: string } | string} request
   * @param {{ requester?: string, globalId?: string }} [context]
   * @returns {Promise<void>} rejects with a ParlayxFault (SVC0002 correlator when unknown)
   */
  stopCallNotification(request, context) {
    return this.operations.stop(request, context);
  }
}

module.exports = { CallNotificationService };
