'use strict';
// A real HTTP sink on loopback for CAMARA subscription tests: it keeps every request it gets
// (method, path, headers, body parsed as JSON) and answers 204, as the contract's callback does.
const http = require('node:http');

/**
 * @returns {Promise<{ url: string, events: Array<{ method: string, path: string,
 *   headers: Record<string, string>, body: any }>, waitFor: (count: number, timeoutMs?: number) => Promise<any[]>,
 *   close: () => Promise<void> }>}
 */
async function startEventSink() {
  const events = [];
  let waiters = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body;
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
      events.push({ method: req.method, path: req.url, headers: req.headers, body });
      res.writeHead(204);
      res.end();
      const ready = waiters.filter((w) => events.length >= w.count);
      waiters = waiters.filter((w) => events.length < w.count);
      for (const w of ready) w.resolve();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/sink`,
    events,
    /** Resolves with the events once `count` have arrived. */
    waitFor(count, timeoutMs = 8000) {
      if (events.length >= count) return Promise.resolve(events.slice());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`sink: ${events.length} events, waited for ${count}: ${JSON.stringify(events.map((e) => e.body))}`)), timeoutMs);
        waiters.push({ count, resolve: () => { clearTimeout(timer); resolve(events.slice()); } });
      });
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

module.exports = { startEventSink };
