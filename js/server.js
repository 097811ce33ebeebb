'use strict';
// Runs an (event) => response app under node:http with keep-alive, a request body cap, timeouts
// and connection caps, so that a slow, silent, oversized or numerous client cannot hold the
// gateway (issue 12).
//
// What is enforced, and how:
// - headersTimeoutMs / requestTimeoutMs: node:http's own headersTimeout and requestTimeout
//   (measured from the first byte of a request, from the connection for the first one; answered
//   408 and closed). node checks them only every connectionsCheckingInterval (30 s by default, so a
//   10 s limit cut clients after up to 40 s); the interval is set here to a twentieth of the
//   smallest limit, between 50 ms and 1 s, which is the enforcement tolerance.
// - idleTimeoutMs: a socket inactivity timer (node refreshes it on every byte the parser reads
//   and every completed write) while a request is being received, including before the first
//   byte of a connection, and while its answer is being written; it is off while the app works
//   on a request (the client has nothing to send then). Between the first byte of a further
//   request on a kept-alive connection and its complete headers (a moment node does not report),
//   silence is bounded by keepAliveTimeoutMs and the whole by headersTimeoutMs.
// - keepAliveTimeoutMs: the same timer between a response and the next request. Not node's
//   keepAliveTimeout, which adds a hidden second to the configured value and treats 0 as
//   "forever" where the configuration means "close after each response".
// - maxConnections: node's server.maxConnections (excess sockets are closed at accept, 'drop').
// - maxConnectionsPerSource: counted here per remote IP address (IPv4-mapped IPv6 addresses as
//   IPv4); excess sockets are destroyed as soon as they are accepted, before a byte is read.
// stats() reports the counters of all of these.
const http = require('node:http');
const { bodyTooLargeFault, internalErrorFault } = require('./soap/builder');

/** Defaults of keys a library caller may leave out (config/gateway.yaml has the same). */
const DEFAULT_LIMITS = Object.freeze({
  keepAliveTimeoutMs: 5000,
  requestTimeoutMs: 10000,
  headersTimeoutMs: 5000,
  idleTimeoutMs: 5000,
  maxConnections: 512,
  maxConnectionsPerSource: 128,
});

const STATE = Symbol('pxConnectionState');

/**
 * @typedef {object} HttpSettings
 * @property {string} [host]
 * @property {number} [port]
 * @property {number} maxBodyBytes
 * @property {number} [keepAliveTimeoutMs]  idle time allowed between requests; 0 = one request per connection
 * @property {number} [requestTimeoutMs]  request line, headers and body
 * @property {number} [headersTimeoutMs]  request line and headers (<= requestTimeoutMs)
 * @property {number} [idleTimeoutMs]  silence allowed while a request is being received
 * @property {number} [maxConnections]  concurrent connections in total
 * @property {number} [maxConnectionsPerSource]  concurrent connections per remote IP address
 */
/**
 * @typedef {object} HttpServerStats
 * @property {number} connections  open now
 * @property {number} sources  remote addresses with open connections
 * @property {number} accepted  connections served since start
 * @property {number} droppedTotal  refused by maxConnections
 * @property {number} droppedPerSource  refused by maxConnectionsPerSource
 * @property {number} idleTimeouts  closed by idleTimeoutMs
 * @property {number} keepAliveTimeouts  idle keep-alive connections closed by keepAliveTimeoutMs
 * @property {number} stalledReads  closed because the client read nothing of its answer for idleTimeoutMs
 * @property {number} requestTimeouts  answered 408 (headersTimeoutMs or requestTimeoutMs)
 * @property {number} clientErrors  malformed requests answered 400 (or reset)
 * @property {number} bodyTooLarge  requests refused with 413
 */

