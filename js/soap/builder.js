'use strict';
// The one place that writes SOAP 1.1 text: operation responses, faults (SOAP Client/Server
// faults, Parlay X ServiceException/PolicyException, the WS-Security authentication fault) and
// the outbound notification requests (statusNotification, statusError, statusEnd).
//
// Written with string concatenation, prefix `soapenv` for the envelope namespace and no
// whitespace between elements: one envelope per answer and per delivery is on the hot path.
//
// Qualification (digest §1.3): a wrapper and its direct children are in the operation's
// .../local namespace; the children of common types (StatusInformation, ServiceError, the fault
// detail elements) are unqualified, because the types schemas have no elementFormDefault.
const { escapeText, element } = require('./xml');
const { SOAP11_NS } = require('./envelope');
const { ParlayxFault } = require('../parlayx/faults');
const { WSSE_NS } = require('../auth/usernameToken');

const XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>';
const ENV_OPEN = XML_DECL + '<soapenv:Envelope xmlns:soapenv="' + SOAP11_NS + '"><soapenv:Body>';
const ENV_CLOSE = '</soapenv:Body></soapenv:Envelope>';

// SOAP 1.1 §4.4.1 fault codes. Dotted refinements ("Client.Authentication")
// are not used by Parlay X and are rejected to catch typos.
const FAULT_CODES = new Set(['Client', 'Server', 'VersionMismatch', 'MustUnderstand']);

/** Common types namespace of Parlay X 2.x (fault detail elements). */
const COMMON_NS_V2_1 = 'http://www.csapi.org/schema/parlayx/common/v2_1';

/** Namespace of the notification interface's wrapper elements (outbound requests). */
const NOTIFICATION_NS = 'http://www.csapi.org/schema/parlayx/terminal_status/notification/v2_2/local';

const FAILED_AUTHENTICATION_FAULTSTRING = 'The security token could not be authenticated or authorized';

// ---------------------------------------------------------------------------------------------
// Envelopes and SOAP-defined faults

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

/** soapenv:Client fault: the request is at fault (not POST, too large, malformed, unknown operation). */
function clientFault(faultstring) {
  return faultEnvelope({ faultcode: 'Client', faultstring });
}

/** The request body exceeded the cap (the HTTP server and the SOAP endpoints answer alike). */
function bodyTooLargeFault(maxBodyBytes) {
  return clientFault(`request body larger than ${maxBodyBytes} bytes`);
}

/** soapenv:Server "internal error": the details go to the log only. */
function internalErrorFault() {
  return faultEnvelope({ faultcode: 'Server', faultstring: 'internal error' });
}

// ---------------------------------------------------------------------------------------------
// Parlay X exceptions (ES 202 391-1 common faults, catalogue in js/parlayx/faults.js)
//
// Wire shape (digest §1.3): the fault detail is the global element ServiceException or
// PolicyException of the common types namespace, with unqualified children messageId, text (the
// TEMPLATE, "%1" markers kept, as the XSD documents: "Message text, with replacement variables
// marked with %#") and variables (one element per value, in order). The SOAP faultstring
// carries the filled text for humans and generic clients.

function checkFault(fault, fn) {
  if (!(fault instanceof ParlayxFault)) throw new TypeError(`${fn}: expected a ParlayxFault`);
}

/** messageId, text, variables* as unqualified elements (ServiceError / exception content). */
function exceptionContent(fault) {
  let xml = element('messageId', fault.messageId) + element('text', fault.template);
  for (const v of fault.variables) xml += element('variables', v);
  return xml;
}

/**
 * Serialize a ParlayxFault as a complete SOAP 1.1 fault envelope.
 *
 * faultcode rule: soapenv:Server for every ServiceException AND PolicyException.
 * These are the faults declared in the WSDL (wsdl:fault), and the common
 * practice of the SOAP stacks Parlay X was deployed on (JAX-WS, Axis) is to
 * send declared service faults as Server; clients dispatch on the detail
 * element, not on faultcode (digest §1.3 example). soapenv:Client is kept for
 * envelope-level errors (malformed XML etc., see envelope.js).
 *
 * @param {ParlayxFault} fault
 * @param {{commonNs?: string}} [options] namespace of the detail element
 *   (default Parlay X 2.x common types, http://www.csapi.org/schema/parlayx/common/v2_1)
 * @returns {string} the fault document, with XML declaration
 * @throws {TypeError} when `fault` is not a ParlayxFault
 */
