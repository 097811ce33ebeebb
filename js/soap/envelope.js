'use strict';

/**
 * SOAP 1.1 request envelope parser: one pass of `sax` (strict mode) building
 * only a small element tree, with the XML attack surface closed:
 * - no DOCTYPE (rejected in a prolog pre-scan before sax sees a byte of it,
 *   with a backstop inside the sax callbacks), so no internal/external
 *   entities, no billion laughs, no XXE;
 * - only the five predefined entities and character references (sax
 *   `strictEntities`; sax never reads DTDs or external resources);
 * - no processing instructions other than the XML declaration;
 * - UTF-8 only (checked on the bytes, and against the declared encoding);
 * - limits on nesting depth, element count and text size per element.
 *
 * Namespaces are resolved here rather than with sax's `xmlns: true`: sax's
 * namespace mode alone (no tree built) measured 26 µs per 356-byte getStatus
 * envelope and 80 µs per 1.1 KB node-soap envelope, against 17 µs and 38 µs
 * for this whole parser.
 * The resolver below implements Namespaces in XML 1.0 for elements and
 * attributes (default namespace, undeclaring it with xmlns="", reserved
 * xml/xmlns prefixes, unbound prefixes, duplicate expanded attribute names).
 *
 * Known leniencies inherited from sax (harmless for SOAP): entity names are
 * matched case-insensitively (&AMP; and &#X41; are accepted), a literal `<`
 * inside an attribute value and `]]>` in text are not rejected.
 */

const { isUtf8 } = require('node:buffer');

/** sax, required by the first parse, not at load: start-up does not wait for it (issue 15). */
let sax = null;

const SOAP11_NS = 'http://schemas.xmlsoap.org/soap/envelope/';
const SOAP12_NS = 'http://www.w3.org/2003/05/soap-envelope';
const SOAP11_ACTOR_NEXT = 'http://schemas.xmlsoap.org/soap/actor/next';
const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

const MUST_UNDERSTAND_KEY = '{' + SOAP11_NS + '}mustUnderstand';
const ACTOR_KEY = '{' + SOAP11_NS + '}actor';

/** Default parser limits. */
const DEFAULT_LIMITS = Object.freeze({ maxDepth: 32, maxElements: 10000, maxTextBytes: 65536 });

const EMPTY_SET = new Set();

// Shared by every element without attributes (most of them), to avoid one
// null-prototype dictionary per element. Frozen, so a handler that writes to
// it fails loudly in strict mode.
const EMPTY_ATTRS = Object.freeze(Object.create(null));

const FAULT_CODES = new Set(['Client', 'Server', 'VersionMismatch', 'MustUnderstand']);

/**
 * A request that must be answered with a SOAP fault.
 * `faultcode` is the local part of the SOAP 1.1 fault code (the serializer adds
 * the envelope prefix); `faultstring` is safe to send to the client.
 */
class SoapFaultError extends Error {
  /**
   * @param {'Client'|'Server'|'VersionMismatch'|'MustUnderstand'} faultcode
   * @param {string} faultstring human-readable reason, sent to the client
   * @param {{cause?: unknown}} [options]
   */
  constructor(faultcode, faultstring, options) {
    super(faultstring, options);
    if (!FAULT_CODES.has(faultcode)) throw new TypeError(`invalid SOAP 1.1 faultcode: ${faultcode}`);
    this.name = 'SoapFaultError';
    this.faultcode = faultcode;
    this.faultstring = faultstring;
  }
}

function clientFault(msg) {
  return new SoapFaultError('Client', msg);
}

/**
 * @typedef {object} XmlElement
 * @property {string} ns namespace URI, '' if none
 * @property {string} name local name
 * @property {Object<string,string>} attrs null-prototype object keyed by
 *   '{ns}local' (or 'local' when unqualified); xmlns declarations excluded;
 *   one shared frozen object for elements without attributes (read-only)
 * @property {XmlElement[]} children element children in document order
 * @property {string} text concatenated character data (text and CDATA), not trimmed
 */


// sax (non-namespace mode) drops a repeated attribute silently after asking
// tag.attributes.hasOwnProperty(name). Giving each tag an attributes object
// whose inherited hasOwnProperty throws turns that into a well-formedness
// error. A plain class method rather than a read-only property (which would
// stop shadowing but puts every attribute store on V8's slow path); an
// attribute literally named "hasOwnProperty" does shadow it, so onattribute
// deletes it again.
class AttrGuard {
  hasOwnProperty(name) {
    if (Object.prototype.hasOwnProperty.call(this, name)) {
      throw clientFault(`Malformed XML: duplicate attribute ${name}`);
    }
    return false;
  }
}

