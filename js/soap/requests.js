'use strict';
// The request side of the SOAP layer: parses an endpoint's request envelope (envelope.js), routes
// on the body element in any version of the endpoint's `.../vX_Y/local` namespace, and converts
// the operation's children into the typed request the service takes. Handlers never see XML.
//
// Conversion never refuses: a value that cannot be converted (a boolean that is not
// true/false/1/0, an int that is not one, a part given twice) is passed on as it is, so that the
// service rejects it with SVC0002 for that part and writes the usage record of the refused
// request like for any other fault.
const { parseEnvelope, SoapFaultError } = require('./envelope');

// Children of common types (SimpleReference, TimeMetric) are unqualified by the schema (the
// common XSD has no elementFormDefault), but some generated clients (node-soap) qualify them with
// the common types namespace: both are accepted.
const COMMON_NS = /^http:\/\/www\.csapi\.org\/schema\/parlayx\/common\/v\d+_\d+$/;
const XSD_INT = /^[+-]?\d+$/;

/** Common types namespace matching the request's Parlay X generation (2.x or 3.x). */
function commonNsFor(major) {
  return major >= 3
    ? 'http://www.csapi.org/schema/parlayx/common/v3_1'
    : 'http://www.csapi.org/schema/parlayx/common/v2_1';
}

/**
 * Direct children of `parent` with a local name, qualified in the parent's namespace or
 * unqualified (clients differ on elementFormDefault).
 * @param {import('./envelope').XmlElement} parent
 * @param {string} name
 * @returns {import('./envelope').XmlElement[]}
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

/**
 * @typedef {{ address: string }} GetStatusRequest  '' when missing or repeated
 * @typedef {{ addresses: string[] }} GetStatusForGroupRequest
 * @typedef {{ correlator: string }} EndNotificationRequest  '' when missing or repeated
 * @typedef {import('../notifications').StartNotificationRequest} StartNotificationRequest
 *   (as converted: parts that could not be converted keep their text, see above)
 */

/** TerminalStatus (ES 202 391-8 §7): getStatus, getStatusForGroup. */
const TERMINAL_STATUS = Object.freeze({
  name: 'TerminalStatus',
  localNs: /^http:\/\/www\.csapi\.org\/schema\/parlayx\/terminal_status\/v(\d+)_\d+\/local$/,
  readers: Object.freeze({
    /** @returns {GetStatusRequest} */
    getStatus(wrapper) {
      const addresses = childTexts(wrapper, 'address');
      // A missing or repeated address is recorded and answered like any invalid address.
      return { address: addresses.length === 1 ? addresses[0] : '' };
    },
    /** @returns {GetStatusForGroupRequest} */
    getStatusForGroup(wrapper) {
      return { addresses: childTexts(wrapper, 'addresses') };
    },
  }),
});

/** TerminalStatusNotificationManager (ES 202 391-8 §8): startNotification, endNotification. */
const NOTIFICATION_MANAGER = Object.freeze({
  name: 'TerminalStatusNotificationManager',
  localNs: /^http:\/\/www\.csapi\.org\/schema\/parlayx\/terminal_status\/notification_manager\/v(\d+)_\d+\/local$/,
  readers: Object.freeze({
    /** @returns {StartNotificationRequest} */
    startNotification(wrapper) {
      return {
        reference: single(wrapper, 'reference', simpleReference),
        addresses: childTexts(wrapper, 'addresses'),
        criteria: childTexts(wrapper, 'criteria'),
        checkImmediate: single(wrapper, 'checkImmediate', xsdBoolean),
        frequency: single(wrapper, 'frequency', timeMetric),
        duration: single(wrapper, 'duration', timeMetric),
        count: single(wrapper, 'count', xsdInt),
      };
    },
    /** @returns {EndNotificationRequest} */
    endNotification(wrapper) {
      const correlators = childElements(wrapper, 'correlator');
      // A missing or repeated correlator is recorded and answered like an unknown one.
      return { correlator: correlators.length === 1 ? correlators[0].text : '' };
    },
  }),
});

/**
 * @typedef {import('../calls/callNotifications').StartCallNotificationRequest} StartCallNotificationRequest
 * @typedef {{ correlator: string, namespace: string }} StopCallRequest  correlator '' when missing or repeated
 */

/** start*: the parts of CallNotificationManager / CallDirectionManager start operations. */
function startCallRequest(wrapper) {
  const request = {
    reference: single(wrapper, 'reference', simpleReference),
    addresses: childTexts(wrapper, 'addresses'),
    criteria: childTexts(wrapper, 'criteria'),
    // The generation of the request decides the events allowed and the callbacks' namespace.
    namespace: wrapper.ns,
  };
  const direction = single(wrapper, 'addressDirection', token);
  if (direction !== undefined) request.addressDirection = direction;
  return request;
}

/** stop*: the correlator (a missing or repeated one is answered like an unknown one). */
function stopCallRequest(wrapper) {
  const correlators = childElements(wrapper, 'correlator');
  return { correlator: correlators.length === 1 ? correlators[0].text : '', namespace: wrapper.ns };
}

/**
 * CallNotificationManager (ES 202 391-3 §8 / 3.x): startCallNotification, stopCallNotification.
 * The media-interaction operations of 3.x are not offered (no MRF): answered as unknown.
 */
