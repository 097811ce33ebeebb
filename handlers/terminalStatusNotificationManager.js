'use strict';
// SOAP endpoint of the Parlay X TerminalStatusNotificationManager interface (startNotification,
// endNotification), as a serverless-style function: (event) => response. Any
// terminal_status/notification_manager version namespace is accepted and answered in kind.
//
// The handler only converts XML to the service's request: values it cannot convert (a boolean
// that is not true/false/1/0, an int that is not one, a part given twice) are passed on as they
// are, so that the service rejects them with SVC0002 for that part and writes the usage record
// of the refused request like for any other fault.
const { createSoapHandler, childElements, childTexts } = require('./soapEndpoint');

const LOCAL_NS = /^http:\/\/www\.csapi\.org\/schema\/parlayx\/terminal_status\/notification_manager\/v(\d+)_\d+\/local$/;
const XSD_INT = /^[+-]?\d+$/;

/**
 * The value of a child that may appear at most once: undefined when absent, parse(child) when
 * present once, and when repeated an array (which the service refuses for every part).
 */
function single(parent, name, parse) {
  const found = childElements(parent, name);
  if (found.length === 0) return undefined;
  return found.length === 1 ? parse(found[0]) : found.map(parse);
}

const text = (element) => element.text;
const token = (element) => element.text.trim();

/** xsd:int as a number; anything else stays a string. */
function xsdInt(element) {
  const value = element.text.trim();
  if (!XSD_INT.test(value)) return value;
  const number = Number(value);
  return number >= -2147483648 && number <= 2147483647 ? number : value;
}

/** xsd:boolean (true, false, 1, 0) as a boolean; anything else stays a string. */
function xsdBoolean(element) {
  const value = element.text.trim();
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  return value;
}

/** common:TimeMetric {metric, units}; its children are unqualified. */
function timeMetric(element) {
  return { metric: single(element, 'metric', token), units: single(element, 'units', xsdInt) };
}

/** common:SimpleReference {endpoint, interfaceName, correlator}. */
function simpleReference(element) {
  return {
    endpoint: single(element, 'endpoint', token),
    interfaceName: single(element, 'interfaceName', text),
    correlator: single(element, 'correlator', text),
  };
}

const operations = {
  async startNotification(service, wrapper, commonNs, context) {
    const request = {
      reference: single(wrapper, 'reference', simpleReference),
      addresses: childTexts(wrapper, 'addresses'),
      criteria: childTexts(wrapper, 'criteria'),
      checkImmediate: single(wrapper, 'checkImmediate', xsdBoolean),
      frequency: single(wrapper, 'frequency', timeMetric),
      duration: single(wrapper, 'duration', timeMetric),
      count: single(wrapper, 'count', xsdInt),
    };
    await service.startNotification(request, context);
    return '';
  },
  async endNotification(service, wrapper, commonNs, context) {
    const correlators = childElements(wrapper, 'correlator');
    // A missing or repeated correlator is recorded and answered like an unknown one.
    await service.endNotification(correlators.length === 1 ? correlators[0].text : '', context);
    return '';
  },
};

/**
 * Creates the TerminalStatusNotificationManager SOAP handler.
 * @param {{ service: import('../js/notifications').TerminalStatusNotificationService,
 *           maxBodyBytes: number, log?: (level: string, msg: string, extra?: object) => void,
 *           authenticator?: any, onAuthFailure?: Function }} options (see handlers/soapEndpoint.js)
 * @returns {(event: import('./http').HttpEvent) => Promise<import('./http').HttpResponse>}
 */
function createNotificationManagerHandler({ service, maxBodyBytes, log, authenticator, onAuthFailure }) {
  return createSoapHandler({ localNs: LOCAL_NS, operations, service, maxBodyBytes, log, authenticator, onAuthFailure });
}

module.exports = { createNotificationManagerHandler };
