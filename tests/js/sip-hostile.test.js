'use strict';
// Hostile input on the SIP side (issue 12), against a real gateway, a real Kamailio and real
// sockets on loopback: a TCP connection flood on the SIP port is capped and idle connections
// are closed while getStatus keeps answering over HTTP; UDP garbage, oversized and truncated
// messages and forged NOTIFYs leave the process up and serving; a requested address cannot
// steer the SUBSCRIBE.
const dgram = require('node:dgram');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { createGateway } = require('../../index');
const { startKamailio, freePort } = require('../../scripts/kamailio/kamailio');
const sip = require('../support/sip');
const { postSoap, envelope, tempDir } = require('../support/gateway');

const MAX_CONNECTIONS = 64;
const MAX_PER_SOURCE = 12;
const IDLE_MS = 3000;
// Half of the flood comes from the first address (the per-source cap), the rest from seven more
// (together over the total cap).
const FLOOD_SOURCES = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8'];

let kamailio;
let server;

/** A gateway on free ports with the sip section given (tcp caps, notify sources...). */
async function startHardenedGateway({ presencePort, sipYaml = '', fetchTimeoutMs = 1000 }) {
  const dir = tempDir('px-sip-hostile-');
  const gateway = await createGateway({
    configName: 'sip-hostile.yaml',
    configText: `
usage:
  database: ${path.join(dir, 'usage.db')}
notifications:
  database: ${path.join(dir, 'notifications.db')}
http: { host: 127.0.0.1, port: 0 }
authentication:
  required: false
presence:
  fetchTimeoutMs: ${fetchTimeoutMs}
calls:
  port: 0
sip:
  bindHost: 127.0.0.1
  port: 0
  presenceServerUri: "sip:127.0.0.1:${presencePort}"
  telDomain: example.test
${sipYaml}`,
    log: () => {},
  });
  const { url } = await gateway.listen();
  return { gateway, endpoint: `${url}/TerminalStatusService/services/TerminalStatus` };
}

