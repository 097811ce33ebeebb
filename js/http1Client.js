'use strict';
// A small HTTP/1.1 client for notification delivery: keep-alive connections to one origin, one
// request at a time per connection, the answer reduced to its status code (the body is read and
// discarded). node:http's ClientRequest costs ~120 µs of CPU per request on the 2-core machine
// (streams, header validation, agent bookkeeping); this costs a third of that, which is what lets
// delivery reach its rate target. Requests are written as one string (head and body): one
// write() system call each.
//
// Responses: status line, headers, then a body framed by Transfer-Encoding: chunked,
// Content-Length, or the end of the connection; 1xx interim answers are skipped; 204 and 304
// have no body. "Connection: close" and HTTP/1.0 without keep-alive close the connection after
// the answer. Anything malformed is an error (code HPE_INVALID) and closes the connection.
//
// node:net and node:tls are required when the first connection opens, so that start-up and the
// first getStatus do not wait for them (issue 15, bench/coldstart.js).

const CONNECTION = Symbol('connection');
const MAX_HEAD_BYTES = 64 * 1024;
const MAX_LINE_BYTES = 4096;
// Bodies are only kept for handlers that ask (Call Direction's Action answers): a small SOAP answer.
const MAX_BODY_BYTES = 64 * 1024;

// Parser states.
const IDLE = 0;
const HEAD = 1;
const BODY = 2;
const CHUNK_SIZE = 3;
const CHUNK_DATA = 4;
const CHUNK_END = 5;
const TRAILERS = 6;
const UNTIL_CLOSE = 7;

/**
 * What a request's sender implements; exactly one of the two is called per request, unless the
 * request was abort()ed.
 * @typedef {object} ResponseHandler
 * @property {(statusCode: number, body?: Buffer) => void} onHttpResponse the whole answer was read
 * @property {(error: Error, reusedConnection: boolean) => void} onHttpError no complete answer;
 *   reusedConnection: the request went on a kept-alive connection (which the server may have
 *   closed just then: worth an immediate retry)
 * @property {boolean} [wantsBody] true: onHttpResponse gets the body as its second argument (a
 *   Buffer of at most 64 KiB; a longer one is an HPE_INVALID error); otherwise it is discarded
 */

function protocolError(message) {
  const error = new Error(`invalid HTTP response: ${message}`);
  error.code = 'HPE_INVALID';
  return error;
}

/** One connection and the parser of the answer in progress on it. */
class Connection {
  constructor(pool) {
    this.pool = pool;
    this.handler = null;
    this.served = 0;
    this.idleSince = 0;
    this.closed = false;
    this.state = IDLE;
    this.text = ''; // head or line being accumulated (latin1)
    this.remaining = 0;
    this.statusCode = 0;
    this.keepAlive = true;
    this.body = null; // the chunks of the answer's body, when the handler wants it
    this.bodyBytes = 0;
    const options = { host: pool.hostname, port: pool.port };
    if (pool.lookup !== undefined) options.lookup = pool.lookup;
    const net = require('node:net');
    const socket = pool.secure
      ? require('node:tls').connect({ ...options, servername: net.isIP(pool.hostname) ? undefined : pool.hostname })
      : net.connect(options);
    socket.setNoDelay(true);
    socket[CONNECTION] = this;
    socket.on('data', onSocketData);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    this.socket = socket;
  }

  start(handler, data) {
    this.handler = handler;
    this.state = HEAD;
    this.text = '';
    this.keepAlive = true;
    this.body = handler.wantsBody === true ? [] : null;
    this.bodyBytes = 0;
    this.socket.write(data, 'utf8');
  }