// Characters outside the XML 1.0 Char production (surrogates are checked separately).
const BAD_CHAR_RE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
const NON_WS_RE = /[^ \t\r\n]/;
const XML_DECL_RE =
  /^<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(["'])1\.[0-9]+\1(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(["'])([A-Za-z][A-Za-z0-9._-]*)\2)?(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(["'])(?:yes|no)\4)?[ \t\r\n]*\?>$/;

function isWs(code) {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;
}

function checkLimits(limits) {
  if (limits === undefined || limits === null) return DEFAULT_LIMITS;
  const out = {
    maxDepth: limits.maxDepth ?? DEFAULT_LIMITS.maxDepth,
    maxElements: limits.maxElements ?? DEFAULT_LIMITS.maxElements,
    maxTextBytes: limits.maxTextBytes ?? DEFAULT_LIMITS.maxTextBytes,
  };
  for (const k of Object.keys(out)) {
    if (!Number.isInteger(out[k]) || out[k] < 1) {
      throw new TypeError(`parseEnvelope: limits.${k} must be a positive integer`);
    }
  }
  return out;
}

/** Decode and validate the transport encoding; returns the document as a string. */
function decodeInput(input) {
  if (typeof input === 'string') {
    if (!input.isWellFormed()) throw clientFault('Malformed XML: unpaired surrogate in input');
    return input;
  }
  if (!Buffer.isBuffer(input) && !(input instanceof Uint8Array)) {
    throw new TypeError('parseEnvelope: input must be a Buffer or a string');
  }
  const b = input;
  if (b.length >= 2) {
    // UTF-16/32 BOMs, or UTF-16 without BOM (a NUL in the first two bytes of "<?xml").
    if ((b[0] === 0xfe && b[1] === 0xff) || (b[0] === 0xff && b[1] === 0xfe) || b[0] === 0 || b[1] === 0) {
      throw clientFault('unsupported encoding: only UTF-8 is accepted');
    }
  }
  if (!isUtf8(b)) throw clientFault('unsupported encoding: input is not valid UTF-8');
  return Buffer.isBuffer(b) ? b.toString('utf8') : Buffer.from(b.buffer, b.byteOffset, b.length).toString('utf8');
}

function skipWs(s, i) {
  while (i < s.length && isWs(s.charCodeAt(i))) i++;
  return i;
}

/**
 * Check the prolog before sax runs: validate the XML declaration (version,
 * encoding) and reject a DOCTYPE before any of it is parsed.
 * @returns {boolean} whether the document starts with an XML declaration
 */
function scanProlog(s, start) {
  let i = start;
  let hasDecl = false;
  if (s.startsWith('<?xml', i) && i + 5 < s.length && isWs(s.charCodeAt(i + 5))) {
    const end = s.indexOf('?>', i);
    if (end < 0) throw clientFault('Malformed XML: unterminated XML declaration');
    const m = XML_DECL_RE.exec(s.slice(i, end + 2));
    if (m === null) throw clientFault('Malformed XML: invalid XML declaration');
    const enc = m[3];
    if (enc !== undefined) {
      const norm = enc.toLowerCase();
      if (norm !== 'utf-8' && norm !== 'utf8') throw clientFault(`unsupported encoding: ${enc}`);
    }
    hasDecl = true;
    i = end + 2;
  }
  // Comments may precede a DOCTYPE; anything else (PIs, the root) ends the scan
  // and is left to sax.
  for (;;) {
    i = skipWs(s, i);
    if (s.startsWith('<!--', i)) {
      const end = s.indexOf('-->', i + 4);
      if (end < 0) return hasDecl; // sax reports the unterminated comment
      i = end + 3;
      continue;
    }
    if (s.startsWith('<!', i) && s.slice(i + 2, i + 9).toUpperCase() === 'DOCTYPE') {
      throw clientFault('DOCTYPE is not allowed in a SOAP message');
    }
    return hasDecl;
  }
}

/**
 * Index of the prefix separator in a QName (-1 if unprefixed); rejects names
 * that are not namespace-well-formed (":a", "a:", "a:b:c").
 */
function colonIndex(qname) {
  const i = qname.indexOf(':');
  if (i >= 0 && (i === 0 || i === qname.length - 1 || qname.indexOf(':', i + 1) >= 0)) {
    throw clientFault(`Malformed XML: invalid qualified name ${qname}`);
  }
  return i;
}

