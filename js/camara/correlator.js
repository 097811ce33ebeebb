'use strict';
// The x-correlator header of every CAMARA request and answer: echoed when the client sent a
// valid one (the contract's pattern), made up (a UUID, which the pattern admits) otherwise.
const { randomUUID } = require('node:crypto');
const { CamaraError } = require('./errors');

/**
 * The correlator of a request.
 * @param {Record<string, string> | undefined} headers lower-case names
 * @param {RegExp} pattern the contract's (contract.js correlatorPattern)
 * @returns {{ value: string, error: CamaraError | null }} error: the header did not match the
 *   pattern (400 INVALID_ARGUMENT; `value` is then a new one, the client's is not echoed)
 */
function readCorrelator(headers, pattern) {
  const given = headers ? headers['x-correlator'] : undefined;
  if (given === undefined || given === '') return { value: randomUUID(), error: null };
  if (typeof given === 'string' && pattern.test(given)) return { value: given, error: null };
  return {
    value: randomUUID(),
    error: new CamaraError('INVALID_ARGUMENT', `x-correlator must match ${pattern.source}`, { reason: 'badCorrelator' }),
  };
}

module.exports = { readCorrelator };