  /** Feeds received bytes to the parser. */
  receive(chunk) {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      switch (this.state) {
        case HEAD: {
          const before = this.text.length;
          this.text += chunk.toString('latin1', i, n);
          const end = this.text.indexOf('\r\n\r\n', Math.max(0, before - 3));
          if (end < 0) {
            if (this.text.length > MAX_HEAD_BYTES) return this.fail(protocolError('header section too large'));
            i = n;
            break;
          }
          i += end + 4 - before;
          const head = this.text.slice(0, end);
          this.text = '';
          const error = this.parseHead(head);
          if (error) return this.fail(error);
          if (this.state === IDLE) return this.complete(i < n);
          break;
        }
        case BODY: {
          const take = Math.min(this.remaining, n - i);
          if (this.body !== null && !this.keep(chunk, i, i + take)) return undefined;
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) return this.complete(i < n);
          break;
        }
        case CHUNK_SIZE:
        case CHUNK_END:
        case TRAILERS: {
          const newline = chunk.indexOf(10, i);
          const end = newline < 0 ? n : newline;
          this.text += chunk.toString('latin1', i, end);
          if (this.text.length > MAX_LINE_BYTES) return this.fail(protocolError('chunk line too long'));
          i = end;
          if (newline < 0) break;
          i++;
          const line = this.text.endsWith('\r') ? this.text.slice(0, -1) : this.text;
          this.text = '';
          if (this.state === CHUNK_END) {
            if (line !== '') return this.fail(protocolError('chunk not followed by CRLF'));
            this.state = CHUNK_SIZE;
          } else if (this.state === TRAILERS) {
            if (line === '') return this.complete(i < n);
          } else {
            const size = line.split(';', 1)[0].trim();
            if (!/^[0-9A-Fa-f]{1,12}$/.test(size)) return this.fail(protocolError('bad chunk size'));
            this.remaining = parseInt(size, 16);
            this.state = this.remaining === 0 ? TRAILERS : CHUNK_DATA;
          }
          break;
        }
        case CHUNK_DATA: {
          const take = Math.min(this.remaining, n - i);
          if (this.body !== null && !this.keep(chunk, i, i + take)) return undefined;
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = CHUNK_END;
          break;
        }
        case UNTIL_CLOSE:
          if (this.body !== null) this.keep(chunk, i, n);
          return undefined;
        default: // IDLE: nothing was asked
          return this.fail(protocolError('data without a request'));
      }
    }
    return undefined;
  }

  /** Keeps part of the body for the handler; false (the request failed) when it is too long. */
  keep(chunk, from, to) {
    this.bodyBytes += to - from;
    if (this.bodyBytes > MAX_BODY_BYTES) {
      this.fail(protocolError(`body larger than ${MAX_BODY_BYTES} bytes`));
      return false;
    }
    this.body.push(chunk.subarray(from, to));
    return true;
  }

  /** Status line and headers; sets the body framing. Returns an Error when malformed. */
  parseHead(head) {
    const lines = head.split('\r\n');
    const status = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: |$)/.exec(lines[0]);
    if (status === null) return protocolError(`bad status line ${JSON.stringify(lines[0].slice(0, 80))}`);
    const statusCode = Number(status[2]);
    let keepAlive = status[1] === '1';
    let length = -1;
    let chunked = false;
    for (let k = 1; k < lines.length; k++) {
      const line = lines[k];
      const colon = line.indexOf(':');
      if (colon <= 0) return protocolError('bad header line');
      // Only three headers matter; the others are not even lower-cased.
      const first = line.charCodeAt(0) | 0x20;
      if (first !== 0x63 && first !== 0x74) continue; // c(ontent-length, onnection), t(ransfer-encoding)
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim().toLowerCase();
      if (name === 'content-length') {
        if (!/^\d{1,15}$/.test(value) || (length >= 0 && Number(value) !== length)) return protocolError('bad Content-Length');
        length = Number(value);
      } else if (name === 'transfer-encoding') {
        chunked = /(?:^|,)\s*chunked\s*$/.test(value);
        if (!chunked) return protocolError(`unsupported Transfer-Encoding ${value}`);
      } else if (name === 'connection') {
        const tokens = value.split(',').map((t) => t.trim());
        if (tokens.includes('close')) keepAlive = false;
        else if (tokens.includes('keep-alive')) keepAlive = true;
      }
    }
    if (statusCode < 200) {
      if (statusCode === 101) return protocolError('unexpected 101 Switching Protocols');
      this.state = HEAD; // interim answer: the final one follows
      return null;
    }
    this.statusCode = statusCode;
    this.keepAlive = keepAlive;
    if (statusCode === 204 || statusCode === 304) {
      this.state = IDLE;
    } else if (chunked) {
      this.state = CHUNK_SIZE;
    } else if (length >= 0) {
      this.remaining = length;
      this.state = length === 0 ? IDLE : BODY;
    } else {
      this.state = UNTIL_CLOSE;
      this.keepAlive = false;
    }
    return null;
  }

  /** The answer is complete. Extra bytes (nothing was asked) make the connection unusable. */
  complete(extraBytes) {
    const handler = this.handler;
    const body = this.body === null ? undefined : Buffer.concat(this.body);
    this.handler = null;
    this.body = null;
    this.state = IDLE;
    this.served++;
    if (extraBytes || !this.keepAlive) this.destroy();
    else this.pool.release(this);
    handler.onHttpResponse(this.statusCode, body);
  }

  fail(error) {
    const handler = this.handler;
    this.handler = null;
    this.destroy();
    if (handler !== null) handler.onHttpError(error, this.served > 0);
  }

  /** The socket closed: an answer framed by the end of the connection is complete now. */
  closedBySocket() {
    if (this.closed) return;
    if (this.handler !== null && this.state === UNTIL_CLOSE) {
      this.keepAlive = false;
      this.complete(false);
      return;
    }
    const error = new Error('connection closed before the answer was complete');
    error.code = 'ECONNRESET';
    this.fail(error);
  }

  destroy() {
    if (this.closed) return;
    this.closed = true;
    this.pool.forget(this);
    this.socket.destroy();
  }
}

