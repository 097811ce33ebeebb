'use strict';
// SOAP requests the gateway sends to an application's TerminalStatusNotification endpoint
// (wsdl/parlayx_terminal_status_notification_interface_2_2.wsdl): statusNotification,
// statusError and statusEnd. Written with string templates: one envelope per delivery is on the
// hot path of notification delivery.
//
// Qualification (digest §1.3): the wrapper and its direct children are in the .../local
// namespace; the children of StatusInformation and ServiceError (types schemas without
// elementFormDefault) are unqualified.
const { escapeText } = require('./xml');
const { responseEnvelope } = require('./response');

/** Namespace of the notification interface's wrapper elements. */
const NOTIFICATION_NS = 'http://www.csapi.org/schema/parlayx/terminal_status/notification/v2_2/local';

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
  NOTIFICATION_NS,
  deliveryEnvelope,
  statusNotificationEnvelope,
  statusErrorEnvelope,
  statusEndEnvelope,
};
