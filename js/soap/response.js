'use strict';

/**
 * SOAP 1.1 response and fault envelopes, written as strings.
 * Prefix `soapenv` for the envelope namespace; no whitespace between elements.
 */

const { escapeText } = require('./xml');
const { SOAP11_NS } = require('./envelope');

const XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>';
const ENV_OPEN = XML_DECL + '<soapenv:Envelope xmlns:soapenv="' + SOAP11_NS + '"><soapenv:Body>';
const ENV_CLOSE = '</soapenv:Body></soapenv:Envelope>';

// SOAP 1.1 §4.4.1 fault codes. Dotted refinements ("Client.Authentication")
// are not used by Parlay X and are rejected to catch typos.
const FAULT_CODES = new Set(['Client', 'Server', 'VersionMismatch', 'MustUnderstand']);

/**
 * Wrap a serialized body element in a SOAP 1.1 envelope.
 * @param {string} bodyXml serialized XML of the soapenv:Body content (trusted, not escaped)
 * @returns {string} the complete response document, with XML declaration
 */
function responseEnvelope(bodyXml) {
  if (typeof bodyXml !== 'string') throw new TypeError('responseEnvelope: bodyXml must be a string');
  return ENV_OPEN + bodyXml + ENV_CLOSE;
}

/**
 * Build a SOAP 1.1 fault envelope. The faultcode is written QName-prefixed with
 * the envelope prefix (e.g. `soapenv:Client`). Accepts a SoapFaultError as is.
 * @param {object} fault
 * @param {'Client'|'Server'|'VersionMismatch'|'MustUnderstand'} fault.faultcode
 * @param {string} fault.faultstring human-readable reason (escaped here)
 * @param {string} [fault.detailXml] serialized content of the <detail> element
 *   (trusted, not escaped); omitted entirely when undefined, null or ''
 * @returns {string} the complete fault document, with XML declaration
 * @throws {TypeError} on an unknown faultcode or a missing faultstring
 */
function faultEnvelope({ faultcode, faultstring, detailXml } = {}) {
  if (!FAULT_CODES.has(faultcode)) throw new TypeError(`faultEnvelope: invalid SOAP 1.1 faultcode ${faultcode}`);
  if (typeof faultstring !== 'string') throw new TypeError('faultEnvelope: faultstring must be a string');
  if (detailXml !== undefined && detailXml !== null && typeof detailXml !== 'string') {
    throw new TypeError('faultEnvelope: detailXml must be a string');
  }
  // faultcode/faultstring/detail are unqualified (SOAP 1.1 §4.4).
  let fault =
    '<soapenv:Fault><faultcode>soapenv:' +
    faultcode +
    '</faultcode><faultstring>' +
    escapeText(faultstring) +
    '</faultstring>';
  if (detailXml) fault += '<detail>' + detailXml + '</detail>';
  return ENV_OPEN + fault + '</soapenv:Fault>' + ENV_CLOSE;
}

module.exports = { responseEnvelope, faultEnvelope };
