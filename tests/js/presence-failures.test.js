'use strict';
// How the gateway answers when the presence server misbehaves: final non-2xx answers, a 200
// without NOTIFY, no answer at all. The peer is SIPp (Debian sip-tester) speaking real SIP, since
// Kamailio cannot be made to misbehave on demand.
const dgram = require('node:dgram');
const soap = require('soap');
const { startSippUas } = require('../support/sipp');
const { freePort } = require('../../scripts/kamailio/kamailio');
const { startGateway, soapFault } = require('../support/gateway');

const FETCH_TIMEOUT_MS = 600;

async function withPeer(peer, fn) {
  const fixture = await startGateway({ presencePort: peer.port, fetchTimeoutMs: FETCH_TIMEOUT_MS });
  try {
    const client = await soap.createClientAsync(`${fixture.endpoint}?wsdl`);
    await fn(client, fixture);
  } finally {
    await fixture.gateway.close();
    await peer.stop();
  }
}

describe.each([403, 404, 489, 500, 503])('presence server answers %i', (code) => {
  test('getStatus is SVC0001 naming the code; a group entry is Error', async () => {
    const peer = await startSippUas({ scenario: 'subscribe-reject', keys: { code: String(code) } });
    await withPeer(peer, async (client) => {
      const started = Date.now();
      const fault = soapFault(await client.getStatusAsync({ address: 'sip:alice@example.test' }).catch((e) => e));
      expect(Date.now() - started).toBeLessThan(FETCH_TIMEOUT_MS);
      expect(fault.kind).toBe('ServiceException');
      expect(fault.messageId).toBe('SVC0001');
      expect(fault.variables[0]).toContain(`presence server answered ${code}`);
      const [response] = await client.getStatusForGroupAsync({ addresses: ['sip:alice@example.test'] });
      expect(response.result[0]).toMatchObject({ address: 'sip:alice@example.test', reportStatus: 'Error' });
      expect(response.result[0].errorInformation.messageId).toBe('SVC0001');
    });
  });
});

test('200 without a NOTIFY: SVC0001 after the fetch timeout, NotRetrieved in a group', async () => {
  const peer = await startSippUas({ scenario: 'subscribe-200-no-notify' });
  await withPeer(peer, async (client) => {
    let started = Date.now();
    const fault = soapFault(await client.getStatusAsync({ address: 'sip:alice@example.test' }).catch((e) => e));
    let elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(FETCH_TIMEOUT_MS - 5);
    expect(elapsed).toBeLessThan(FETCH_TIMEOUT_MS + 300);
    expect(fault.messageId).toBe('SVC0001');
    expect(fault.variables[0]).toMatch(/did not answer in time/);
    started = Date.now();
    const [response] = await client.getStatusForGroupAsync({ addresses: ['sip:alice@example.test', 'sip:bob@example.test'] });
    elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(FETCH_TIMEOUT_MS + 300);
    expect(response.result.map((e) => e.reportStatus)).toEqual(['NotRetrieved', 'NotRetrieved']);
  });
});

test('200 then NOTIFY with a PIDF document from a non-Kamailio server maps the same way', async () => {
  const peer = await startSippUas({
    scenario: 'subscribe-200-notify',
    keys: { basic: 'open', person: '<dm:person id="p1"><rpid:activities><rpid:busy/></rpid:activities></dm:person>' },
  });
  await withPeer(peer, async (client) => {
    const [result] = await client.getStatusAsync({ address: 'sip:alice@example.test' });
    expect(result.result).toBe('Busy');
  });
});

test('a presence server that never answers: SVC0001 within the fetch timeout', async () => {
  // A bound UDP socket that swallows every SUBSCRIBE: no ICMP error, no answer.
  const port = await freePort();
  const sink = dgram.createSocket('udp4');
  let received = 0;
  sink.on('message', () => { received += 1; });
  await new Promise((resolve) => sink.bind(port, '127.0.0.1', resolve));
  const peer = { port, stop: () => new Promise((resolve) => sink.close(resolve)) };
  await withPeer(peer, async (client) => {
    const started = Date.now();
    const fault = soapFault(await client.getStatusAsync({ address: 'sip:alice@example.test' }).catch((e) => e));
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(FETCH_TIMEOUT_MS - 5);
    expect(elapsed).toBeLessThan(FETCH_TIMEOUT_MS + 300);
    expect(fault.messageId).toBe('SVC0001');
    expect(received).toBeGreaterThanOrEqual(1);
  });
});
