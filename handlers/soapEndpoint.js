'use strict';
// The skeleton every Parlay X SOAP endpoint shares: POST only, body size cap, envelope parsing,
// routing on the body element in any version of the endpoint's `.../vX_Y/local` namespace, a
// GLOBALID per request, requester authentication, and the mapping of results and faults to
// SOAP answers. The endpoint modules (terminalStatus.js, terminalStatusNotificationManager.js)
// only add their operations.
const { randomUUID } = require('node:crypto');
const { parseEnvelope, SoapFaultError } = require('../js/soap/envelope');
const { responseEnvelope, faultEnvelope } = require('../js/soap/response');
const { ParlayxFault, toSoapFault } = require('../js/parlayx/faults');
const { AuthenticationError } = require('../js/auth/errors');
const { basicChallenge } = require('../js/auth/basic');
const { failedAuthenticationEnvelope, throttledResponse, THROTTLE_REASONS } = require('../js/auth/fault');
const { eventBody, xmlResponse } = require('./http');

// Children of common types (SimpleReference, TimeMetric) are unqualified by the schema (the
// common XSD has no elementFormDefault), but some generated clients (node-soap) qualify them with
// the common types namespace: both are accepted.
const COMMON_NS = /^http:\/\/www\.csapi\.org\/schema\/parlayx\/common\/v\d+_\d+$/;

/** Common types namespace matching the request's Parlay X generation (2.x or 3.x). */
function commonNsFor(major) {
  return major >= 3
    ? 'http://www.csapi.org/schema/parlayx/common/v3_1'
    : 'http://www.csapi.org/schema/parlayx/common/v2_1';
}

/**
 * Direct children of `parent` with a local name, qualified in the parent's namespace or
 * unqualified (clients differ on elementFormDefault).
 * @param {import('../js/soap/envelope').XmlElement} parent
 * @param {string} name
 * @returns {import('../js/soap/envelope').XmlElement[]}
 */
function childElements(parent, name) {
  const found = [];
  for (const child of parent.children) {
    if (child.name === name && (child.ns === parent.ns || child.ns === '' || COMMON_NS.test(child.ns))) {
      found.push(child);
    }
  }
  return found;
}

/**
 * Trimmed texts of the children named `name` (xsd:anyURI and the other collapsing types).
 * @returns {string[]}
 */
function childTexts(parent, name) {
  return childElements(parent, name).map((child) => child.text.trim());
}

/**
 * @typedef {(service: any, wrapper: import('../js/soap/envelope').XmlElement, commonNs: string,
 *   context: { globalId: string, requester: string, authMethod: string }) => Promise<string>} SoapOperation
 *   returns the XML content of the `<op>Response` element
 */

/**
 * Creates a SOAP endpoint handler.
 * @param {{ localNs: RegExp, operations: Record<string, SoapOperation>, service: any,
 *           maxBodyBytes: number, log?: (level: string, msg: string, extra?: object) => void,
 *           authenticator?: import('../js/auth/authenticator').Authenticator,
 *           onAuthFailure?: (info: { requester: string, reason: string, operation: string }) => void }} options
 *   localNs: the wrapper namespace, with the major version as its first capture group;
 *   authenticator: when absent every request runs as the anonymous requester '';
 *   onAuthFailure: called for every request refused by the authenticator (counters)
 * @returns {(event: import('./http').HttpEvent) => Promise<import('./http').HttpResponse>}
 */
function createSoapHandler({
  localNs, operations, service, maxBodyBytes, log = () => {}, authenticator = null, onAuthFailure = () => {},
}) {
  const understoodHeaders = authenticator ? authenticator.understoodHeaders : undefined;
  /**
   * 401 with the Basic challenge and the WS-Security fault (the reason only goes to the log), or
   * 429/503 with Retry-After when throttled before any password check (js/auth/fault.js).
   */
  function refuse(operation, error) {
    const info = { requester: error.requester, reason: error.reason, operation };
    log('warn', 'request refused: authentication failed', info);
    try {
      onAuthFailure(info);
    } catch (callbackError) {
      log('error', 'onAuthFailure failed', { error: callbackError.stack || String(callbackError) });
    }
    if (THROTTLE_REASONS.has(error.reason)) {
      const answer = throttledResponse(error.reason, error.retryAfterSec);
      return xmlResponse(answer.statusCode, answer.body, { 'retry-after': String(answer.retryAfterSec) });
    }
    return xmlResponse(401, failedAuthenticationEnvelope(), { 'www-authenticate': basicChallenge(authenticator.realm) });
  }

  return async function soapHandler(event) {
    const method = (event.httpMethod || event.method || 'GET').toUpperCase();
    if (method !== 'POST') {
      return xmlResponse(405, faultEnvelope({ faultcode: 'Client', faultstring: 'SOAP requests must use POST' }), {
        allow: 'POST',
      });
    }
    const body = eventBody(event);
    if (body.length > maxBodyBytes) {
      return xmlResponse(413, faultEnvelope({ faultcode: 'Client', faultstring: `request body larger than ${maxBodyBytes} bytes` }));
    }
    let wrapper;
    let soapHeader;
    try {
      ({ header: soapHeader, body: wrapper } = parseEnvelope(body, undefined, understoodHeaders));
    } catch (error) {
      if (error instanceof SoapFaultError) {
        return xmlResponse(500, faultEnvelope({ faultcode: error.faultcode, faultstring: error.faultstring }));
      }
      throw error;
    }
    const match = localNs.exec(wrapper.ns);
    const operation = match && Object.hasOwn(operations, wrapper.name) ? operations[wrapper.name] : null;
    if (!operation) {
      return xmlResponse(500, faultEnvelope({
        faultcode: 'Client',
        faultstring: `unknown operation {${wrapper.ns}}${wrapper.name}`,
      }));
    }
    const commonNs = commonNsFor(Number(match[1]));
    // Authentication comes after parsing because the UsernameToken is inside the envelope (an
    // unparseable request keeps its Client fault), and before the operation: a refused request
    // touches nothing and writes no usage record.
    let identity = { requester: '', method: 'anonymous' };
    if (authenticator) {
      try {
        identity = await authenticator.authenticate(event, soapHeader);
      } catch (error) {
        if (!(error instanceof AuthenticationError)) {
          log('error', 'authentication failed unexpectedly', { operation: wrapper.name, error: error.stack || String(error) });
          return xmlResponse(500, faultEnvelope({ faultcode: 'Server', faultstring: 'internal error' }));
        }
        return refuse(wrapper.name, error);
      }
    }
    // GLOBALID of the request's usage records, also returned so that operators can correlate.
    const context = { globalId: randomUUID(), requester: identity.requester, authMethod: identity.method };
    const correlation = { 'x-parlayx-global-id': context.globalId };
    try {
      const resultXml = await operation(service, wrapper, commonNs, context);
      const responseXml = `<ns:${wrapper.name}Response xmlns:ns="${wrapper.ns}">${resultXml}</ns:${wrapper.name}Response>`;
      return xmlResponse(200, responseEnvelope(responseXml), correlation);
    } catch (error) {
      if (error instanceof ParlayxFault) return xmlResponse(500, toSoapFault(error, { commonNs }), correlation);
      log('error', `${wrapper.name} failed`, { error: error.stack || String(error) });
      return xmlResponse(500, faultEnvelope({ faultcode: 'Server', faultstring: 'internal error' }));
    }
  };
}

module.exports = { createSoapHandler, childElements, childTexts, commonNsFor };