const CALL_NOTIFICATION_MANAGER = Object.freeze({
  name: 'CallNotificationManager',
  localNs: /^http:\/\/www\.csapi\.org\/schema\/parlayx\/call_notification\/notification_manager\/v(\d+)_\d+\/local$/,
  readers: Object.freeze({
    /** @returns {StartCallNotificationRequest} */
    startCallNotification: startCallRequest,
    /** @returns {StopCallRequest} */
    stopCallNotification: stopCallRequest,
  }),
});

/**
 * CallDirectionManager: startCallDirectionNotification, stopCallDirectionNotification. The
 * vendor WSDL's namespace is .../call_direction/notification_manager/vX_Y/local; the shorter
 * .../call_direction/manager/vX_Y/local of some documents is accepted too.
 */
const CALL_DIRECTION_MANAGER = Object.freeze({
  name: 'CallDirectionManager',
  localNs: /^http:\/\/www\.csapi\.org\/schema\/parlayx\/call_direction\/(?:notification_)?manager\/v(\d+)_\d+\/local$/,
  readers: Object.freeze({
    /** @returns {StartCallNotificationRequest} */
    startCallDirectionNotification: startCallRequest,
    /** @returns {StopCallRequest} */
    stopCallDirectionNotification: stopCallRequest,
  }),
});

/** Children of `parent` by local name in any namespace (answers of applications' SOAP stacks vary). */
function anyChildren(parent, name) {
  return parent.children.filter((child) => child.name === name);
}

/**
 * The application's answer to handle<Event> (CallDirection): the Action of
 * `<handle<Event>Response><result><actionToPerform/><routingAddress/>?</result>`. Qualification
 * of `result` and of Action's children is not checked (stacks differ).
 * @param {Buffer|string} body the HTTP response body
 * @param {string} operation e.g. 'handleBusy'
 * @returns {{ action: string, routingAddress?: string }} as sent (the caller validates the values)
 * @throws {SoapFaultError} not a SOAP envelope; {Error} code ERR_PX_BAD_ACTION: a SOAP fault, another
 *   operation's answer, or no single result/actionToPerform
 */
function readActionResponse(body, operation) {
  const { body: wrapper } = parseEnvelope(body);
  const bad = (why) => Object.assign(new Error(`${operation}: ${why}`), { code: 'ERR_PX_BAD_ACTION' });
  if (wrapper.name === 'Fault') throw bad('the application answered with a SOAP fault');
  if (wrapper.name !== `${operation}Response`) throw bad(`unexpected answer element ${wrapper.name}`);
  const results = anyChildren(wrapper, 'result');
  if (results.length !== 1) throw bad('no single result');
  const actions = anyChildren(results[0], 'actionToPerform');
  if (actions.length !== 1) throw bad('no single actionToPerform');
  const action = { action: actions[0].text.trim() };
  const routing = anyChildren(results[0], 'routingAddress');
  if (routing.length > 1) throw bad('more than one routingAddress');
  if (routing.length === 1) action.routingAddress = routing[0].text.trim();
  return action;
}

/**
 * @typedef {object} SoapInterface
 * @property {string} name
 * @property {RegExp} localNs  the wrapper namespace, with the major version as its first capture group
 * @property {Record<string, (wrapper: import('./envelope').XmlElement) => object>} readers
 */
/**
 * @typedef {object} SoapRequest
 * @property {string} operation  local name of the body element, e.g. 'getStatus'
 * @property {string} ns  namespace of the body element (the answer is written in it)
 * @property {string} commonNs  common types namespace of the request's generation (fault details)
 * @property {import('./envelope').XmlElement|null} header  soap:Header, for the authenticator
 * @property {object} request  the operation's typed request
 */

/**
 * Parses a request of one interface. The request object is converted before authentication:
 * conversion is pure and cannot fail, so it does not matter that a refused request was read.
 * @param {SoapInterface} soapInterface
 * @param {Buffer|string} body
 * @param {Set<string>} [understoodHeaders] header entry QNames, as '{ns}local'
 * @param {string[]} [allowed] operations the endpoint routes (default: all the interface reads)
 * @returns {SoapRequest}
 * @throws {SoapFaultError} malformed envelope, or an operation the endpoint does not offer
 */
function readRequest(soapInterface, body, understoodHeaders, allowed) {
  const { header, body: wrapper } = parseEnvelope(body, undefined, understoodHeaders);
  const match = soapInterface.localNs.exec(wrapper.ns);
  const known = match && Object.hasOwn(soapInterface.readers, wrapper.name)
    && (allowed === undefined || allowed.includes(wrapper.name));
  if (!known) throw new SoapFaultError('Client', `unknown operation {${wrapper.ns}}${wrapper.name}`);
  return {
    operation: wrapper.name,
    ns: wrapper.ns,
    commonNs: commonNsFor(Number(match[1])),
    header,
    request: soapInterface.readers[wrapper.name](wrapper),
  };
}

module.exports = {
  TERMINAL_STATUS,
  NOTIFICATION_MANAGER,
  CALL_NOTIFICATION_MANAGER,
  CALL_DIRECTION_MANAGER,
  readActionResponse,
  readRequest,
  commonNsFor,
  childElements,
  childTexts,
};