function onSocketData(chunk) {
  this[CONNECTION].receive(chunk);
}

function onSocketError(error) {
  const connection = this[CONNECTION];
  if (!connection.closed) connection.fail(error);
}

function onSocketClose() {
  this[CONNECTION].closedBySocket();
}

/**
 * A limit on the connections open across several pools (in use or idle): each one holds a file
 * descriptor. When a pool needs a new connection at the limit, the longest-idle connection of any
 * pool is closed to make room; the caller keeps requests in flight below the limit, so there is
 * always one to close.
 */
class ConnectionBudget {
  /** @param {number} max */
  constructor(max) {
    this.max = max;
    this.open = 0;
    this.peak = 0;
    this.pools = new Set();
    this.evicted = 0;
  }

  /** Makes room for one more connection; false when every open connection is in use. */
  reserve() {
    if (this.open < this.max) return true;
    let oldest = null;
    for (const pool of this.pools) {
      const candidate = pool.idle[0];
      if (candidate !== undefined && (oldest === null || candidate.idleSince < oldest.idleSince)) oldest = candidate;
    }
    if (oldest === null) return false;
    this.evicted++;
    oldest.destroy();
    return this.open < this.max;
  }
}

/** Keep-alive connections to one origin (scheme, host, port). */
class KeepAlivePool {
  /**
   * @param {URL} url any URL of the origin
   * @param {{ idleTimeoutMs?: number, budget?: ConnectionBudget,
   *   destinations?: import('./outbound/destinationPolicy').DestinationPolicy }} [options]
   *   idleTimeoutMs: idle connections older than this are closed by sweep() (default 4000: below
   *   the 5 s keep-alive timeout of common servers); destinations: the SSRF guard every new
   *   connection is checked against, on the address it actually connects to; budget: the limit
   *   of open connections this pool shares with others
   */
  constructor(url, { idleTimeoutMs = 4000, destinations, budget } = {}) {
    this.secure = url.protocol === 'https:';
    this.hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.port = url.port ? Number(url.port) : this.secure ? 443 : 80;
    /** Host header value. */
    this.host = url.host;
    this.idleTimeoutMs = idleTimeoutMs;
    this.idle = []; // most recently used last
    this.connections = new Set();
    this.destinations = destinations;
    this.budget = budget;
    if (budget !== undefined) budget.pools.add(this);
    this.lookup = destinations === undefined ? undefined : destinations.connectLookup(this.port);
  }

  /**
   * Sends one request (head and body as one string) on an idle connection, or a new one.
   * @param {ResponseHandler} handler
   * @param {string} data the whole request
   */
  send(handler, data) {
    let connection = this.idle.pop();
    while (connection !== undefined && connection.closed) connection = this.idle.pop();
    if (connection === undefined) {
      // An IP-literal host is never looked up, so the guard checks it here.
      const refused = this.destinations === undefined ? null : this.destinations.checkConnect(this.hostname, this.port);
      if (refused !== null) {
        process.nextTick(() => handler.onHttpError(refused, false));
        return;
      }
      if (this.budget !== undefined && !this.budget.reserve()) {
        const error = new Error(`no connection free: ${this.budget.max} connections are in use`);
        error.code = 'ERR_PX_NO_CONNECTION';
        process.nextTick(() => handler.onHttpError(error, false));
        return;
      }
      connection = new Connection(this);
      this.connections.add(connection);
      if (this.budget !== undefined) {
        this.budget.open++;
        if (this.budget.open > this.budget.peak) this.budget.peak = this.budget.open;
      }
    }
    handler[CONNECTION] = connection;
    connection.start(handler, data);
  }

  /** Gives up a request: its connection is closed, the handler is not called. */
  abort(handler) {
    const connection = handler[CONNECTION];
    if (connection !== undefined && connection.handler === handler) {
      connection.handler = null;
      connection.destroy();
    }
  }

  release(connection) {
    connection.idleSince = Date.now();
    this.idle.push(connection);
  }

  forget(connection) {
    if (this.connections.delete(connection) && this.budget !== undefined) this.budget.open--;
    const index = this.idle.indexOf(connection);
    if (index >= 0) this.idle.splice(index, 1);
  }

  /** Closes connections idle for longer than idleTimeoutMs. */
  sweep(now = Date.now()) {
    while (this.idle.length > 0 && now - this.idle[0].idleSince > this.idleTimeoutMs) {
      this.idle[0].destroy(); // forget() removes it from idle
    }
  }

  /** Closes every connection; requests in flight are abandoned without a callback. */
  close() {
    for (const connection of [...this.connections]) {
      connection.handler = null;
      connection.destroy();
    }
    if (this.budget !== undefined) this.budget.pools.delete(this);
  }
}

module.exports = { KeepAlivePool, ConnectionBudget };
