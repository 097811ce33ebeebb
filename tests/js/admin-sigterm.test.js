'use strict';
// SIGTERM on `parlayx-gateway serve` (issue 16, Operations): readiness turns 503 at once, the SOAP
// listener accepts no new connection, a request in flight is still answered, and the process
// exits; a request still in flight at admin.shutdownDeadlineMs is cut and the process exits then.
// The request in flight is a real client that has sent its headers and half of its body.
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { startSippUas } = require('../support/sipp');
const { serveGateway } = require('../support/gatewayProcess');
const { envelope, tempDir } = require('../support/gateway');
const { parseResponse } = require('../support/rawHttp');

let presence;

beforeAll(async () => {
  presence = await startSippUas({ scenario: 'subscribe-200-notify', keys: { basic: 'open' } });
}, 20000);

afterAll(async () => {
  if (presence) await presence.stop();
});

function writeConfig(deadlineMs) {
  const dir = tempDir('px-sigterm-');
  const file = path.join(dir, 'gateway.yaml');
  fs.writeFileSync(file, `authentication:
  required: false
http:
  host: 127.0.0.1
  port: 0
admin:
  enabled: true
  host: 127.0.0.1
  port: 0
  shutdownDeadlineMs: ${deadlineMs}
sip:
  bindHost: 127.0.0.1
  port: 0
  presenceServerUri: "sip:127.0.0.1:${presence.port}"
presence:
  fetchTimeoutMs: 1000
calls:
  port: 0
usage:
  database: ${path.join(dir, 'usage.db')}
notifications:
  database: ${path.join(dir, 'notifications.db')}
`);
  return file;
}

/** Starts `serve`; its admin URL is in the "started" log line. */
async function serve(deadlineMs) {
  const served = await serveGateway(writeConfig(deadlineMs));
  const line = served.proc.logs().split('\n').find((l) => l.includes('"parlayx-gateway started"'));
  const adminUrl = JSON.parse(line).admin;
  expect(adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  const soapPort = Number(new URL(served.endpoint).port);
  return { ...served, adminUrl, soapPort };
}

/** A getStatus whose client sends its headers and the first half of its body, then waits. */
function halfSentRequest(port, endpointPath) {
  const body = Buffer.from(envelope('<loc:getStatus><loc:address>sip:alice@example.test</loc:address></loc:getStatus>'));
  const head = `POST ${endpointPath} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: text/xml; charset=utf-8\r\n`
    + `SOAPAction: ""\r\nContent-Length: ${body.length}\r\n\r\n`;
  const half = Math.floor(body.length / 2);
  const socket = net.connect({ host: '127.0.0.1', port });
  const chunks = [];
  socket.on('data', (chunk) => chunks.push(chunk));
  socket.on('error', () => {});
  const closed = new Promise((resolve) => socket.on('close', resolve));
  const connected = new Promise((resolve) => socket.once('connect', () => {
    socket.write(Buffer.concat([Buffer.from(head), body.subarray(0, half)]), resolve);
  }));
  return {
    connected,
    finish: () => socket.write(body.subarray(half)),
    closed,
    response: () => parseResponse(Buffer.concat(chunks).toString('latin1')),
    destroy: () => socket.destroy(),
  };
}

/** Whether a new TCP connection to port is accepted. */
function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

async function waitFor(predicate, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('SIGTERM on parlayx-gateway serve', () => {
  test('readiness turns 503 at once, no new SOAP connection, the request in flight is answered, then exit 0', async () => {
    const gw = await serve(10000);
    try {
      const ready = await fetch(`${gw.adminUrl}/readyz`);
      expect(ready.status).toBe(200);

      const request = halfSentRequest(gw.soapPort, new URL(gw.endpoint).pathname);
      await request.connected;
      process.kill(gw.proc.pid, 'SIGTERM');

      // Draining: alive, not ready, the SOAP listener closed.
      let drainingReady;
      await waitFor(async () => {
        drainingReady = await fetch(`${gw.adminUrl}/readyz`);
        return drainingReady.status === 503;
      });
      const report = await drainingReady.json();
      expect(report.ready).toBe(false);
      expect(report.checks.shuttingDown).toBe(true);
      expect(report.reasons).toContain('shutting down');
      expect(gw.proc.hasExited()).toBe(false);
      await waitFor(async () => !(await accepts(gw.soapPort)));
      expect(gw.proc.hasExited()).toBe(false);

      // The request in flight is finished by its client and answered.
      request.finish();
      await request.closed;
      const answer = request.response();
      expect(answer.status).toBe(200);
      expect(answer.body).toContain('Reachable');

      const exit = await gw.proc.exited;
      expect(exit.code).toBe(0);
      expect(gw.proc.logs()).toContain('"stopping"');
    } finally {
      await gw.kill();
    }
  }, 30000);

  test('a request still in flight at admin.shutdownDeadlineMs is cut, and the process exits then', async () => {
    const gw = await serve(400);
    try {
      const request = halfSentRequest(gw.soapPort, new URL(gw.endpoint).pathname);
      await request.connected;
      const sent = Date.now();
      process.kill(gw.proc.pid, 'SIGTERM');
      await request.closed;
      const cutAfter = Date.now() - sent;
      // Not before the deadline (with the timer's tolerance), and long before the 5 s idle timeout.
      expect(cutAfter).toBeGreaterThanOrEqual(350);
      expect(cutAfter).toBeLessThan(3000);
      expect(request.response().status).toBeNull();
      const exit = await gw.proc.exited;
      expect(exit.code).toBe(0);
      expect(gw.proc.logs()).toContain('shutdown deadline reached');
    } finally {
      await gw.kill();
    }
  }, 30000);
});