function mapSaxError(err) {
  const first = String(err && err.message).split('\n', 1)[0];
  if (/doctype/i.test(first)) return clientFault('DOCTYPE is not allowed in a SOAP message');
  if (first.startsWith('Invalid character entity')) {
    return clientFault(
      'Malformed XML: invalid or undefined entity reference (only the five predefined entities and character references are allowed)',
    );
  }
  return clientFault(`Malformed XML: ${first}`);
}

function qnameKey(el) {
  return el.ns ? '{' + el.ns + '}' + el.name : el.name;
}

/**
 * Parse a SOAP 1.1 request envelope.
 *
 * Limits (all counted over the whole document): `maxDepth` – the Envelope is
 * depth 1, an element deeper than maxDepth is rejected; `maxElements` – total
 * number of elements including Envelope/Header/Body; `maxTextBytes` – UTF-8
 * bytes of character data accumulated in one element, and of one attribute value.
 *
 * Fault precedence: VersionMismatch (decided at the root tag) and every Client
 * condition (malformed XML, limits, structure, missing/empty Body) come before
 * MustUnderstand, which is raised only for an otherwise valid envelope.
 * A header entry is mandatory when soap:mustUnderstand is "1" or "true"
 * (other values than 0/1/true/false are a Client fault) and it is addressed to
 * us: no soap:actor, or actor .../soap/actor/next.
 *
 * @param {Buffer|Uint8Array|string} input the HTTP request body
 * @param {{maxDepth?: number, maxElements?: number, maxTextBytes?: number}} [limits]
 *   missing fields take DEFAULT_LIMITS values
 * @param {Set<string>} [understoodHeaders] header entry QNames we process, as '{ns}local'
 * @returns {{header: XmlElement|null, body: XmlElement}} `header` is the
 *   soap:Header element (entries in `children`), `body` the one element child
 *   of soap:Body (the operation wrapper; a second one is a Client fault, as are
 *   elements after soap:Body, non-whitespace text in Envelope, Header or Body, and
 *   a second Body or Header)
 * @throws {SoapFaultError} for every request that must be answered with a fault
 * @throws {TypeError} on invalid arguments (a programming error, not a request error)
 */
