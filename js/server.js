'use strict';
// Runs an (event) => response app under node:http with keep-alive, a request body cap and
// timeouts, so a slow or oversized client cannot hold the gateway.
const http = require('node:http');
const { faultEnvelope } = require('./soap/response');

/**
 * @param {{ app: Function, http: { host: string, port: number, maxBodyBytes: number,
 *   keepAliveTimeoutMs: number, requestTimeoutMs: number }, log?: Function }} options
 * @returns {http.Server}
 */
function createHttpServer({ app, http: settings, log = () => {} }) {
  const server = http.createServer({
    keepAlive: true,
    keepAliveTimeout: settings.keepAliveTimeoutMs,
    requestTimeout: settings.requestTimeoutMs,
    headersTimeout: Math.min(settings.requestTimeoutMs, 60000),
    maxHeaderSize: 16384,
  }, (req, res) => {
    const tooLarge = () => {
      send(res, {
        statusCode: 413,
        headers: { 'content-type': 'text/xml; charset=utf-8', connection: 'close' },
        body: faultEnvelope({ faultcode: 'Client', faultstring: `request body larger than ${settings.maxBodyBytes} bytes` }),
      });
      req.destroy();
    };
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > settings.maxBodyBytes) return tooLarge();
    const chunks = [];
    let size = 0;
    let aborted = false;
    req.on('data', (chunk) => {
      if (aborted) return;
      size += chunk.length;
      if (size > settings.maxBodyBytes) {
        aborted = true;
        tooLarge();
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => { aborted = true; });
    req.on('end', () => {
      if (aborted) return;
      const q = req.url.indexOf('?');
      const event = {
        method: req.method,
        path: q < 0 ? req.url : req.url.slice(0, q),
        queryStringParameters: q < 0 ? {} : Object.fromEntries(new URLSearchParams(req.url.slice(q + 1))),
        headers: req.headers,
        body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks),
      };
      Promise.resolve()
        .then(() => app(event))
        .then((response) => send(res, response), (error) => {
          log('error', 'handler failed', { error: error.stack || String(error) });
          send(res, {
            statusCode: 500,
            headers: { 'content-type': 'text/xml; charset=utf-8' },
            body: faultEnvelope({ faultcode: 'Server', faultstring: 'internal error' }),
          });
        });
    });
  });
  return server;
}

function send(res, response) {
  if (res.headersSent || res.destroyed) return;
  const body = Buffer.from(response.body || '', 'utf8');
  res.writeHead(response.statusCode, { ...response.headers, 'content-length': body.length });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

module.exports = { createHttpServer };
