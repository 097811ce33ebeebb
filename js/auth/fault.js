'use strict';
// The answer to a request that failed authentication: the WS-Security 1.0 fault (WSS 1.0 §12,
// faultcode wsse:FailedAuthentication), the same for every reason so that a client cannot
// tell an unknown requester from a wrong password. js/soap/response.js faultEnvelope() only
// writes the SOAP-defined codes, so the Fault is written here and wrapped by responseEnvelope().
const { responseEnvelope } = require('../soap/response');
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

module.exports = { failedAuthenticationEnvelope, FAILED_AUTHENTICATION_FAULTSTRING };