function parseEnvelope(input, limits, understoodHeaders = EMPTY_SET) {
  const lim = checkLimits(limits);
  const { maxDepth, maxElements, maxTextBytes } = lim;
  const str = decodeInput(input);
  if (BAD_CHAR_RE.test(str)) throw clientFault('Malformed XML: character not allowed in XML 1.0');
  const bomOffset = str.charCodeAt(0) === 0xfeff ? 1 : 0;
  let declPending = scanProlog(str, bomOffset);

  sax ??= require('sax');
  const parser = sax.parser(true, { strictEntities: true, position: false });

  // Parallel stacks (index = depth - 1): elements, the UTF-8 byte count of
  // their text so far, and the length of the namespace binding stack when
  // they were opened.
  const stack = [];
  const textBytes = [];
  const nsMarks = [];
  // In-scope namespace bindings, innermost last ('' = default namespace).
  // Flat arrays instead of a prototype chain of scope objects: objects used
  // as prototypes get a fresh map each; on node-soap's envelope (9
  // declarations) that put ~40% of the time in GC.
  const nsPrefixes = ['xml'];
  const nsUris = [XML_NS];

  function resolvePrefix(prefix) {
    for (let i = nsPrefixes.length - 1; i >= 0; i--) {
      if (nsPrefixes[i] === prefix) return nsUris[i];
    }
    if (prefix === '') return '';
    throw clientFault(`Malformed XML: unbound namespace prefix ${prefix}`);
  }
  let elementCount = 0;
  let rootSeen = false;
  let envelope = null;
  let header = null;
  let bodyEl = null;
  let notUnderstood = null;
  // Reused across tags (cleared in onopentagstart) to avoid per-tag garbage.
  const attrNames = [];
  const attrValues = [];

  function checkDoctype() {
    // Backstop: sax reports markup inside an internal subset as ordinary
    // events before it emits ondoctype; parser.doctype is a non-empty string
    // while a DOCTYPE is being read.
    if (parser.doctype) throw clientFault('DOCTYPE is not allowed in a SOAP message');
  }

  parser.onerror = (err) => {
    throw mapSaxError(err);
  };
  parser.ondoctype = () => {
    throw clientFault('DOCTYPE is not allowed in a SOAP message');
  };
  parser.onsgmldeclaration = () => {
    throw clientFault('Malformed XML: markup declarations are not allowed');
  };
  parser.onprocessinginstruction = (pi) => {
    checkDoctype();
    if (pi.name === 'xml' && declPending) {
      declPending = false; // the declaration, already validated by scanProlog
      return;
    }
    if (pi.name.toLowerCase() === 'xml') throw clientFault('Malformed XML: misplaced XML declaration');
    throw clientFault('Malformed XML: processing instructions are not allowed');
  };
  parser.onopentagstart = (tag) => {
    checkDoctype();
    tag.attributes = new AttrGuard();
    if (attrNames.length !== 0) {
      // Setting .length is a runtime call; skip it on the common attribute-less tag.
      attrNames.length = 0;
      attrValues.length = 0;
    }
  };
  parser.onattribute = (a) => {
    if (a.name === 'hasOwnProperty') delete parser.tag.attributes.hasOwnProperty; // see AttrGuard
    attrNames.push(a.name);
    attrValues.push(a.value);
  };
  parser.onopentag = (tag) => {
    declPending = false;
    const depth = stack.length + 1;
    if (depth > maxDepth) throw clientFault(`Message too deeply nested (more than ${maxDepth} levels)`);
    if (++elementCount > maxElements) throw clientFault(`Message has too many elements (more than ${maxElements})`);
    if (depth === 1 && rootSeen) throw clientFault('Malformed XML: more than one root element');

    // Namespace declarations first: they apply to this element's own name and attributes.
    nsMarks.push(nsPrefixes.length);
    const n = attrNames.length;
    for (let i = 0; i < n; i++) {
      const an = attrNames[i];
      if (an === 'xmlns') {
        nsPrefixes.push('');
        nsUris.push(attrValues[i]);
      } else if (an.startsWith('xmlns:')) {
        const p = an.slice(6);
        const uri = attrValues[i];
        if (p === '' || p.indexOf(':') >= 0) throw clientFault(`Malformed XML: invalid namespace declaration ${an}`);
        if (p === 'xmlns') throw clientFault('Malformed XML: the xmlns prefix must not be declared');
        if (uri === '') throw clientFault(`Malformed XML: prefix ${p} cannot be undeclared`);
        if ((p === 'xml') !== (uri === XML_NS) || uri === XMLNS_NS) {
          throw clientFault(`Malformed XML: invalid binding of prefix ${p} to ${uri}`);
        }
        nsPrefixes.push(p);
        nsUris.push(uri);
      }
    }
    const tagName = tag.name;
    const ci = colonIndex(tagName);
    let ns;
    let local;
    if (ci < 0) {
      ns = resolvePrefix('');
      local = tagName;
    } else {
      const prefix = tagName.slice(0, ci);
      if (prefix === 'xmlns') throw clientFault(`Malformed XML: element ${tagName} uses the reserved prefix xmlns`);
      ns = resolvePrefix(prefix);
      local = tagName.slice(ci + 1);
    }
    let attrs = EMPTY_ATTRS;
    for (let i = 0; i < n; i++) {
      const an = attrNames[i];
      if (an === 'xmlns' || an.startsWith('xmlns:')) continue;
      const v = attrValues[i];
      // bytes >= UTF-16 length, and <= 3x it: only measure exactly when it matters.
      if (v.length > maxTextBytes || (v.length * 3 > maxTextBytes && Buffer.byteLength(v) > maxTextBytes)) {
        throw clientFault(`Attribute value too large (more than ${maxTextBytes} bytes)`);
      }
      const aci = colonIndex(an);
      // Unprefixed attributes are in no namespace (the default namespace does not apply).
      const key = aci < 0 ? an : '{' + resolvePrefix(an.slice(0, aci)) + '}' + an.slice(aci + 1);
      if (attrs === EMPTY_ATTRS) attrs = Object.create(null);
      else if (key in attrs) throw clientFault(`Malformed XML: duplicate attribute ${key}`);
      attrs[key] = v;
    }
    const el = { ns, name: local, attrs, children: [], text: '' };

    if (depth === 1) {
      rootSeen = true;
      if (el.name === 'Envelope' && el.ns !== SOAP11_NS) {
        throw new SoapFaultError(
          'VersionMismatch',
          el.ns === SOAP12_NS
            ? 'SOAP 1.2 is not supported; use a SOAP 1.1 envelope (http://schemas.xmlsoap.org/soap/envelope/)'
            : `Invalid SOAP envelope namespace "${el.ns}"; expected http://schemas.xmlsoap.org/soap/envelope/`,
        );
      }
      if (el.name !== 'Envelope') throw clientFault(`Root element ${qnameKey(el)} is not a SOAP 1.1 Envelope`);
      envelope = el;
    } else {
      const parent = stack[depth - 2];
      parent.children.push(el);
      if (parent === envelope) {
        const isSoap = el.ns === SOAP11_NS;
        if (isSoap && el.name === 'Header') {
          if (envelope.children.length !== 1) throw clientFault('soap:Header must be the first child of soap:Envelope');
          header = el;
        } else if (isSoap && el.name === 'Body') {
          if (bodyEl !== null) throw clientFault('More than one soap:Body');
          if (envelope.children.length !== (header === null ? 1 : 2)) {
            throw clientFault('soap:Body must be the first child of soap:Envelope or follow soap:Header');
          }
          bodyEl = el;
        } else if (bodyEl === null) {
          throw clientFault(`Unexpected element ${qnameKey(el)} before soap:Body`);
        } else {
          // SOAP 1.1 §4.3 allows them, but nothing here would read them: refused rather than
          // silently dropped (WS-I Basic Profile 1.1 R1011 forbids them too).
          throw clientFault(`Unexpected element ${qnameKey(el)} after soap:Body`);
        }
      } else if (parent === bodyEl && bodyEl.children.length > 1) {
        // One operation per request (the WSDL binds one document/literal part): a second
        // element would otherwise be dropped unanswered.
        throw clientFault(
          `soap:Body must contain exactly one operation element; found ${qnameKey(bodyEl.children[0])} and then ${qnameKey(el)}`,
        );
      } else if (parent === header) {
        checkHeaderEntry(el);
      }
    }
    stack.push(el);
    textBytes.push(0);
  };

  function checkHeaderEntry(el) {
    const mu = el.attrs[MUST_UNDERSTAND_KEY];
    if (mu === undefined) return;
    const v = mu.trim();
    let mandatory;
    if (v === '1' || v === 'true') mandatory = true;
    else if (v === '0' || v === 'false') mandatory = false;
    else throw clientFault(`Invalid soap:mustUnderstand value "${mu}" on header ${qnameKey(el)}`);
    if (!mandatory || notUnderstood !== null) return;
    const actor = el.attrs[ACTOR_KEY];
    if (actor !== undefined && actor.trim() !== SOAP11_ACTOR_NEXT) return; // addressed to someone else
    const key = '{' + el.ns + '}' + el.name;
    if (!understoodHeaders.has(key)) notUnderstood = key;
  }

  function addText(t) {
    const depth = stack.length;
    if (depth === 0) return; // whitespace outside the root; sax rejects anything else
    const el = stack[depth - 1];
    if ((el === envelope || el === bodyEl || el === header) && NON_WS_RE.test(t)) {
      throw clientFault(`Text content is not allowed in soap:${el.name}`);
    }
    const total = textBytes[depth - 1] + (t.length * 3 <= maxTextBytes ? t.length * 3 : Buffer.byteLength(t));
    // The fast path above over-counts (3 bytes per code unit); re-measure
    // exactly only when the estimate crosses the limit.
    if (total > maxTextBytes) {
      const exact = Buffer.byteLength(el.text) + Buffer.byteLength(t);
      if (exact > maxTextBytes) throw clientFault(`Text too large in element ${el.name} (more than ${maxTextBytes} bytes)`);
      textBytes[depth - 1] = exact;
    } else {
      textBytes[depth - 1] = total;
    }
    el.text += t;
  }

  parser.ontext = (t) => {
    checkDoctype();
    addText(t);
  };
  parser.oncdata = (t) => {
    checkDoctype();
    addText(t);
  };
  parser.onclosetag = () => {
    stack.pop();
    textBytes.pop();
    const mark = nsMarks.pop();
    if (nsPrefixes.length !== mark) {
      nsPrefixes.length = mark;
      nsUris.length = mark;
    }
  };

  try {
    parser.write(str).close();
  } catch (err) {
    if (err instanceof SoapFaultError) throw err;
    throw new SoapFaultError('Server', 'Internal error while parsing the request', { cause: err });
  }

  if (envelope === null) throw clientFault('Empty request: no XML element found');
  if (bodyEl === null) throw clientFault('Missing soap:Body');
  if (bodyEl.children.length === 0) throw clientFault('Empty soap:Body: no operation element');
  if (notUnderstood !== null) {
    throw new SoapFaultError('MustUnderstand', `Mandatory header ${notUnderstood} was not understood`);
  }
  return { header, body: bodyEl.children[0] };
}

module.exports = {
  parseEnvelope,
  SoapFaultError,
  DEFAULT_LIMITS,
  SOAP11_NS,
  SOAP12_NS,
};
