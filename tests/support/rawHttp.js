'use strict';
// Raw HTTP/1.1 over a plain TCP socket, for requests fetch() refuses to send (lying
// Content-Length, chunked bodies with odd framing, CR/LF in header values, arbitrary bytes).
const net = require('node:net');

/**
 * Sends `request` (bytes, exactly as given) to host:port and collects what comes back until the
 * server closes the connection, `responses` whole responses have arrived, or timeoutMs passes.
 * @param {{ host?: string, port: number, request: Buffer|string, timeoutMs?: number, responses?: number }} options
 * @returns {Promise<{ raw: string, status: number|null, headers: Record<string, string>,
 *   body: string, closed: boolean, timedOut: boolean, elapsedMs: number }>} status null when
 *   nothing parseable came back; closed: the server ended the connection
 */
function rawRequest({ host = '127.0.0.1', port, request, timeoutMs = 5000, responses = 1 }) {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect({ host, port });
    const chunks = [];
    let finished = false;
    let closed = false;
    const done = (timedOut) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...parseResponse(Buffer.concat(chunks).toString('latin1')), closed, timedOut, elapsedMs: Date.now() - started });
    };
    const timer = setTimeout(done, timeoutMs, true);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      const raw = Buffer.concat(chunks).toString('latin1');
      // A server that says it closes is given the time to do so, so that `closed` is what it did.
      if (countComplete(raw) >= responses && !/\r\nconnection: *close\r\n/i.test(raw)) done(false);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
      done(false);
    });
  });
}

/** How many whole final responses (each with a Content-Length body) `raw` holds. */
function countComplete(raw) {
  let count = 0;
  let rest = raw;
  for (;;) {
    // An interim 1xx answer (100 Continue) has no body and is not the answer.
    if (/^HTTP\/1\.[01] 1\d\d /.test(rest) && rest.includes('\r\n\r\n')) {
      rest = rest.slice(rest.indexOf('\r\n\r\n') + 4);
      continue;
    }
    const parsed = parseResponse(rest);
    if (!parsed.complete) return count;
    count++;
    const headEnd = rest.indexOf('\r\n\r\n');
    rest = rest.slice(headEnd + 4 + Number(parsed.headers['content-length']));
  }
}

/** Parses one HTTP/1.1 response with a Content-Length body (what the gateway sends). */
function parseResponse(raw) {
  const headEnd = raw.indexOf('\r\n\r\n');
  if (headEnd < 0) return { raw, status: null, headers: {}, body: '', complete: false };
  const lines = raw.slice(0, headEnd).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  const headers = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const body = raw.slice(headEnd + 4);
  const length = Number(headers['content-length']);
  const complete = Number.isFinite(length) && Buffer.byteLength(body, 'latin1') >= length;
  return { raw, status: m ? Number(m[1]) : null, headers, body: Number.isFinite(length) ? body.slice(0, length) : body, complete };
}

module.exports = { rawRequest, parseResponse };
