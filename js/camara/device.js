'use strict';
// The CAMARA `device` object (and a device named by a three-legged token) as the terminal
// address the Parlay X services take: a phone number is the tel: URI of that E.164 number, which
// the service policy then checks against the address plan (docs/policy.md) and the core
// subscribes as sip:<number>@<sip.telDomain>;user=phone. The other identifiers (IP addresses,
// network access identifier) name nothing a presence server knows: 422 UNSUPPORTED_IDENTIFIER.
const { CamaraError } = require('./errors');

/** Identifiers of the contract's Device the gateway can serve. */
const SUPPORTED_IDENTIFIERS = Object.freeze(['phoneNumber']);

/**
 * The terminal a request is about (the contract's "Identifying the device from the access
 * token" rules).
 * @param {{ phoneNumber?: string, networkAccessIdentifier?: string, ipv4Address?: object,
 *           ipv6Address?: string } | undefined} device the request's, already schema-valid
 * @param {string | null} tokenPhoneNumber the device the access token names (three-legged), or null
 * @returns {{ phoneNumber: string, address: string }} address: the tel: URI
 * @throws {CamaraError} 422 UNNECESSARY_IDENTIFIER, MISSING_IDENTIFIER or UNSUPPORTED_IDENTIFIER
 */
function resolveDevice(device, tokenPhoneNumber) {
  if (tokenPhoneNumber) {
    if (device !== undefined) throw new CamaraError('UNNECESSARY_IDENTIFIER', undefined, { reason: 'unnecessaryIdentifier' });
    return { phoneNumber: tokenPhoneNumber, address: `tel:${tokenPhoneNumber}` };
  }
  if (device === undefined) throw new CamaraError('MISSING_IDENTIFIER', undefined, { reason: 'missingIdentifier' });
  if (typeof device.phoneNumber === 'string') return { phoneNumber: device.phoneNumber, address: `tel:${device.phoneNumber}` };
  throw new CamaraError('UNSUPPORTED_IDENTIFIER',
    `The identifier provided is not supported: use ${SUPPORTED_IDENTIFIERS.join(', ')}.`, { reason: 'unsupportedIdentifier' });
}

module.exports = { resolveDevice, SUPPORTED_IDENTIFIERS };
