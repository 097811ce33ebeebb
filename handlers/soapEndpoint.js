'use strict';
// The skeleton every Parlay X SOAP endpoint shares: POST only, body size cap, requester
// authentication, a GLOBALID per request, and the HTTP status of every answer. The SOAP itself
// is js/soap's: requests.js reads the envelope into a typed request, builder.js writes every
// answer. The endpoint modules (terminalStatus.js, terminalStatusNotificationManager.js) only
// say which service method each operation calls.
const { randomUUID } = require('node:crypto');
const { readRequest } = require('../js/soap/requests');
const { SoapFaultError } = require('../js/soap/envelope');
const soap = require('../js/soap/builder');
const { ParlayxFault } = require('../js/parlayx/faults');
const { AuthenticationError } = require('../js/auth/errors');
const { basicChallenge } = require('../js/auth/basic');
const { eventBody, xmlResponse } = require('./http');

// Requests refused before any password check. These are not 401: the credentials were never
// checked, and a 401 would invite the client to retry at once (or an operator to look for a
// wrong password). Throttling (too many failed logins from the address or for the requester
// name) is HTTP 429 (RFC 6585), a full password verification queue HTTP 503 (RFC 9110 §15.6.4),
// both with Retry-After, which retrying HTTP stacks and load balancers honour; SOAP stacks
// (JAX-WS, node-soap) surface the status code as a transport error, and the body is a SOAP fault
// for those that read it (js/soap/builder.js throttledFault).
const THROTTLE_STATUS = new Map([['throttledClient', 429], ['throttledRequester', 429], ['overloaded', 503]]);

/**
 * @typedef {(service: any, request: any,
 *   context: { globalId: string, requester: string, authMethod: string }) => Promise<unknown>} SoapOperation
 *   calls the service with the typed request (js/soap/requests.js); its result goes to the builder
 */

/**
 * Creates a SOAP endpoint handler.
 * @param {{ soapInterface: import('../js/soap/requests').SoapInterface,
 *           operations: Record<string, SoapOperation>, service: any,
 *           maxBodyBytes: number, log?: (level: string, msg: string, extra?: object) => void,
 *           authenticator?: import('../js/auth/authenticator').Authenticator,
 *           onAuthFailure?: (info: { requester: string, reason: string, operation: string }) => void }} options
 *   soapInterface: the interface the endpoint serves (js/soap/requests.js TERMINAL_STATUS, ...);
 *   operations: the ones of the interface this endpoint routes;
 *   authenticator: when absent every request runs as the anonymous requester '';
 *   onAuthFailure: called for every request refused by the authenticator (counters)
 * @returns {(event: import('./http').HttpEvent) => Promise<import('./http').HttpResponse>}
 */
function createSoapHandler({
  soapInterface, operations, service, maxBodyBytes, log = () => {}, authenticator = null, onAuthFailure = () => {},
}) {
  const understoodHeaders = authenticator ? authenticator.understoodHeaders : undefined;
  const routed = Object.keys(operations);

  /**
   * 401 with the Basic challenge and the WS-Security fault (the reason only goes to the log), or
   * 429/503 with Retry-After when refused before any password check.
   */
  function refuse(operation, error) {
    const info = { requester: error.requester, reason: error.reason, operation };
    log('warn', 'request refused: authentication failed', info);
    try {
      onAuthFailure(info);
    } catch (callbackError) {
      log('error', 'onAuthFailure failed', { error: callbackError.stack || String(callbackError) });
    }
    const throttled = THROTTLE_STATUS.get(error.reason);
    if (throttled !== undefined) {
      const seconds = Math.max(1, Math.ceil(error.retryAfterSec || 1));
      return xmlResponse(throttled, soap.throttledFault(error.reason, seconds), { 'retry-after': String(seconds) });
    }
    return xmlResponse(401, soap.failedAuthenticationFault(), { 'www-authenticate': basicChallenge(authenticator.realm) });
  }

  return async function soapHandler(event) {
    const method = (event.httpMethod || event.method || 'GET').toUpperCase();
    if (method !== 'POST') return xmlResponse(405, soap.clientFault('SOAP requests must use POST'), { allow: 'POST' });
    const body = eventBody(event);
    if (body.length > maxBodyBytes) return xmlResponse(413, soap.bodyTooLargeFault(maxBodyBytes));
    let parsed;
    try {
      parsed = readRequest(soapInterface, body, understoodHeaders, routed);
    } catch (error) {
      if (error instanceof SoapFaultError) return xmlResponse(500, soap.faultEnvelope(error));
      throw error;
    }
    // Authentication comes after parsing because the UsernameToken is inside the envelope (an
    // unparseable request keeps its Client fault), and before the operation: a refused request
    // touches nothing and writes no usage record.
    let identity = { requester: '', method: 'anonymous' };
    if (authenticator) {
      try {
        identity = await authenticator.authenticate(event, parsed.header);
      } catch (error) {
        if (!(error instanceof AuthenticationError)) {
          log('error', 'authentication failed unexpectedly', { operation: parsed.operation, error: error.stack || String(error) });
          return xmlResponse(500, soap.internalErrorFault());
        }
        return refuse(parsed.operation, error);
      }
    }
    // GLOBALID of the request's usage records, also returned so that operators can correlate.
    const context = { globalId: randomUUID(), requester: identity.requester, authMethod: identity.method };
    const correlation = { 'x-parlayx-global-id': context.globalId };
    try {
      const result = await operations[parsed.operation](service, parsed.request, context);
      return xmlResponse(200, soap.operationResponse(parsed, result), correlation);
    } catch (error) {
      if (error instanceof ParlayxFault) {
        return xmlResponse(500, soap.toSoapFault(error, { commonNs: parsed.commonNs }), correlation);
      }
      log('error', `${parsed.operation} failed`, { error: error.stack || String(error) });
      return xmlResponse(500, soap.internalErrorFault());
    }
  };
}

module.exports = { createSoapHandler };
