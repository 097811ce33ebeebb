'use strict';

/**
 * Parlay X common fault catalogue (ES 202 391-1 / OneAPI common exceptions,
 * see docs digest §4) and its SOAP serialization.
 *
 * Wire shape (digest §1.3): the fault detail is the global element
 * ServiceException or PolicyException of the common types namespace, with
 * unqualified children messageId, text (the TEMPLATE, "%1" markers kept, as
 * the XSD documents: "Message text, with replacement variables marked with
 * %#") and variables (one element per value, in order). The SOAP faultstring
 * carries the filled text for humans and generic clients.
 */

const { element } = require('../soap/xml');
const { faultEnvelope } = require('../soap/response');
const native = require('../native');

/** Common types namespace of Parlay X 2.x (fault detail elements). */
const COMMON_NS_V2_1 = 'http://www.csapi.org/schema/parlayx/common/v2_1';

function entry(kind, title, text) {
  return Object.freeze({ kind, title, text });
}

/**
 * messageId → { kind, title, text } where text is the template with %1, %2 … markers.
 * Declared once in the native core (native/parlayx/FaultCatalogue.cc, digest §4 texts) and
 * exported by the addon; this is its frozen copy, in catalogue order.
 * @type {Readonly<Object<string, {kind: 'ServiceException'|'PolicyException', title: string, text: string}>>}
 */
const CATALOGUE = Object.freeze(
  Object.assign(
    Object.create(null),
    Object.fromEntries(
      Object.entries(native.faultCatalogue).map(([id, def]) => [id, entry(def.kind, def.title, def.text)]),
    ),
  ),
);

/**
 * Fill a %1 %2 … template in a single pass: a variable's own value is never
 * re-scanned, so a value containing "%2" stays literal. A marker without a
 * matching variable is left as is (visible, rather than silently blank).
 * @param {string} template
 * @param {string[]} variables
 * @returns {string}
 */
function fillTemplate(template, variables) {
  return template.replace(/%(\d+)/g, (marker, digits) => {
    const i = Number(digits) - 1;
    return i >= 0 && i < variables.length ? variables[i] : marker;
  });
}

/** A Parlay X ServiceException or PolicyException raised by the service layer. */
class ParlayxFault extends Error {
  /**
   * @param {string} messageId catalogue id, e.g. 'SVC0002'
   * @param {Array<string|number|boolean|null|undefined>} [variables] values for %1, %2 …;
   *   coerced to strings, null/undefined become ''
   * @throws {TypeError} on an unknown messageId or non-array variables
   */
  constructor(messageId, variables = []) {
    if (typeof messageId !== 'string' || !Object.hasOwn(CATALOGUE, messageId)) {
      throw new TypeError(`unknown Parlay X messageId: ${String(messageId)}`);
    }
    if (!Array.isArray(variables)) throw new TypeError('ParlayxFault: variables must be an array');
    const def = CATALOGUE[messageId];
    const vars = Object.freeze(variables.map((v) => (v === null || v === undefined ? '' : String(v))));
    const text = fillTemplate(def.text, vars);
    super(text);
    this.name = 'ParlayxFault';
    /** @type {'ServiceException'|'PolicyException'} */
    this.kind = def.kind;
    this.messageId = messageId;
    /** @type {ReadonlyArray<string>} */
    this.variables = vars;
    /** Template with %n markers, as sent in the <text> element. */
    this.template = def.text;
    /** Filled text (same as message). */
    this.text = text;
  }
}

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

module.exports = {
  CATALOGUE,
  COMMON_NS_V2_1,
  ParlayxFault,
  fillTemplate,
  toSoapFault,
  toServiceError,
};