/** getStatus over real HTTP; resolves { status, text }. */
function getStatus(endpoint, address) {
  return postSoap(endpoint, envelope(`<loc:getStatus><loc:address>${address}</loc:address></loc:getStatus>`));
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitUntil(predicate, what, timeoutMs = 5000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await predicate()) return;
    await delay(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The soft limit of open files this process (and a child) may have. */
function openFileLimit() {
  const out = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' });
  const text = out.stdout.trim();
  return text === 'unlimited' ? Infinity : Number(text);
}

// A child process that opens `count` TCP connections to the SIP port, spread over the given
// source addresses, keeps them open and silent, and reports on request how many were made and
// how many the gateway closed. It is a separate process so that its sockets do not count
// against the gateway's own descriptors (the gateway runs inside the Jest worker).
const FLOOD_CHILD = `
const net = require('node:net');
const [port, count, sources] = [Number(process.argv[1]), Number(process.argv[2]), process.argv[3].split(',')];
// ended: attempts the gateway ended (closed after connecting, or reset while connecting);
// errors: other failures by code (none expected: a refused connection is accepted, then reset).
const state = { ended: 0, open: 0, openBySource: {}, errors: {} };
const sockets = [];
let started = 0;
function one() {
  if (started >= count) return;
  const i = started++;
  const source = i % 2 === 0 ? sources[0] : sources[1 + ((i >> 1) % (sources.length - 1))];
  const socket = net.connect({ host: '127.0.0.1', port, localAddress: source });
  sockets.push(socket);
  let open = false;
  let error = null;
  socket.on('connect', () => {
    open = true;
    state.open++;
    state.openBySource[source] = (state.openBySource[source] || 0) + 1;
    one();
  });
  socket.on('error', (e) => { error = e.code; });
  socket.on('close', () => {
    if (open) {
      state.open--;
      state.openBySource[source]--;
    }
    if (open || error === 'ECONNRESET' || error === 'EPIPE') state.ended++;
    else state.errors[error] = (state.errors[error] || 0) + 1;
    if (!open) one();
  });
}
for (let k = 0; k < 64; k++) one();
process.stdin.on('data', (line) => {
  if (String(line).includes('report')) process.stdout.write(JSON.stringify(state) + '\\n');
  if (String(line).includes('exit')) { for (const s of sockets) s.destroy(); process.exit(0); }
});
`;

function startFlood(port, count, sources) {
  const child = spawn(process.execPath, ['-e', FLOOD_CHILD, String(port), String(count), sources.join(',')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let buffered = '';
  const waiters = [];
  child.stdout.on('data', (data) => {
    buffered += data;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const waiter = waiters.shift();
      if (waiter) waiter(JSON.parse(line));
    }
  });
  return {
    report() {
      return new Promise((resolve) => {
        waiters.push(resolve);
        child.stdin.write('report\n');
      });
    },
    stop() {
      return new Promise((resolve) => {
        child.once('exit', resolve);
        child.stdin.write('exit\n');
      });
    },
  };
}

beforeAll(async () => {
  const port = await freePort();
  kamailio = await startKamailio({ sipPort: port, workDir: tempDir('px-kamailio-') });
  server = { host: '127.0.0.1', port };
  const published = await sip.publish({ server, presentity: 'sip:alice@example.test', basic: 'open' });
  expect(published.status).toBe(200);
}, 30000);

afterAll(async () => {
  if (kamailio) await kamailio.stop();
});

describe('a TCP connection flood on the SIP port', () => {
  let fixture;
  beforeAll(async () => {
    fixture = await startHardenedGateway({
      presencePort: server.port,
      sipYaml: `  tcp: { maxConnections: ${MAX_CONNECTIONS}, maxConnectionsPerSource: ${MAX_PER_SOURCE}, idleTimeoutMs: ${IDLE_MS} }`,
    });
  });
  afterAll(async () => {
    if (fixture) await fixture.gateway.close();
  });

  test('is capped in all and per source, idle connections are closed, getStatus keeps answering', async () => {
    const limit = openFileLimit();
    // The flood child needs one descriptor per connection; it must be well above the cap.
    const count = Math.min(2000, Math.floor(limit) - 100);
    if (!(count >= 8 * MAX_CONNECTIONS)) {
      throw new Error(`ulimit -n is ${limit}: the flood needs ${8 * MAX_CONNECTIONS + 100} descriptors at least`);
    }
    const { core } = fixture.gateway;
    const before = core.stats();
    const flood = startFlood(core.sipPort, count, FLOOD_SOURCES);
    try {
      // Every connection attempt is either kept (within the caps) or ended by the gateway.
      await waitUntil(async () => {
        const r = await flood.report();
        return r.open + r.ended >= count;
      }, 'the flood to finish connecting', 20000);
      // While the flood holds its connections, the gateway serves HTTP and UDP fetches.
      const during = await getStatus(fixture.endpoint, 'sip:alice@example.test');
      expect(during.status).toBe(200);
      expect(during.text).toContain('>Reachable<');

      const report = await flood.report();
      expect(report.errors).toEqual({});
      expect(report.open + report.ended).toBe(count);
      expect(report.open).toBeLessThanOrEqual(MAX_CONNECTIONS);
      expect(report.open).toBeGreaterThan(MAX_PER_SOURCE);
      for (const open of Object.values(report.openBySource)) expect(open).toBeLessThanOrEqual(MAX_PER_SOURCE);
      const stats = core.stats();
      expect(stats.tcpConnections).toBeLessThanOrEqual(MAX_CONNECTIONS);
      // Each ended connection was counted: refused over a cap, or (on a slow machine, if the
      // flood outlasted the idle timeout) closed as idle.
      const closedCount = stats.tcpRefused - before.tcpRefused + stats.tcpIdleClosed - before.tcpIdleClosed;
      expect(closedCount).toBeGreaterThanOrEqual(report.ended);
      expect(stats.tcpRefused - before.tcpRefused).toBeGreaterThan(0);

      // Idle: within the idle timeout (plus a sweep), every flood connection is gone.
      await waitUntil(async () => (await flood.report()).open === 0, 'idle connections to be closed', IDLE_MS + 4000);
      await waitUntil(() => core.stats().tcpConnections === 0, 'the gateway to count no connection', 3000);
      expect(core.stats().tcpIdleClosed - before.tcpIdleClosed).toBeGreaterThan(0);
      const after = await getStatus(fixture.endpoint, 'sip:alice@example.test');
      expect(after.text).toContain('>Reachable<');
    } finally {
      await flood.stop();
    }
  }, 60000);

  test('TCP garbage and a message that never ends cost a connection, not the process', async () => {
    const net = require('node:net');
    const port = fixture.gateway.core.sipPort;
    const closed = (socket) => new Promise((resolve) => socket.once('close', resolve));
    const garbage = net.connect({ host: '127.0.0.1', port });
    const garbageClosed = closed(garbage);
    garbage.on('error', () => {});
    garbage.write(require('node:crypto').randomBytes(4096));
    const endless = net.connect({ host: '127.0.0.1', port });
    const endlessClosed = closed(endless);
    endless.on('error', () => {});
    endless.write(`OPTIONS sip:127.0.0.1 SIP/2.0\r\nX-Long: ${'a'.repeat(10000)}`);
    const ticker = setInterval(() => endless.write('a'), 200);
    try {
      await Promise.all([garbageClosed, endlessClosed]);
    } finally {
      clearInterval(ticker);
    }
    const status = await getStatus(fixture.endpoint, 'sip:alice@example.test');
    expect(status.text).toContain('>Reachable<');
  }, 15000);
});

describe('hostile UDP datagrams', () => {
  let fixture;
  let socket;
  beforeAll(async () => {
    fixture = await startHardenedGateway({ presencePort: server.port });
    socket = dgram.createSocket('udp4');
    await new Promise((resolve) => socket.bind(0, '127.0.0.2', resolve));
  });
  afterAll(async () => {
    if (socket) socket.close();
    if (fixture) await fixture.gateway.close();
  });

  function send(data) {
    return new Promise((resolve, reject) =>
      socket.send(data, fixture.gateway.core.sipPort, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  }

  function nextResponse(timeoutMs = 2000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.off('message', onMessage);
        reject(new Error('no response'));
      }, timeoutMs);
      function onMessage(data) {
        clearTimeout(timer);
        socket.off('message', onMessage);
        resolve(sip.parseMessage(data));
      }
      socket.on('message', onMessage);
    });
  }

  function notify({ callId, toTag, body = '', extra = [] }) {
    const { port } = socket.address();
    return sip.buildMessage(`NOTIFY sip:gw@127.0.0.1:${fixture.gateway.core.sipPort} SIP/2.0`, [
      ['Via', `SIP/2.0/UDP 127.0.0.2:${port};branch=z9hG4bK${Math.random().toString(36).slice(2)}`],
      ['Max-Forwards', '70'],
      ['From', `<sip:alice@example.test>;tag=forger`],
      ['To', `<sip:parlayx-gateway@127.0.0.1>;tag=${toTag}`],
      ['Call-ID', callId],
      ['CSeq', '2 NOTIFY'],
      ['Event', 'presence'],
      ['Subscription-State', 'active;expires=60'],
      ...extra,
      ['Content-Type', 'application/pidf+xml'],
    ], body);
  }

  test('random bytes, truncated and oversized messages leave the gateway serving', async () => {
    const crypto = require('node:crypto');
    for (let i = 0; i < 50; i++) await send(crypto.randomBytes(1 + crypto.randomInt(1400)));
    const good = notify({ callId: 'x@y', toTag: 't' });
    for (let cut = 1; cut < good.length; cut += 37) await send(good.subarray(0, cut));
    await send(Buffer.concat([Buffer.from('NOTIFY sip:gw@127.0.0.1 SIP/2.0\r\nX-Huge: '), Buffer.alloc(60000, 'h'), Buffer.from('\r\n\r\n')]));
    await send(notify({ callId: 'x@y', toTag: 't', extra: [['Content-Length', '99999']] }));
    await send(Buffer.from('SIP/2.0 200 OK\r\nCall-ID: nothing\r\nCSeq: 1 SUBSCRIBE\r\n\r\n'));
    const status = await getStatus(fixture.endpoint, 'sip:alice@example.test');
    expect(status.status).toBe(200);
    expect(status.text).toContain('>Reachable<');
  });

  test('a NOTIFY with a forged Call-ID from another address is refused and changes nothing', async () => {
    const stray = fixture.gateway.core.stats().strayRequests;
    const answer = nextResponse();
    await send(notify({ callId: `forged-${Date.now()}@127.0.0.1`, toTag: 'guess', body: '<presence/>' }));
    expect((await answer).status).toBe(481);
    expect(fixture.gateway.core.stats().strayRequests).toBe(stray + 1);
    expect((await getStatus(fixture.endpoint, 'sip:alice@example.test')).text).toContain('>Reachable<');
  });
});

describe('a forged NOTIFY inside a live fetch dialog', () => {
  // A scripted presence server (UDP, 127.0.0.1) that answers SUBSCRIBE 200 and never NOTIFYs:
  // the forger on 127.0.0.2 knows the dialog and tries to answer the fetch in its place.
  let presence;
  let fixture;
  let forger;
  const subscribes = [];
  beforeAll(async () => {
    presence = dgram.createSocket('udp4');
    await new Promise((resolve) => presence.bind(0, '127.0.0.1', resolve));
    presence.on('message', (data, rinfo) => {
      const m = sip.parseMessage(data);
      if (!m.isRequest || m.method !== 'SUBSCRIBE') return;
      subscribes.push(m);
      const ok = sip.buildMessage('SIP/2.0 200 OK', [
        ['Via', m.get('via')], ['From', m.get('from')], ['To', `${m.get('to')};tag=ps1`],
        ['Call-ID', m.get('call-id')], ['CSeq', m.get('cseq')], ['Expires', '0'],
        ['Contact', `<sip:ps@127.0.0.1:${presence.address().port}>`],
      ]);
      presence.send(ok, rinfo.port, rinfo.address);
    });
    fixture = await startHardenedGateway({ presencePort: presence.address().port, fetchTimeoutMs: 1500 });
    forger = dgram.createSocket('udp4');
    await new Promise((resolve) => forger.bind(0, '127.0.0.2', resolve));
  });
  afterAll(async () => {
    if (forger) forger.close();
    if (presence) presence.close();
    if (fixture) await fixture.gateway.close();
  });

  test('is answered 403, counted, and its document never becomes the answer', async () => {
    const pending = getStatus(fixture.endpoint, 'sip:alice@example.test');
    await waitUntil(() => subscribes.length === 1, 'the SUBSCRIBE');
    const subscribe = subscribes[0];
    // The SUBSCRIBE went to the scripted server with no routing parameter of the requester.
    expect(subscribe.uri).toBe('sip:alice@example.test');
    const fromTag = sip.headerParam(subscribe.get('from'), 'tag');
    const body = sip.buildPidf({ presentity: 'sip:alice@example.test', basic: 'open' });
    const forged = sip.buildMessage(`NOTIFY sip:gw@127.0.0.1:${fixture.gateway.core.sipPort} SIP/2.0`, [
      ['Via', `SIP/2.0/UDP 127.0.0.2:${forger.address().port};branch=z9hG4bKforged1`],
      ['Max-Forwards', '70'],
      ['From', `${subscribe.get('to')};tag=ps1`],
      ['To', subscribe.get('from')],
      ['Call-ID', subscribe.get('call-id')],
      ['CSeq', '1 NOTIFY'],
      ['Event', 'presence'],
      ['Subscription-State', 'terminated;reason=timeout'],
      ['Content-Type', 'application/pidf+xml'],
    ], body);
    expect(fromTag).toBeTruthy();
    const answer = new Promise((resolve) => forger.once('message', (data) => resolve(sip.parseMessage(data))));
    forger.send(forged, fixture.gateway.core.sipPort, '127.0.0.1');
    expect((await answer).status).toBe(403);
    expect(fixture.gateway.core.stats().notifySourceRefused).toBe(1);
    // No NOTIFY from the real server: the fetch times out (SVC0001), it is not "Reachable".
    const result = await pending;
    expect(result.status).toBe(500);
    expect(result.text).toContain('SVC0001');
    expect(result.text).not.toContain('>Reachable<');
  });

  test('a requested address with routing parameters or headers never becomes a SUBSCRIBE', async () => {
    const before = subscribes.length;
    for (const address of [
      'sip:alice@example.test;maddr=10.0.0.1',
      'sip:alice@example.test;transport=tcp',
      'sip:alice@example.test;lr',
      'sip:alice@example.test?Route=%3Csip:10.0.0.1%3E',
    ]) {
      const reply = await getStatus(fixture.endpoint, address.replace(/&/g, '&amp;'));
      expect(reply.status).toBe(500);
      expect(reply.text).toContain('SVC0002');
    }
    await delay(200);
    expect(subscribes.length).toBe(before);
  });
});
