'use strict';
// The one check of a Parlay X SimpleReference (endpoint, interfaceName, correlator), shared by
// every start operation that takes one (Terminal Status notifications, call notifications and
// call direction): the same limits everywhere, declared once.

// The stores cannot hold line breaks or tabs, and no URI or correlator needs them.
const CONTROL = /[\u0000-\u001f\u007f]/;
// Lengths no real application needs, so that one request cannot make every later delivery and
// usage record of its registration carry tens of kilobytes (the body cap alone allows 64 KiB).
const MAX_ENDPOINT_CHARS = 2048;
const MAX_CORRELATOR_CHARS = 256;
const MAX_INTERFACE_NAME_CHARS = 256;

const { parseEndpointUrl } = require('../outbound/endpointUrl');

/**
 * Checks a SimpleReference part by part; throws `invalid(part)` for the first bad one.
 * @param {unknown} reference
 * @param {(part: string) => Error} invalid the caller's SVC0002 fault for a part
 * @returns {{endpoint: string, interfaceName: string, correlator: string}}
 */
function checkSimpleReference(reference, invalid) {
  if (reference === null || typeof reference !== 'object' || Array.isArray(reference)) throw invalid('reference');
  const { endpoint, correlator } = /** @type {any} */ (reference);
  if (typeof endpoint !== 'string' || endpoint.length > MAX_ENDPOINT_CHARS
    || parseEndpointUrl(endpoint) === null) throw invalid('endpoint');
  const given = /** @type {any} */ (reference).interfaceName;
  const interfaceName = given === undefined ? '' : given;
  if (typeof interfaceName !== 'string' || interfaceName.length > MAX_INTERFACE_NAME_CHARS || CONTROL.test(interfaceName)) {
    throw invalid('interfaceName');
  }
  if (typeof correlator !== 'string' || correlator.length === 0 || correlator.length > MAX_CORRELATOR_CHARS
    || CONTROL.test(correlator)) throw invalid('correlator');
  return { endpoint, interfaceName, correlator };
}

module.exports = { checkSimpleReference, CONTROL, MAX_ENDPOINT_CHARS };
