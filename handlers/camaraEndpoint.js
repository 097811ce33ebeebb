'use strict';
// The skeleton every CAMARA endpoint shares, as soapEndpoint.js is the SOAP one's: the
// x-correlator (echoed, or made up; 400 when it breaks the contract's pattern), the method, the
// bearer token (401/403, js/camara/tokenVerifier.js), the JSON body checked against the
// contract's schema (400, js/camara/requestValidator.js), a GLOBALID per request, and every
// answer as JSON with the CAMARA error body `{ status, code, message }`. The API modules
// (camaraReachability.js) only say which service method an operation calls.
const { randomUUID } = require('node:crypto');
const { CamaraError } = require('../js/camara/errors');
const { readCorrelator } = require('../js/camara/correlator');
const { eventBody, jsonResponse } = require('./http');

/**
 * @typedef {(service: any, body: any, context: CamaraContext) => Promise<unknown>} CamaraOperation
 *   calls the service with the validated body; its result is the 200 answer's JSON
 */
/**
 * @typedef {object} CamaraContext
 * @property {string} globalId GLOBALID of the request's usage records
 * @property {string} requester the requester the token's client maps to (camara.clients)
 * @property {string} correlator the x-correlator of the answer
 * @property {import('../js/camara/tokenVerifier').TokenIdentity} identity
 * @property {Record<string, string>} pathParameters the path's `{name}` parts (router), decoded
 */

/** The answer of a CamaraError: its status, its headers, the contract's ErrorInfo body. */
function errorResponse(error, headers) {
  return jsonResponse(error.status, error.toJSON(), { ...error.headers, ...headers });
}

function isJson(contentType) {
  const type = String(contentType || '').split(';')[0].trim().toLowerCase();
  return type === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(type);
}

/**
 * Creates the handler of one CAMARA operation.
 * @param {{ front: import('../js/camara').CamaraApiFront, operationId: string, method?: string,
 *           allow?: string[], status?: number, bodyScopes?: (body: any, scopes: string[]) => string[],
 *           operation: CamaraOperation, service: any, maxBodyBytes: number,
 *           log?: (level: string, msg: string, extra?: object) => void,
 *           onAuthFailure?: (info: { requester: string, reason: string, operation: string }) => void }} options
 *   front: the API's contract, validator, correlator pattern, token verifier and scopes;
 *   operationId: the contract's (scopes and body schema are looked up by it);
 *   onAuthFailure: told of every request the token check refused (counters);
 *   allow: the methods of the path, for a 405's Allow (default [method]); status: of a success
 *   (default 200; 204 answers without a body); bodyScopes: when the scopes a token needs depend
 *   on the body, the ones of this (valid) body out of the operation's, checked after it
 * @returns {(event: import('./http').HttpEvent) => Promise<import('./http').HttpResponse>}
 */
function createCamaraHandler({
  front, operationId, method = 'POST', allow = [method], status = 200, bodyScopes = null, operation, service, maxBodyBytes,
  log = () => {}, onAuthFailure = () => {},
}) {
  const scopes = front.scopes[operationId] || [];
  // Compiled now, not at the first request (and a contract without the operation fails here).
  front.validator.prepare(operationId);

  function refused(error) {
    if (error instanceof CamaraError) {
      const info = { requester: '', reason: error.reason, operation: operationId };
      log('warn', 'request refused: access token not accepted', info);
      try {
        onAuthFailure(info);
      } catch (callbackError) {
        log('error', 'onAuthFailure failed', { error: callbackError.stack || String(callbackError) });
      }
    }
    return error;
  }

  async function authenticate(event) {
    const headers = event.headers || {};
    try {
      return await front.verifier.verify(headers.authorization, bodyScopes ? [] : scopes);
    } catch (error) {
      throw refused(error);
    }
  }

  /** The scopes of this body (bodyScopes) the token lacks: 403 as the verifier's. */
  function checkBodyScopes(identity, body) {
    const required = bodyScopes(body, scopes);
    const missing = required.filter((scope) => !identity.scopes.includes(scope));
    if (missing.length === 0) return;
    throw refused(new CamaraError('PERMISSION_DENIED', `The access token lacks the scope ${missing.join(' ')}.`, {
      reason: 'scope', headers: { 'www-authenticate': `Bearer error="insufficient_scope", scope="${required.join(' ')}"` },
    }));
  }

  function readBody(event) {
    const raw = eventBody(event);
    if (raw.length > maxBodyBytes) throw new CamaraError('INVALID_ARGUMENT', `The request body is larger than ${maxBodyBytes} bytes.`);
    if (raw.length === 0) return undefined;
    if (!isJson((event.headers || {})['content-type'])) {
      throw new CamaraError('INVALID_ARGUMENT', 'The request body must be application/json.');
    }
    try {
      return JSON.parse(raw.toString('utf8'));
    } catch {
      throw new CamaraError('INVALID_ARGUMENT', 'The request body is not valid JSON.');
    }
  }

  return async function camaraHandler(event) {
    const correlator = readCorrelator(event.headers, front.correlatorPattern);
    const headers = { 'x-correlator': correlator.value };
    const requestMethod = (event.httpMethod || event.method || 'GET').toUpperCase();
    if (requestMethod !== method) {
      return errorResponse(new CamaraError('METHOD_NOT_ALLOWED', `Use ${allow.join(' or ')}.`), { ...headers, allow: allow.join(', ') });
    }
    if (correlator.error) return errorResponse(correlator.error, headers);
    let context;
    let body;
    try {
      const identity = await authenticate(event);
      body = readBody(event);
      front.validator.validateBody(operationId, body);
      if (bodyScopes) checkBodyScopes(identity, body);
      context = {
        globalId: randomUUID(), requester: identity.requester, correlator: correlator.value, identity,
        pathParameters: event.pathParameters || {},
      };
    } catch (error) {
      if (error instanceof CamaraError) return errorResponse(error, headers);
      log('error', `${operationId}: request check failed unexpectedly`, { error: error.stack || String(error) });
      return errorResponse(new CamaraError('INTERNAL'), headers);
    }
    headers['x-parlayx-global-id'] = context.globalId;
    try {
      const result = await operation(service, body, context);
      if (status === 204) return { statusCode: 204, headers, body: '' };
      return jsonResponse(status, result, headers);
    } catch (error) {
      if (error instanceof CamaraError) return errorResponse(error, headers);
      log('error', `${operationId} failed`, { error: error.stack || String(error) });
      return errorResponse(new CamaraError('INTERNAL'), headers);
    }
  };
}

module.exports = { createCamaraHandler, errorResponse };
