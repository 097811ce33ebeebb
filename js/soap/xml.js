'use strict';

/**
 * Minimal, fast XML serialization helpers (string concatenation only).
 *
 * Characters not allowed by XML 1.0 (the `Char` production) are STRIPPED, not
 * rejected: C0 controls other than TAB/LF/CR (U+0000–U+0008, U+000B, U+000C,
 * U+000E–U+001F), the non-characters U+FFFE and U+FFFF, and unpaired UTF-16
 * surrogates. Rationale: the values we serialize come from the network (SIP
 * display names, PIDF notes, client input echoed in faults) and one stray
 * control character must not turn a valid answer into an exception or into
 * a response no client can parse.
 *
 * Escaping: both escapeText and escapeAttr escape the five XML specials
 * (& < > " '). CR is written as &#13; because parsers normalize a literal CR
 * to LF; escapeAttr also writes TAB and LF as character references because
 * attribute-value normalization would turn them into spaces.
 */

// One regex pass per value; the callback runs only for characters that need it.
// Lone surrogates are matched with look-around because the regex works on
// UTF-16 code units (no `u` flag), which is what lets it see unpaired halves.
const TEXT_RE =
  /[&<>"'\r\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const ATTR_RE =
  /[&<>"'\t\n\r\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

const REPLACEMENTS = Object.freeze(
  Object.assign(Object.create(null), {
    '&': '&amp;',
    '<': '&lt;',
    '>': '&gt;',
    '"': '&quot;',
    "'": '&apos;',
    '\t': '&#9;',
    '\n': '&#10;',
    '\r': '&#13;',
  }),
);

function replaceChar(c) {
  const r = REPLACEMENTS[c];
  return r === undefined ? '' : r; // anything else matched is a forbidden char: strip it
}

function toStringValue(s, what) {
  if (typeof s === 'string') return s;
  if (typeof s === 'number' || typeof s === 'boolean' || typeof s === 'bigint') return String(s);
  // null/undefined/objects are almost always a caller bug ("undefined" on the wire).
  throw new TypeError(`${what}: expected a string, got ${s === null ? 'null' : typeof s}`);
}

/**
 * Escape a value for use as XML character data.
 * Escapes & < > " ' and CR; strips characters not allowed in XML 1.0 (see module doc).
 * @param {string|number|boolean|bigint} s value (numbers/booleans are stringified)
 * @returns {string} escaped text
 * @throws {TypeError} for null, undefined or objects
 */
function escapeText(s) {
  return toStringValue(s, 'escapeText').replace(TEXT_RE, replaceChar);
}

/**
 * Escape a value for use inside a quoted (single or double) attribute value.
 * Escapes & < > " ', TAB, LF, CR; strips characters not allowed in XML 1.0.
 * @param {string|number|boolean|bigint} s value (numbers/booleans are stringified)
 * @returns {string} escaped attribute value (without the surrounding quotes)
 * @throws {TypeError} for null, undefined or objects
 */
function escapeAttr(s) {
  return toStringValue(s, 'escapeAttr').replace(ATTR_RE, replaceChar);
}

// Element/attribute names are code constants, but a typo or an interpolated
// value would silently produce broken XML, so names are checked (ASCII QName subset).
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]*(?::[A-Za-z_][A-Za-z0-9_.-]*)?$/;

function checkName(name) {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new TypeError(`invalid XML name: ${JSON.stringify(name)}`);
  }
}

/**
 * Build one element as a string.
 *
 * `content` decides how the body is written:
 * - `undefined`, `null` or `''`: empty element, written `<name/>`;
 * - string, number, boolean: character data, escaped with escapeText;
 * - array: already-serialized XML fragments (e.g. results of element()),
 *   concatenated WITHOUT escaping; `null`, `undefined` and `false` items are
 *   skipped so optional children can be written inline.
 *
 * @param {string} prefixedName element name, optionally `prefix:local`
 * @param {string|number|boolean|Array<string|null|undefined|false>|null} [content]
 * @param {Object<string, string|number|boolean|null|undefined>} [attrs] attribute
 *   name → value; null/undefined values are omitted; values are escaped
 * @returns {string} the serialized element
 * @throws {TypeError} on an invalid element/attribute name or content type
 */
function element(prefixedName, content, attrs) {
  checkName(prefixedName);
  let open = '<' + prefixedName;
  if (attrs !== undefined && attrs !== null) {
    for (const key of Object.keys(attrs)) {
      const v = attrs[key];
      if (v === undefined || v === null) continue;
      checkName(key);
      open += ' ' + key + '="' + escapeAttr(v) + '"';
    }
  }
  if (content === undefined || content === null || content === '') return open + '/>';
  let body;
  if (Array.isArray(content)) {
    body = '';
    for (const part of content) {
      if (part === undefined || part === null || part === false) continue;
      if (typeof part !== 'string') {
        throw new TypeError(`element(${prefixedName}): child fragments must be strings`);
      }
      body += part;
    }
    if (body === '') return open + '/>';
  } else {
    body = escapeText(content);
  }
  return open + '>' + body + '</' + prefixedName + '>';
}

module.exports = { escapeText, escapeAttr, element };