function toSoapFault(fault, { commonNs = COMMON_NS_V2_1 } = {}) {
  checkFault(fault, 'toSoapFault');
  if (typeof commonNs !== 'string' || commonNs === '') throw new TypeError('toSoapFault: commonNs must be a URI');
  const detailXml = element('ns:' + fault.kind, [exceptionContent(fault)], { 'xmlns:ns': commonNs });
  return faultEnvelope({ faultcode: 'Server', faultstring: fault.text, detailXml });
}

/**
 * Serialize a ParlayxFault as the content of a ServiceError structure
 * (e.g. StatusData.errorInformation): unqualified messageId, text (template)
 * and variables elements, without a wrapper — the caller writes the enclosing
 * element.
 * @param {ParlayxFault} fault
 * @returns {string} XML fragment
 * @throws {TypeError} when `fault` is not a ParlayxFault
 */
function toServiceError(fault) {
  checkFault(fault, 'toServiceError');
  return exceptionContent(fault);
}

// ---------------------------------------------------------------------------------------------
// Authentication refusals (the HTTP status and headers are the handler's)

/**
 * The WS-Security 1.0 fault (WSS 1.0 §12, faultcode wsse:FailedAuthentication), the same for
 * every reason so that a client cannot tell an unknown requester from a wrong password.
 * faultEnvelope() only writes the SOAP-defined codes, so this Fault is written here.
 * @returns {string} the SOAP 1.1 fault document
 */
function failedAuthenticationFault() {
  return responseEnvelope(
    `<soapenv:Fault xmlns:wsse="${WSSE_NS}"><faultcode>wsse:FailedAuthentication</faultcode>` +
      `<faultstring>${escapeText(FAILED_AUTHENTICATION_FAULTSTRING)}</faultstring></soapenv:Fault>`,
  );
}

/**
 * The fault of a request refused before any password check: soapenv:Server when the verifier
 * is busy (the gateway's problem), soapenv:Client when throttled (the client must slow down).
 * It tells nothing about the credentials.
 * @param {'throttledClient'|'throttledRequester'|'overloaded'} reason
 * @param {number} seconds when to retry (the Retry-After value)
 */
function throttledFault(reason, seconds) {
  if (reason === 'overloaded') {
    return faultEnvelope({ faultcode: 'Server', faultstring: `Authentication is busy; retry after ${seconds} s` });
  }
  return clientFault(`Too many failed authentication attempts; retry after ${seconds} s`);
}

// ---------------------------------------------------------------------------------------------
// Operation responses (document/literal wrapped: <ns:opResponse> in the request's namespace)

/**
 * @typedef {object} StatusData see js/terminalStatus.js
 * @property {string} address
 * @property {string} reportStatus
 * @property {string} [currentStatus]
 * @property {ParlayxFault} [errorInformation]
 */

function statusDataXml(entry) {
  let xml = `<ns:result><address>${escapeText(entry.address)}</address><reportStatus>${escapeText(entry.reportStatus)}</reportStatus>`;
  if (entry.currentStatus) xml += `<currentStatus>${escapeText(entry.currentStatus)}</currentStatus>`;
  if (entry.errorInformation) xml += `<errorInformation>${toServiceError(entry.errorInformation)}</errorInformation>`;
  return `${xml}</ns:result>`;
}

/** Operation name -> the content of its <opResponse> from the service's result. */
const RESULT_WRITERS = Object.freeze(Object.assign(Object.create(null), {
  /** @param {string} status */
  getStatus: (status) => `<ns:result>${escapeText(status)}</ns:result>`,
  /** @param {StatusData[]} entries */
  getStatusForGroup: (entries) => entries.map(statusDataXml).join(''),
  startNotification: () => '',
  endNotification: () => '',
}));

/**
 * The answer to an operation.
 * @param {{ operation: string, ns: string }} request the parsed request (js/soap/requests.js)
 * @param {unknown} result what the service returned
 * @returns {string} the SOAP envelope
 * @throws {TypeError} for an operation without a result writer
 */
