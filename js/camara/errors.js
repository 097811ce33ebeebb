'use strict';
// CAMARA errors: the `{ status, code, message }` body every CAMARA API answers a failure with
// (ErrorInfo of the contracts in openapi/camara/), and how the gateway's own refusals (policy
// decisions, presence fetch failures: Parlay X faults with their usage STATUSCODE) become one.
// The table and its reasons are in docs/camara.md. No HTTP here: handlers/camaraEndpoint.js
// writes the answer.
const { ParlayxFault } = require('../parlayx/faults');
const { UsageStatus } = require('../usage');

/**
 * The codes the contracts list, with their HTTP status and the contract's example message.
 * @type {Readonly<Record<string, { status: number, message: string }>>}
 */
const CAMARA_ERRORS = Object.freeze({
  INVALID_ARGUMENT: { status: 400, message: 'Client specified an invalid argument, request body or query param.' },
  OUT_OF_RANGE: { status: 400, message: 'Client specified an invalid range.' },
  INVALID_PROTOCOL: { status: 400, message: 'Only HTTP is supported' },
  INVALID_CREDENTIAL: { status: 400, message: 'Only Access token is supported' },
  INVALID_TOKEN: { status: 400, message: 'Only bearer token is supported' },
  UNAUTHENTICATED: { status: 401, message: 'Request not authenticated due to missing, invalid, or expired credentials.' },
  PERMISSION_DENIED: { status: 403, message: 'Client does not have sufficient permissions to perform this action.' },
  NOT_FOUND: { status: 404, message: 'The specified resource is not found.' },
  IDENTIFIER_NOT_FOUND: { status: 404, message: 'The phone number provided is not associated with a customer account' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'The requested method is not allowed/supported on the target resource.' },
  IDENTIFIER_MISMATCH: { status: 422, message: 'Provided identifiers are not consistent.' },
  SERVICE_NOT_APPLICABLE: { status: 422, message: 'The service is not available for the provided identifier.' },
  MISSING_IDENTIFIER: { status: 422, message: 'The device cannot be identified.' },
  UNSUPPORTED_IDENTIFIER: { status: 422, message: 'The identifier provided is not supported.' },
  UNNECESSARY_IDENTIFIER: { status: 422, message: 'The device is already identified by the access token.' },
  TOO_MANY_REQUESTS: { status: 429, message: 'Rate limit reached.' },
  QUOTA_EXCEEDED: { status: 429, message: 'Out of resource quota.' },
  INTERNAL: { status: 500, message: 'Unknown server error. Typically a server bug.' },
  UNAVAILABLE: { status: 503, message: 'Service unavailable.' },
});

/** A CAMARA error: thrown by the js/camara/ modules, answered by the CAMARA endpoint skeleton. */
class CamaraError extends Error {
  /**
   * @param {keyof typeof CAMARA_ERRORS} code
   * @param {string} [message] default: the contract's message for the code
   * @param {{ headers?: Record<string, string>, reason?: string }} [extra]
   *   headers: added to the answer (Retry-After, WWW-Authenticate); reason: for logs and counters
   */
  constructor(code, message, { headers = {}, reason } = {}) {
    const known = CAMARA_ERRORS[code];
    if (!known) throw new TypeError(`unknown CAMARA error code ${code}`);
    super(message || known.message);
    this.name = 'CamaraError';
    this.status = known.status;
    this.code = code;
    this.headers = headers;
    this.reason = reason || code;
  }

  /** The contract's ErrorInfo. @returns {{ status: number, code: string, message: string }} */
  toJSON() {
    return { status: this.status, code: this.code, message: this.message };
  }
}

// SIP answers to the presence fetch that say the subscriber does not exist (RFC 3261 §21).
const UNKNOWN_SUBSCRIBER = new Set([404, 410, 484, 604]);

/**
 * The CAMARA error of a refused or failed terminal status request (js/terminalStatus.js): the
 * policy's STATUSCODE decides, and for a failed fetch (FAILED_OPERATION) its SIP outcome.
 * @param {ParlayxFault} fault with usageStatus, and presenceOutcome for fetch failures
 * @returns {CamaraError}
 */
function fromFault(fault) {
  if (!(fault instanceof ParlayxFault)) throw new TypeError('expected a ParlayxFault');
  const reason = `${fault.messageId}: ${fault.message}`;
  switch (fault.usageStatus) {
    case UsageStatus.FAILED_PRIVACY:
      return new CamaraError('PERMISSION_DENIED', 'The device\'s reachability may not be disclosed to this client.', { reason });
    case UsageStatus.FAILED_ADDRESS_PLAN_VALIDATION:
      return new CamaraError('IDENTIFIER_NOT_FOUND', undefined, { reason });
    case UsageStatus.UNKNOWN_SCHEME:
      return new CamaraError('SERVICE_NOT_APPLICABLE', undefined, { reason });
    case UsageStatus.FAILED_PACER:
    case UsageStatus.FAILED_TRAFFIC_SHAPING:
      return new CamaraError('TOO_MANY_REQUESTS', undefined, { reason });
    case UsageStatus.INVALID:
    case UsageStatus.GROUPS_NOT_ALLOWED:
    case UsageStatus.UNRESOLVED_GROUPS:
      return new CamaraError('INVALID_ARGUMENT', undefined, { reason });
    case UsageStatus.EXCEEDED_MAX_TARGETS:
    case UsageStatus.FAILED_PROCESS_UP_TO_LIMIT:
    case UsageStatus.FAILED_CALL_LEVEL_PRIVACY:
      return new CamaraError('PERMISSION_DENIED', undefined, { reason });
    case UsageStatus.FAILED_OPERATION: {
      const outcome = fault.presenceOutcome;
      if (outcome && outcome.kind === 'sipError' && UNKNOWN_SUBSCRIBER.has(outcome.sipStatus)) {
        return new CamaraError('IDENTIFIER_NOT_FOUND', undefined, { reason });
      }
      return new CamaraError('UNAVAILABLE', 'The network did not tell the device\'s reachability.', { reason });
    }
    default:
      // FAILED_ADMISSION_CONTROL, FAILED_SERVICE_NOT_RUNNING, FAILED_JMS_ENQUEUE, FAILED_OTHER
      return new CamaraError('UNAVAILABLE', undefined, { reason });
  }
}

module.exports = { CamaraError, CAMARA_ERRORS, fromFault };