/** Settings with defaults, checked (a programming error throws, it is not client input). */
function limitsOf(settings) {
  const s = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS)) if (settings[key] !== undefined) s[key] = settings[key];
  if (settings.headersTimeoutMs === undefined) s.headersTimeoutMs = Math.min(s.headersTimeoutMs, s.requestTimeoutMs);
  if (settings.maxConnectionsPerSource === undefined) {
    s.maxConnectionsPerSource = Math.min(s.maxConnectionsPerSource, s.maxConnections);
  }
  for (const [key, value] of Object.entries(s)) {
    if (!Number.isInteger(value) || value < 0) throw new TypeError(`http.${key} must be an integer >= 0`);
  }
  if (s.requestTimeoutMs < 1 || s.headersTimeoutMs < 1 || s.idleTimeoutMs < 1) {
    throw new TypeError('http timeouts other than keepAliveTimeoutMs must be > 0');
  }
  if (s.headersTimeoutMs > s.requestTimeoutMs) throw new TypeError('http.headersTimeoutMs must not exceed http.requestTimeoutMs');
  if (s.maxConnections < 1 || s.maxConnectionsPerSource < 1) throw new TypeError('http connection caps must be > 0');
  return s;
}

/** How often node checks headersTimeout/requestTimeout, i.e. how late it may cut a client. */
function checkingIntervalMs(limits) {
  return Math.max(50, Math.min(1000, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 20)));
}

