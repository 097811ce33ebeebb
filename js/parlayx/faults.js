'use strict';

/**
 * Parlay X common fault catalogue (ES 202 391-1 / OneAPI common exceptions,
 * see docs digest §4) and the fault the service layer raises. Their SOAP
 * serialization is js/soap/builder.js (toSoapFault, toServiceError): services
 * raise faults, the SOAP layer writes them.
 */

const native = require('../native');

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

module.exports = {
  CATALOGUE,
  ParlayxFault,
  fillTemplate,
};
