'use strict';
// Runs the gateway's app (js/app.js, `(event) => response`) as an AWS Lambda function behind API
// Gateway: a proxy event (REST API v1 or HTTP API v2 payload) becomes the app's event, the app's
// response becomes the proxy response. It is to a Lambda what js/server.js is to node:http, and
// answers alike: the same body cap (413 with the same SOAP fault, before the app sees the
// request) and the same 500 fault when the app throws.
//
//   const { createLambdaHandler } = require('parlayx-gateway');
//   exports.handler = createLambdaHandler({ configPath: process.env.PARLAYX_CONFIG });
//
// createLambdaHandler makes the gateway (native core, SIP stack, usage store) at the first
// invocation and keeps it for the life of the container: one cold start per container.
const { bodyTooLargeFault, internalErrorFault } = require('../soap/builder');

/**
 * @typedef {object} ProxyEvent  API Gateway proxy event, REST API (v1) or HTTP API (v2, version '2.0')
 * @property {string} [version]
 * @property {string} [httpMethod]  v1
 * @property {string} [path]  v1
 * @property {Record<string, string>|null} [headers]
 * @property {Record<string, string[]>|null} [multiValueHeaders]  v1
 * @property {Record<string, string>|null} [queryStringParameters]
 * @property {Record<string, string[]>|null} [multiValueQueryStringParameters]  v1
 * @property {string} [rawPath]  v2
 * @property {string} [rawQueryString]  v2
 * @property {string[]} [cookies]  v2
 * @property {string|null} [body]
 * @property {boolean} [isBase64Encoded]
 * @property {{ stage?: string, identity?: { sourceIp?: string },
 *              http?: { method: string, path?: string, sourceIp?: string } }} [requestContext]
 */
/**
 * @typedef {object} ProxyResponse
 * @property {number} statusCode
 * @property {Record<string, string>} headers
 * @property {Record<string, string[]>} [multiValueHeaders]  v1, for a header that repeats
 * @property {string[]} [cookies]  v2, the Set-Cookie values
 * @property {string} body
 * @property {boolean} isBase64Encoded
 */

/** Content types whose body goes back as text; anything else is base64 (binary media types). */
const TEXT_TYPE = /^\s*(text\/|application\/(?:[\w.+-]*\+)?(?:xml|json)\b|application\/javascript\b)/i;

function isV2(event) {
  return event.version === '2.0' || Boolean(event.requestContext && event.requestContext.http);
}

/** Header names in lower case, as node:http gives them; repeated values joined as node joins them. */
function lowerCaseHeaders(single, multi) {
  const headers = {};
  for (const [name, value] of Object.entries(single || {})) {
    if (value !== null && value !== undefined) headers[name.toLowerCase()] = String(value);
  }
  for (const [name, values] of Object.entries(multi || {})) {
    if (!Array.isArray(values) || values.length === 0) continue;
    const key = name.toLowerCase();
    headers[key] = values.join(key === 'cookie' ? '; ' : ', ');
  }
  return headers;
}

/** A query string as js/server.js reads it: a repeated parameter keeps its last value. */
function queryOf(raw) {
  return raw ? Object.fromEntries(new URLSearchParams(raw)) : {};
}

/**
 * v2 rawPath carries the stage of a named stage ("/prod/parlayx/..."); the app routes on the path
 * the client meant, as v1's `path` already is.
 */
function v2Path(event, stripStage) {
  const rawPath = event.rawPath || (event.requestContext.http && event.requestContext.http.path) || '/';
  const stage = event.requestContext && event.requestContext.stage;
  if (!stripStage || !stage || stage === '$default') return rawPath;
  const prefix = `/${stage}`;
  if (rawPath === prefix) return '/';
  return rawPath.startsWith(`${prefix}/`) ? rawPath.slice(prefix.length) : rawPath;
}