/** The remote address a per-source cap counts ('::ffff:127.0.0.1' is 127.0.0.1). */
function sourceOf(socket) {
  const address = socket.remoteAddress || '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * @param {{ app: Function, http: HttpSettings, log?: Function }} options
 * @returns {http.Server & { stats: () => HttpServerStats }}
 */
function createHttpServer({ app, http: settings, log = () => {} }) {
  const limits = limitsOf(settings);
  const counters = {
    accepted: 0, droppedTotal: 0, droppedPerSource: 0, idleTimeouts: 0, keepAliveTimeouts: 0,
    stalledReads: 0, requestTimeouts: 0, clientErrors: 0, bodyTooLarge: 0,
  };
  // remote address -> open connections
  const perSource = new Map();

  const server = http.createServer({
    keepAlive: true, // TCP keep-alive probes: dead peers do not hold a slot forever
    keepAliveTimeout: 0, // enforced below (see the header comment)
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    connectionsCheckingInterval: checkingIntervalMs(limits),
    maxHeaderSize: 16384,
  }, (req, res) => handleRequest(req, res));
  server.maxConnections = limits.maxConnections;

  server.on('drop', () => { counters.droppedTotal += 1; });
  // Expect: 100-continue: a body the cap refuses anyway is not invited (413 at once, the client
  // never sends it); any other gets its 100 Continue as node would have sent it.
  server.on('checkContinue', (req, res) => {
    const declared = Number(req.headers['content-length']);
    if (!(Number.isFinite(declared) && declared > settings.maxBodyBytes)) res.writeContinue();
    handleRequest(req, res);
  });

  server.on('connection', (socket) => {
    const source = sourceOf(socket);
    const open = perSource.get(source) || 0;
    if (open >= limits.maxConnectionsPerSource) {
      counters.droppedPerSource += 1;
      socket.destroy();
      return;
    }
    perSource.set(source, open + 1);
    counters.accepted += 1;
    socket[STATE] = { receiving: true, sending: false, pending: 0, res: null };
    socket.once('close', () => {
      const left = perSource.get(source) - 1;
      if (left > 0) perSource.set(source, left);
      else perSource.delete(source);
    });
    socket.setTimeout(limits.idleTimeoutMs);
  });

  // Socket inactivity: idleTimeoutMs while receiving, keepAliveTimeoutMs between requests. A
  // listener here stops node from destroying the socket itself, so every case is decided here.
  server.on('timeout', (socket) => {
    const state = socket[STATE];
    // The app is working: not the client's silence (but a client not reading its answer is).
    if (state && !state.receiving && !state.sending && state.pending > 0) return;
    if (state && state.sending) counters.stalledReads += 1;
    else if (state && !state.receiving) counters.keepAliveTimeouts += 1;
    else counters.idleTimeouts += 1;
    socket.destroy();
  });

  // Malformed requests, oversized headers and the 408 of headersTimeout/requestTimeout all come
  // here (node's checkConnections reports timeouts as ERR_HTTP_REQUEST_TIMEOUT client errors).
  server.on('clientError', (error, socket) => {
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') counters.requestTimeouts += 1;
    else counters.clientErrors += 1;
    // No status line when a response is already half written (it would corrupt it).
    const res = socket[STATE] && socket[STATE].res;
    const midResponse = res && res.headersSent && !res.writableFinished;
    if (socket.writable && !midResponse && error.code !== 'ECONNRESET') {
      const status = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout'
        : error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
    socket.destroy();
  });

  function handleRequest(req, res) {
    const socket = req.socket;
    const state = socket[STATE] || { receiving: true, sending: false, pending: 0, res: null };
    state.receiving = true;
    state.pending += 1;
    // Back to idleTimeoutMs for the body (after a keep-alive wait the timer held keepAliveTimeoutMs).
    socket.setTimeout(limits.idleTimeoutMs);
    res.once('close', () => {
      state.sending = false;
      state.pending -= 1;
      if (state.pending === 0 && !socket.destroyed) {
        state.receiving = false;
        if (limits.keepAliveTimeoutMs > 0) socket.setTimeout(limits.keepAliveTimeoutMs);
      }
    });
    state.res = res;

    // The answer is being written: a client that reads none of it for idleTimeoutMs is cut (node
    // refreshes the timer on every completed write), so a slow reader cannot hold the connection.
    const respond = (response) => {
      if (res.headersSent || res.destroyed) return;
      state.sending = true;
      if (!socket.destroyed) socket.setTimeout(limits.idleTimeoutMs);
      send(res, response, limits);
    };
    const tooLarge = () => {
      counters.bodyTooLarge += 1;
      respond({
        statusCode: 413,
        headers: { 'content-type': 'text/xml; charset=utf-8', connection: 'close' },
        body: bodyTooLargeFault(settings.maxBodyBytes),
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
      // The whole request is in: the client has nothing to send until the answer.
      state.receiving = false;
      socket.setTimeout(0);
      const q = req.url.indexOf('?');
      const event = {
        method: req.method,
        path: q < 0 ? req.url : req.url.slice(0, q),
        queryStringParameters: q < 0 ? {} : Object.fromEntries(new URLSearchParams(req.url.slice(q + 1))),
        headers: req.headers,
        body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks),
        // The API-gateway proxy shape's place for the peer address (authentication throttling).
        requestContext: { identity: { sourceIp: sourceOf(socket) } },
      };
      Promise.resolve()
        .then(() => app(event))
        .then((response) => respond(response), (error) => {
          log('error', 'handler failed', { error: error.stack || String(error) });
          respond({
            statusCode: 500,
            headers: { 'content-type': 'text/xml; charset=utf-8' },
            body: internalErrorFault(),
          });
        })
        .catch((error) => {
          // send() itself failed (e.g. an invalid header from the app): never an unhandled rejection.
          log('error', 'sending the response failed', { error: error.stack || String(error) });
          res.destroy();
        });
    });
  }

  /** @returns {HttpServerStats} */
  server.stats = () => {
    let connections = 0;
    for (const open of perSource.values()) connections += open;
    return { connections, sources: perSource.size, ...counters };
  };
  return server;
}

function send(res, response, limits) {
  if (res.headersSent || res.destroyed) return;
  const body = Buffer.from(response.body || '', 'utf8');
  const headers = { ...response.headers, 'content-length': body.length };
  // node would keep the connection open for ever with its keepAliveTimeout at 0.
  if (limits.keepAliveTimeoutMs === 0) headers.connection = 'close';
  if (limits.keepAliveTimeoutMs >= 1000 && res.shouldKeepAlive && !headers.connection) {
    headers['keep-alive'] = `timeout=${Math.floor(limits.keepAliveTimeoutMs / 1000)}`;
  }
  res.writeHead(response.statusCode, headers);
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

module.exports = { createHttpServer, DEFAULT_LIMITS };
