'use strict';
// An application TerminalStatusNotification endpoint that can hold its answers: every request is
// decoded and kept on arrival (so a test sees a delivery that is in flight), and answered at once,
// after a delay, only when released, or with an error status, as the test sets.
const http = require('node:http');
const { parseEnvelope } = require('../../js/soap/envelope');
const { decode } = require('./appEndpoint');

/**
 * @returns {Promise<{ url: string, received: object[], of: (correlator: string) => object[],
 *   mode: (m: { hold?: boolean, delayMs?: number, status?: number }) => void,
 *   release: () => void, waitFor: (correlator: string, count: number, timeoutMs?: number) => Promise<object[]>,
 *   close: () => Promise<void> }>} received entries: { kind, correlator, statuses, at, answered,
 *   aborted } (answered: the status sent back, or null; aborted: the client went away first)
 */
async function startSlowApp() {
  const received = [];
  const held = [];
  let current = { hold: false, delayMs: 0, status: 200 };
  const answer = (entry, res, status) => {
    if (res.destroyed) return;
    entry.answered = status;
    res.writeHead(status, { 'content-type': 'text/xml; charset=utf-8' });
    res.end('<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body/></soapenv:Envelope>');
  };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let entry;
      try {
        entry = decode(parseEnvelope(Buffer.concat(chunks)).body);
      } catch (error) {
        entry = { kind: 'unparseable', error: String(error) };
      }
      Object.assign(entry, { at: Date.now(), answered: null, aborted: false });
      received.push(entry);
      res.on('close', () => { if (entry.answered === null) entry.aborted = true; });
      const { hold, delayMs, status } = current;
      if (hold) held.push(() => answer(entry, res, status));
      else if (delayMs > 0) setTimeout(answer, delayMs, entry, res, status);
      else answer(entry, res, status);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  const of = (correlator) => received.filter((r) => r.correlator === correlator);
  return {
    url: `http://127.0.0.1:${port}/app/TerminalStatusNotification`,
    received,
    of,
    mode(m) { current = { ...current, ...m }; },
    release() { while (held.length > 0) held.shift()(); },
    async waitFor(correlator, count, timeoutMs = 8000) {
      const deadline = Date.now() + timeoutMs;
      while (of(correlator).length < count) {
        if (Date.now() > deadline) {
          throw new Error(`${correlator}: ${of(correlator).length} of ${count} requests within ${timeoutMs} ms: `
            + JSON.stringify(of(correlator).map((r) => [r.kind, r.statuses])));
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return of(correlator);
    },
    close() {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      return closed;
    },
  };
}

module.exports = { startSlowApp };