function operationResponse({ operation, ns }, result) {
  const write = RESULT_WRITERS[operation];
  if (write === undefined) throw new TypeError(`no response writer for operation ${operation}`);
  return responseEnvelope(`<ns:${operation}Response xmlns:ns="${ns}">${write(result)}</ns:${operation}Response>`);
}

// ---------------------------------------------------------------------------------------------
// Outbound notifications to an application's TerminalStatusNotification endpoint
// (wsdl/parlayx_terminal_status_notification_interface_2_2.wsdl)

const OPEN = (name) => `<ns:${name} xmlns:ns="${NOTIFICATION_NS}"><ns:correlator>`;
const STATUS_NOTIFICATION_OPEN = OPEN('statusNotification');
const STATUS_ERROR_OPEN = OPEN('statusError');
const STATUS_END_OPEN = OPEN('statusEnd');

/**
 * statusNotification(correlator, terminalStatus+).
 * @param {string} correlator
 * @param {Array<{address: string, status: string}>} statuses one StatusInformation each, in order
 * @returns {string} the SOAP envelope
 */
function statusNotificationEnvelope(correlator, statuses) {
  let xml = STATUS_NOTIFICATION_OPEN + escapeText(correlator) + '</ns:correlator>';
  for (const { address, status } of statuses) {
    xml += '<ns:terminalStatus><address>' + escapeText(address) + '</address><currentStatus>'
      + escapeText(status) + '</currentStatus></ns:terminalStatus>';
  }
  return responseEnvelope(xml + '</ns:statusNotification>');
}

/**
 * statusError(correlator, address?, reason). The reason's text is the template (%1 markers kept)
 * and its variables the values, as in every Parlay X ServiceError.
 * @param {string} correlator
 * @param {string} address the terminal, or '' for the whole notification (element left out)
 * @param {{messageId: string, text: string, variables?: string[]}} error
 * @returns {string} the SOAP envelope
 */
function statusErrorEnvelope(correlator, address, error) {
  let xml = STATUS_ERROR_OPEN + escapeText(correlator) + '</ns:correlator>';
  if (address) xml += '<ns:address>' + escapeText(address) + '</ns:address>';
  xml += '<ns:reason><messageId>' + escapeText(error.messageId) + '</messageId><text>' + escapeText(error.text) + '</text>';
  for (const variable of error.variables || []) xml += '<variables>' + escapeText(variable) + '</variables>';
  return responseEnvelope(xml + '</ns:reason></ns:statusError>');
}

/**
 * statusEnd(correlator).
 * @param {string} correlator
 * @returns {string} the SOAP envelope
 */
function statusEndEnvelope(correlator) {
  return responseEnvelope(STATUS_END_OPEN + escapeText(correlator) + '</ns:correlator></ns:statusEnd>');
}

/**
 * The envelope of one delivery of the native core.
 * @param {{kind: 'statusNotification'|'statusError'|'statusEnd', correlator: string,
 *          statuses?: Array<{address: string, status: string}>, address?: string,
 *          error?: {messageId: string, text: string, variables?: string[]}}} delivery
 * @returns {string}
 * @throws {TypeError} for an unknown kind
 */
function deliveryEnvelope(delivery) {
  switch (delivery.kind) {
    case 'statusNotification':
      return statusNotificationEnvelope(delivery.correlator, delivery.statuses);
    case 'statusError':
      return statusErrorEnvelope(delivery.correlator, delivery.address || '', delivery.error);
    case 'statusEnd':
      return statusEndEnvelope(delivery.correlator);
    default:
      throw new TypeError(`unknown delivery kind: ${delivery.kind}`);
  }
}

module.exports = {
  COMMON_NS_V2_1,
  NOTIFICATION_NS,
  FAILED_AUTHENTICATION_FAULTSTRING,
  responseEnvelope,
  faultEnvelope,
  clientFault,
  bodyTooLargeFault,
  internalErrorFault,
  toSoapFault,
  toServiceError,
  failedAuthenticationFault,
  throttledFault,
  operationResponse,
  statusNotificationEnvelope,
  statusErrorEnvelope,
  statusEndEnvelope,
  deliveryEnvelope,
};