/** The size of the body the client sent, without decoding it. */
function bodyBytes(event) {
  if (typeof event.body !== 'string') return 0;
  return Buffer.byteLength(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
}

/**
 * A proxy event as the app's event (handlers/http.js HttpEvent, as js/server.js makes it).
 * @param {ProxyEvent} event
 * @param {{ stripStage?: boolean }} [options]
 * @returns {import('../../handlers/http').HttpEvent & { method: string }}
 */
function toAppEvent(event, { stripStage = true } = {}) {
  const context = event.requestContext || {};
  let method;
  let path;
  let headers;
  let queryStringParameters;
  let sourceIp;
  if (isV2(event)) {
    method = context.http.method;
    path = v2Path(event, stripStage);
    headers = lowerCaseHeaders(event.headers);
    if (Array.isArray(event.cookies) && event.cookies.length > 0) headers.cookie = event.cookies.join('; ');
    queryStringParameters = event.rawQueryString !== undefined
      ? queryOf(event.rawQueryString)
      : { ...(event.queryStringParameters || {}) };
    sourceIp = context.http.sourceIp;
  } else {
    method = event.httpMethod;
    path = event.path || '/';
    headers = lowerCaseHeaders(event.headers, event.multiValueHeaders);
    const multi = event.multiValueQueryStringParameters;
    queryStringParameters = multi
      ? Object.fromEntries(Object.entries(multi).filter(([, v]) => Array.isArray(v) && v.length > 0).map(([k, v]) => [k, v[v.length - 1]]))
      : { ...(event.queryStringParameters || {}) };
    sourceIp = context.identity && context.identity.sourceIp;
  }
  const body = typeof event.body === 'string'
    ? Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8')
    : Buffer.alloc(0);
  return {
    method: String(method || 'GET').toUpperCase(),
    path,
    queryStringParameters,
    headers,
    body,
    requestContext: { identity: sourceIp ? { sourceIp } : {} },
  };
}

/**
 * The app's response as the proxy response of the event's payload version.
 * @param {{ statusCode: number, headers?: Record<string, string | string[]>, body?: string | Buffer }} response
 * @param {{ v2: boolean, head?: boolean }} options  head: a HEAD request (no body, as node:http)
 * @returns {ProxyResponse}
 */
function toProxyResponse(response, { v2, head = false }) {
  const headers = {};
  const multiValueHeaders = {};
  const cookies = [];
  for (const [name, value] of Object.entries(response.headers || {})) {
    const key = name.toLowerCase();
    if (!Array.isArray(value)) {
      headers[key] = String(value);
    } else if (v2 && key === 'set-cookie') {
      cookies.push(...value.map(String));
    } else if (v2) {
      headers[key] = value.map(String).join(', ');
    } else if (value.length === 1) {
      headers[key] = String(value[0]);
    } else {
      multiValueHeaders[key] = value.map(String);
    }
  }
  const raw = head || response.body === undefined || response.body === null ? '' : response.body;
  const text = !Buffer.isBuffer(raw) || TEXT_TYPE.test(headers['content-type'] || '');
  const body = text ? raw.toString('utf8') : raw.toString('base64');
  // Binary media types: the gateway's answers are all text, but a Buffer body is passed on as such.
  const proxy = { statusCode: response.statusCode, headers, body, isBase64Encoded: !text };
  if (Object.keys(multiValueHeaders).length > 0) proxy.multiValueHeaders = multiValueHeaders;
  if (cookies.length > 0) proxy.cookies = cookies;
  return proxy;
}

/**
 * Wraps an app (`gateway.app`, js/app.js) as an API Gateway proxy function.
 * @param {(event: any) => Promise<any>} app
 * @param {{ maxBodyBytes: number, log?: Function, stripStage?: boolean }} options
 *   maxBodyBytes: http.maxBodyBytes of the configuration (413 above it, as js/server.js);
 *   stripStage: v2 only, remove a named stage from rawPath (default true)
 * @returns {(event: ProxyEvent) => Promise<ProxyResponse>}
 */
function createProxyAdapter(app, { maxBodyBytes, log = () => {}, stripStage = true }) {
  if (typeof app !== 'function') throw new TypeError('app must be a function (event) => response');
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 0) throw new TypeError('maxBodyBytes must be an integer >= 0');
  return async function proxyAdapter(event) {
    if (!event || typeof event !== 'object') throw new TypeError('an API Gateway proxy event is an object');
    const v2 = isV2(event);
    // Before decoding: an oversized body is refused as js/server.js refuses it (the app never sees it).
    if (bodyBytes(event) > maxBodyBytes) {
      return toProxyResponse({
        statusCode: 413, headers: { 'content-type': 'text/xml; charset=utf-8' }, body: bodyTooLargeFault(maxBodyBytes),
      }, { v2 });
    }
    const appEvent = toAppEvent(event, { stripStage });
    let response;
    try {
      response = await app(appEvent);
    } catch (error) {
      log('error', 'handler failed', { error: error.stack || String(error) });
      response = { statusCode: 500, headers: { 'content-type': 'text/xml; charset=utf-8' }, body: internalErrorFault() };
    }
    return toProxyResponse(response, { v2, head: appEvent.method === 'HEAD' });
  };
}

function isGateway(value) {
  return Boolean(value) && typeof value === 'object' && 'app' in value && 'config' in value && typeof value.close === 'function';
}

/**
 * A Lambda handler for API Gateway proxy events serving every endpoint of one gateway.
 * @param {import('../gateway').Gateway | Promise<import('../gateway').Gateway> |
 *   { configPath?: string, configText?: string, configName?: string, log?: Function }} [gatewayOrOptions]
 *   a gateway (or a promise of one) to serve, or createGateway()'s options: the gateway is then
 *   made at the first invocation and kept for the container's life. Without it, the configuration
 *   is $PARLAYX_CONFIG, else config/gateway.yaml.
 * @param {{ stripStage?: boolean }} [adapterOptions]  see createProxyAdapter
 * @returns {((event: ProxyEvent, context?: object) => Promise<ProxyResponse>) & { gateway: () => Promise<import('../gateway').Gateway> }}
 */
function createLambdaHandler(gatewayOrOptions, { stripStage = true } = {}) {
  let source = gatewayOrOptions;
  if (source === undefined || source === null) source = process.env.PARLAYX_CONFIG ? { configPath: process.env.PARLAYX_CONFIG } : {};
  const given = isGateway(source) || typeof source.then === 'function';
  let pending = given ? Promise.resolve(source) : null;
  let adapter = null;

  /** The gateway, made once (a failed start is tried again at the next invocation). */
  function gateway() {
    if (pending === null) {
      const { createGateway } = require('../gateway');
      pending = createGateway(source).catch((error) => {
        pending = null;
        throw error;
      });
    }
    return pending;
  }

  async function handler(event, context) {
    // The SIP stack's timers keep the event loop busy for ever: answer as soon as the promise settles.
    if (context && typeof context === 'object') context.callbackWaitsForEmptyEventLoop = false;
    if (adapter === null) {
      const g = await gateway();
      if (adapter === null) {
        adapter = createProxyAdapter(g.app, { maxBodyBytes: g.config.http.maxBodyBytes, log: g.log, stripStage });
      }
    }
    return adapter(event);
  }
  handler.gateway = gateway;
  return handler;
}

module.exports = { createLambdaHandler, createProxyAdapter, toAppEvent, toProxyResponse };
