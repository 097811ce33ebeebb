'use strict';
// The answer to a request that failed authentication: the WS-Security 1.0 fault (WSS 1.0 §12,
// faultcode wsse:FailedAuthentication), the same for every reason so that a client cannot
// tell an unknown requester from a wrong password. js/soap/response.js faultEnvelope() only
// writes the SOAP-defined codes, so the Fault is written here and wrapped by responseEnvelope().
const { responseEnvelope, faultEnvelope } = require('../soap/response');
const { escapeText } = require('../soap/xml');
const { WSSE_NS } = require('./usernameToken');

const FAILED_AUTHENTICATION_FAULTSTRING = 'The security token could not be authenticated or authorized';

/**
 * @returns {string} the SOAP 1.1 fault document
 */
function failedAuthenticationEnvelope() {
  return responseEnvelope(
    `<soapenv:Fault xmlns:wsse="${WSSE_NS}"><faultcode>wsse:FailedAuthentication</faultcode>` +
      `<faultstring>${escapeText(FAILED_AUTHENTICATION_FAULTSTRING)}</faultstring></soapenv:Fault>`,
  );
}

/**
 * The answer to a throttled request (too many failed logins from its address or for its
 * requester name) or to one refused because the password verification queue is full. These are
 * not 401: the credentials were never checked, and a 401 would invite the client to retry at
 * once (or an operator to look for a wrong password). Throttling is HTTP 429 (RFC 6585), a busy
 * verifier HTTP 503 (RFC 9110 §15.6.4), both with Retry-After, which retrying HTTP stacks and
 * load balancers honour; SOAP stacks (JAX-WS, node-soap) surface the status code as a transport
 * error, and the body is a SOAP 1.1 fault for those that read it: soapenv:Client (the client
 * must slow down) or soapenv:Server (the gateway is busy). The fault tells nothing about the
 * credentials (an unknown name is throttled like a known one).
 * @param {'throttledClient'|'throttledRequester'|'overloaded'} reason
 * @param {number} retryAfterSec
 * @returns {{ statusCode: number, retryAfterSec: number, body: string }}
 */
function throttledResponse(reason, retryAfterSec) {
  const seconds = Math.max(1, Math.ceil(retryAfterSec || 1));
  if (reason === 'overloaded') {
    return {
      statusCode: 503,
      retryAfterSec: seconds,
      body: faultEnvelope({ faultcode: 'Server', faultstring: `Authentication is busy; retry after ${seconds} s` }),
    };
  }
  return {
    statusCode: 429,
    retryAfterSec: seconds,
    body: faultEnvelope({
      faultcode: 'Client',
      faultstring: `Too many failed authentication attempts; retry after ${seconds} s`,
    }),
  };
}

const THROTTLE_REASONS = new Set(['throttledClient', 'throttledRequester', 'overloaded']);

module.exports = { failedAuthenticationEnvelope, throttledResponse, THROTTLE_REASONS, FAILED_AUTHENTICATION_FAULTSTRING };
