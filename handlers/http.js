'use strict';
// The event/response shape shared by every handler (the API-gateway proxy shape used by
// container and serverless function platforms), and small helpers around it.

/**
 * @typedef {object} HttpEvent
 * @property {string} [httpMethod]  request method (serverless platforms)
 * @property {string} [method]      request method (node:http adapter)
 * @property {string} path          URL path, without the query string
 * @property {Record<string, string>} [queryStringParameters]
 * @property {Record<string, string>} [headers]  lower-case header names
 * @property {string|Buffer} [body]
 * @property {boolean} [isBase64Encoded]
 */
/**
 * @typedef {object} HttpResponse
 * @property {number} statusCode
 * @property {Record<string, string>} headers
 * @property {string} body
 */

/** @returns {Buffer} */
function eventBody(event) {
  if (Buffer.isBuffer(event.body)) return event.body;
  if (typeof event.body !== 'string') return Buffer.alloc(0);
  return Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
}

/** @returns {HttpResponse} */
function xmlResponse(statusCode, body, headers = {}) {
  return { statusCode, headers: { 'content-type': 'text/xml; charset=utf-8', ...headers }, body };
}

/** @returns {HttpResponse} a JSON body (the CAMARA APIs) */
function jsonResponse(statusCode, value, headers = {}) {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(value) };
}

module.exports = { eventBody, xmlResponse, jsonResponse };
