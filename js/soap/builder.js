'use strict';
// The one place that writes SOAP 1.1 text: operation responses, faults (SOAP Client/Server
// faults, Parlay X ServiceException/PolicyException, the WS-Security authentication fault) and
// the outbound notification requests (statusNotification, statusError, statusEnd; notify* and
// handle* of Call Notification / Call Direction).
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
  startCallNotification: () => '',
  stopCallNotification: () => '',
  startCallDirectionNotification: () => '',
  stopCallDirectionNotification: () => '',
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

// ---------------------------------------------------------------------------------------------
// Outbound calls to an application's CallNotification / CallDirection endpoint
// (wsdl/parlayx_call_notification_interface_*.wsdl, wsdl/parlayx_call_direction_interface_*.wsdl)

const CALL_NS_BASE = 'http://www.csapi.org/schema/parlayx/';
const MANAGER_VERSION = /\/v(\d+)_(\d+)\/local$/;

/** Major and minor version of a manager request namespace ('' or unknown: 3.1, the served WSDL). */
function managerVersion(managerNs) {
  const match = MANAGER_VERSION.exec(managerNs || '');
  return match ? { major: Number(match[1]), minor: Number(match[2]) } : { major: 3, minor: 1 };
}

/**
 * The CallNotification namespace a registration's callbacks use, from the namespace its
 * startCallNotification came in (wsdl/README.md): 2.x -> v2_3, 3.x -> v3_2 (v3_8 for v3_8+).
 * @param {string} managerNs
 * @returns {string}
 */
function callNotificationNamespace(managerNs) {
  const { major, minor } = managerVersion(managerNs);
  const version = major < 3 ? 'v2_3' : minor >= 8 ? 'v3_8' : 'v3_2';
  return `${CALL_NS_BASE}call_notification/${version}/local`;
}

/**
 * The CallDirection namespace of a direction registration's handle* calls: 2.x -> v2_3, 3.x -> v3_2.
 * @param {string} managerNs
 * @returns {string}
 */
function callDirectionNamespace(managerNs) {
  return `${CALL_NS_BASE}call_direction/${managerVersion(managerNs).major < 3 ? 'v2_3' : 'v3_2'}/local`;
}

/** Whether a manager namespace is Parlay X 2.x (no Answer/Disconnected, no 3.x parts). */
function isParlayX2(managerNs) {
  return managerVersion(managerNs).major < 3;
}

/**
 * The parts every notify* / handle* shares, after the correlator (and eventNotified): the 2.x
 * operations carry only the two participants (wsdl/README.md).
 */
function participantsXml(call, v2) {
  let xml = '<ns:callingParticipant>' + escapeText(call.caller) + '</ns:callingParticipant>';
  if (!v2 && call.callerName) xml += '<ns:callingParticipantName>' + escapeText(call.callerName) + '</ns:callingParticipantName>';
  xml += '<ns:calledParticipant>' + escapeText(call.called) + '</ns:calledParticipant>';
  if (!v2 && call.callSessionId) xml += '<ns:callSessionIdentifier>' + escapeText(call.callSessionId) + '</ns:callSessionIdentifier>';
  return xml;
}

const NOTIFY_OPERATIONS = Object.freeze(Object.assign(Object.create(null), {
  Busy: 'notifyBusy',
  NotReachable: 'notifyNotReachable',
  NoAnswer: 'notifyNoAnswer',
  CalledNumber: 'notifyCalledNumber',
  Answer: 'notifyCallEvent',
  Disconnected: 'notifyCallEvent',
}));
const HANDLE_OPERATIONS = Object.freeze(Object.assign(Object.create(null), {
  Busy: 'handleBusy',
  NotReachable: 'handleNotReachable',
  NoAnswer: 'handleNoAnswer',
  CalledNumber: 'handleCalledNumber',
}));

/**
 * The CallNotification operation of an event: notify<Event> for the 2.x events, notifyCallEvent
 * (3.x, with eventNotified) for Answer and Disconnected.
 * @param {string} event a CallEvents value
 * @returns {string|undefined}
 */
function notifyOperation(event) {
  return NOTIFY_OPERATIONS[event];
}

/** @param {string} event @returns {string|undefined} the CallDirection handle* operation */
function handleOperation(event) {
  return HANDLE_OPERATIONS[event];
}

/**
 * @typedef {object} CallNotificationDelivery  what callNotificationEnvelope needs (a
 *   CallNotificationDue of the core, binding-contract.md)
 * @property {string} event  Busy | NotReachable | NoAnswer | CalledNumber | Answer | Disconnected
 * @property {string} correlator
 * @property {string} caller
 * @property {string} [callerName]
 * @property {string} called
 * @property {string} [callSessionId]
 * @property {string} [description]  EventDescription.description of notifyCallEvent
 * @property {string} ns  the registration's manager request namespace
 */

/**
 * notify<Event>(correlator, [eventNotified,] participants) in the registration's namespace.
 * @param {CallNotificationDelivery} call
 * @returns {string} the SOAP envelope
 * @throws {TypeError} for an event without a notify operation, or a 3.x event for a 2.x registration
 */
function callNotificationEnvelope(call) {
  const operation = NOTIFY_OPERATIONS[call.event];
  if (operation === undefined) throw new TypeError(`no notify operation for call event ${call.event}`);
  const v2 = isParlayX2(call.ns);
  if (v2 && operation === 'notifyCallEvent') throw new TypeError(`${call.event} is not a Parlay X 2.x event`);
  let xml = `<ns:${operation} xmlns:ns="${callNotificationNamespace(call.ns)}"><ns:correlator>`
    + escapeText(call.correlator) + '</ns:correlator>';
  if (operation === 'notifyCallEvent') {
    xml += '<ns:eventNotified><callEvent>' + escapeText(call.event) + '</callEvent>';
    if (call.description) xml += '<description>' + escapeText(call.description) + '</description>';
    xml += '</ns:eventNotified>';
  }
  return responseEnvelope(xml + participantsXml(call, v2) + `</ns:${operation}>`);
}

/**
 * handle<Event>(correlator, participants) to a direction registration's endpoint.
 * @param {{ event: string, correlator: string, caller: string, callerName?: string, called: string,
 *           callSessionId?: string, ns: string }} decision a CallDecisionDue of the core
 * @returns {string} the SOAP envelope
 * @throws {TypeError} for an event that has no handle operation
 */
function handleEnvelope(decision) {
  const operation = HANDLE_OPERATIONS[decision.event];
  if (operation === undefined) throw new TypeError(`no handle operation for call event ${decision.event}`);
  const xml = `<ns:${operation} xmlns:ns="${callDirectionNamespace(decision.ns)}"><ns:correlator>`
    + escapeText(decision.correlator) + '</ns:correlator>' + participantsXml(decision, isParlayX2(decision.ns));
  return responseEnvelope(xml + `</ns:${operation}>`);
}

/**
 * The envelope of one delivery of the native core.
 * @param {{kind: string, correlator: string,
 *          call?: CallNotificationDelivery,
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
    case 'notifyBusy':
    case 'notifyNotReachable':
    case 'notifyNoAnswer':
    case 'notifyCalledNumber':
    case 'notifyCallEvent':
      // A call notification (js/calls/callDeliveries.js): the kind is its operation.
      return callNotificationEnvelope(delivery.call);
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
  callNotificationNamespace,
  callDirectionNamespace,
  isParlayX2,
  notifyOperation,
  handleOperation,
  callNotificationEnvelope,
  handleEnvelope,
};
