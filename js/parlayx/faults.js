'use strict';

/**
 * Parlay X common fault catalogue (ES 202 391-1 / OneAPI common exceptions,
 * see docs digest §4) and the fault the service layer raises. Their SOAP
 * serialization is js/soap/builder.js (toSoapFault, toServiceError): services
 * raise faults, the SOAP layer writes them.
 */

const SVC = 'ServiceException';
const POL = 'PolicyException';

function entry(kind, title, text) {
  return Object.freeze({ kind, title, text });
}

/**
 * messageId → { kind, title, text } where text is the template with %1, %2 … markers.
 * Texts are the common ones quoted identically by several implementations
 * (digest §4, [D]); POL0005 uses the spec-table text, not eoneapi's copy of POL0004.
 * @type {Readonly<Object<string, {kind: 'ServiceException'|'PolicyException', title: string, text: string}>>}
 */
const CATALOGUE = Object.freeze(
  Object.assign(Object.create(null), {
    SVC0001: entry(SVC, 'Service error', 'A service error occurred. Error code is %1'),
    SVC0002: entry(SVC, 'Invalid input value', 'Invalid input value for message part %1'),
    SVC0003: entry(
      SVC,
      'Invalid input value with list of valid values',
      'Invalid input value for message part %1, valid values are %2',
    ),
    SVC0004: entry(SVC, 'No valid addresses', 'No valid addresses provided in message part %1'),
    SVC0005: entry(SVC, 'Duplicate correlator', 'Correlator %1 specified in message part %2 is a duplicate'),
    SVC0006: entry(SVC, 'Invalid group', 'Group %1 in message part %2 is not a valid group'),
    SVC0007: entry(SVC, 'Invalid charging information', 'Invalid charging information'),
    SVC0008: entry(SVC, 'Overlapping criteria', 'Overlapped criteria %1'),
    POL0001: entry(POL, 'Policy error', 'A policy error occurred. Error code is %1'),
    POL0002: entry(POL, 'Privacy error', 'Privacy verification failed for address %1, request is refused'),
    POL0003: entry(POL, 'Too many addresses', 'Too many addresses specified in message part %1'),
    POL0004: entry(POL, 'Unlimited notifications not supported', 'Unlimited notification request not supported'),
    POL0005: entry(POL, 'Too many notifications requested', 'Too many notifications requested'),
    POL0006: entry(POL, 'Groups not allowed', 'Group specified in message part %1 not allowed'),
    POL0007: entry(POL, 'Nested groups not allowed', 'Nested groups specified in message part %1 not allowed'),
    POL0008: entry(POL, 'Charging not supported', 'Charging is not supported'),
    POL0009: entry(POL, 'Invalid frequency requested', 'Invalid frequency requested'),
    POL0010: entry(
      POL,
      'Retention time interval expired',
      'Requested information unavailable as the retention time interval has expired',
    ),
    POL0011: entry(POL, 'Media type not supported', 'Media type not supported'),
    POL0012: entry(
      POL,
      'Too many description entries',
      'Too many description entries specified in message part %1',
    ),
    POL0013: entry(POL, 'Duplicated addresses', 'Duplicated addresses %1'),
  }),
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
