'use strict';

// Verifies the test harness itself, independently of the gateway's native
// code: a real Kamailio presence server (scripts/kamailio/), the real-SIP
// client (tests/support/sip.js) and the SIPp misbehaving servers
// (tests/support/sipp.js). Run: npx jest tests/js/presence-harness.test.js --runInBand

const net = require('node:net');

const { startKamailio, freePort } = require('../../scripts/kamailio/kamailio');
const sip = require('../support/sip');
const { startSippUas } = require('../support/sipp');

jest.setTimeout(20000);

const DOMAIN = 'example.test';

/** OPTIONS over TCP, to prove the TCP listener (the client module is UDP only). */
function optionsOverTcp(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let data = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('no answer over TCP'));
    }, 3000);
    sock.on('connect', () => {
      const local = `${sock.localAddress}:${sock.localPort}`;
      sock.write(
        [
          `OPTIONS sip:127.0.0.1:${port};transport=tcp SIP/2.0`,
          `Via: SIP/2.0/TCP ${local};branch=z9hG4bKtcp${Date.now()}`,
          'Max-Forwards: 70',
          `From: <sip:probe@${DOMAIN}>;tag=tcp1`,
          `To: <sip:127.0.0.1:${port}>`,
          `Call-ID: tcp-${Date.now()}@127.0.0.1`,
          'CSeq: 1 OPTIONS',
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
      );
    });
    sock.on('data', (chunk) => {
      data += chunk.toString('utf8');
      if (data.includes('\r\n\r\n')) {
        clearTimeout(timer);
        sock.destroy();
        resolve(sip.parseMessage(data));
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code !== 'ESRCH';
  }
}

describe('Kamailio presence server harness', () => {
  let srv;
  let server;
  let route;
  const etags = {};

  beforeAll(async () => {
    const port = await freePort();
    srv = await startKamailio({ sipPort: port, domain: DOMAIN });
    server = { host: srv.host, port: srv.sipPort };
    // The gateway sends fetches with this preloaded Route.
    route = `<sip:127.0.0.1:${srv.sipPort};lr>`;
  });

  afterAll(async () => {
    if (srv) await srv.stop();
  });

  test('starts on the requested port and answers OPTIONS with 200 over UDP and TCP', async () => {
    expect(srv.uri).toBe(`sip:127.0.0.1:${srv.sipPort}`);
    expect(srv.domain).toBe(DOMAIN);
    expect(pidAlive(srv.pid)).toBe(true);
    const udp = await sip.options(server);
    expect(udp.status).toBe(200);
    const tcp = await optionsOverTcp(srv.sipPort);
    expect(tcp.status).toBe(200);
  });

  test('PUBLISH open, busy and closed returns 200 with SIP-ETag', async () => {
    const cases = [
      ['alice', { basic: 'open' }],
      ['bob', { basic: 'open', activities: ['on-the-phone'] }],
      ['carol', { basic: 'closed' }],
    ];
    for (const [user, doc] of cases) {
      const res = await sip.publish({ server, presentity: `sip:${user}@${DOMAIN}`, ...doc, expires: 600 });
      expect(res.status).toBe(200);
      expect(res.etag).toMatch(/\S+/);
      expect(res.expires).toBe(600);
      etags[user] = res.etag;
    }
  });

  test('a fetch returns 200 Expires 0 and a terminated NOTIFY with the published document', async () => {
    const fetch = (user) => sip.fetchPresence({ server, presentity: `sip:${user}@${DOMAIN}`, route });

    const alice = await fetch('alice');
    expect(alice.subscribeStatus).toBe(200);
    expect(alice.expires).toBe(0);
    expect(alice.notify).not.toBeNull();
    expect(alice.notify.subscriptionState).toMatch(/^terminated;\s*reason=timeout$/);
    expect(alice.notify.event).toBe('presence');
    expect(alice.notify.contentType).toBe('application/pidf+xml');
    expect(alice.notify.body).toContain('entity="sip:alice@example.test"');
    expect(alice.notify.body).toMatch(/<basic>open<\/basic>/);
    expect(alice.notify.body).not.toMatch(/on-the-phone/);
    expect(alice.notifies).toHaveLength(1);

    const bob = await fetch('bob');
    expect(bob.subscribeStatus).toBe(200);
    expect(bob.notify.subscriptionState).toMatch(/^terminated;\s*reason=timeout$/);
    expect(bob.notify.body).toMatch(/<basic>open<\/basic>/);
    expect(bob.notify.body).toMatch(/<rpid:activities>\s*<rpid:on-the-phone\/>\s*<\/rpid:activities>/);
    expect(bob.notify.body).toMatch(/<dm:person\b/);

    const carol = await fetch('carol');
    expect(carol.subscribeStatus).toBe(200);
    expect(carol.notify.subscriptionState).toMatch(/^terminated;\s*reason=timeout$/);
    expect(carol.notify.body).toMatch(/<basic>closed<\/basic>/);
    expect(carol.notify.body).not.toMatch(/<basic>open<\/basic>/);
  });

  test('an unknown user of the served domain gets 200 and a NOTIFY without body', async () => {
    const res = await sip.fetchPresence({ server, presentity: `sip:nobody@${DOMAIN}`, route });
    expect(res.subscribeStatus).toBe(200);
    expect(res.notify).not.toBeNull();
    expect(res.notify.subscriptionState).toMatch(/^terminated;\s*reason=timeout$/);
    expect(res.notify.body).toBe('');
    expect(res.notify.contentType).toBeUndefined();
  });

  test('a foreign domain gets 404 and no NOTIFY; PUBLISH there gets 404 too', async () => {
    const res = await sip.fetchPresence({ server, presentity: 'sip:alice@foreign.test', route, notifyTimeoutMs: 300 });
    expect(res.subscribeStatus).toBe(404);
    expect(res.notify).toBeNull();
    const pub = await sip.publish({ server, presentity: 'sip:alice@foreign.test', basic: 'open' });
    expect(pub.status).toBe(404);
  });

  test('a SUBSCRIBE for another event package gets 489 with Allow-Events', async () => {
    const res = await sip.subscribe({ server, presentity: `sip:alice@${DOMAIN}`, event: 'dialog', notifyTimeoutMs: 300 });
    expect(res.subscribeStatus).toBe(489);
    expect(res.response.get('allow-events')).toBe('presence');
    expect(res.notify).toBeNull();
  });

  test('SIP-If-Match refreshes (new ETag) and modifies a publication', async () => {
    // Refresh by re-sending the document: a body-less refresh blanks it in
    // Kamailio 5.6's in-memory mode (see sip-client.js publish()).
    const refreshed = await sip.publish({
      server,
      presentity: `sip:carol@${DOMAIN}`,
      etag: etags.carol,
      basic: 'closed',
      expires: 300,
    });
    expect(refreshed.status).toBe(200);
    expect(refreshed.etag).toMatch(/\S+/);
    expect(refreshed.etag).not.toBe(etags.carol);
    expect(refreshed.expires).toBe(300);
    const still = await sip.fetchPresence({ server, presentity: `sip:carol@${DOMAIN}` });
    expect(still.notify.body).toMatch(/<basic>closed<\/basic>/);
    const stale = await sip.publish({ server, presentity: `sip:carol@${DOMAIN}`, etag: etags.carol, basic: 'open' });
    expect(stale.status).toBeGreaterThanOrEqual(400); // The old ETag is gone.

    const modified = await sip.publish({
      server,
      presentity: `sip:carol@${DOMAIN}`,
      etag: refreshed.etag,
      basic: 'open',
      activities: ['away'],
    });
    expect(modified.status).toBe(200);
    etags.carol = modified.etag;
    const res = await sip.fetchPresence({ server, presentity: `sip:carol@${DOMAIN}` });
    expect(res.notify.body).toMatch(/<basic>open<\/basic>/);
    expect(res.notify.body).toMatch(/<rpid:away\/>/);
    expect(res.notify.body).not.toMatch(/<basic>closed<\/basic>/);
  });

  test('after unpublish the fetch NOTIFY has no body', async () => {
    const un = await sip.unpublish({ server, presentity: `sip:alice@${DOMAIN}`, etag: etags.alice });
    expect(un.status).toBe(200);
    const res = await sip.fetchPresence({ server, presentity: `sip:alice@${DOMAIN}`, route });
    expect(res.subscribeStatus).toBe(200);
    expect(res.notify.subscriptionState).toMatch(/^terminated;\s*reason=timeout$/);
    expect(res.notify.body).toBe('');
    // bob is untouched.
    const bob = await sip.fetchPresence({ server, presentity: `sip:bob@${DOMAIN}`, route });
    expect(bob.notify.body).toMatch(/on-the-phone/);
  });

  test('other methods get 405', async () => {
    const s = new sip.SipUdpSocket();
    await s.open();
    try {
      const res = await s.request(server, {
        method: 'MESSAGE',
        uri: `sip:bob@${DOMAIN}`,
        headers: [
          ['Max-Forwards', '70'],
          ['From', `<sip:probe@${DOMAIN}>;tag=m1`],
          ['To', `<sip:bob@${DOMAIN}>`],
          ['Call-ID', `msg-${Date.now()}@127.0.0.1`],
          ['CSeq', '1 MESSAGE'],
          ['Content-Type', 'text/plain'],
        ],
        body: 'hi',
      });
      expect(res.status).toBe(405);
    } finally {
      s.close();
    }
  });

  test('stop() ends Kamailio: OPTIONS goes unanswered and the process is gone', async () => {
    const { pid } = srv;
    await srv.stop();
    await srv.stop(); // Idempotent.
    expect(pidAlive(pid)).toBe(false);
    await expect(sip.options(server, { timeoutMs: 1200 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(srv.logs()).toMatch(/Listening on/);
  });
});

describe('SIPp misbehaving presence servers', () => {
  const presentity = `sip:bob@${DOMAIN}`;

  test('subscribe-reject answers every SUBSCRIBE with the configured final code', async () => {
    const uas = await startSippUas({ scenario: 'subscribe-reject', keys: { code: '503' } });
    try {
      const server = { host: uas.host, port: uas.port };
      for (let i = 0; i < 2; i += 1) {
        const res = await sip.fetchPresence({ server, presentity, notifyTimeoutMs: 300, timeoutMs: 3000 });
        expect(res.subscribeStatus).toBe(503);
        expect(res.subscribeReason).toBe('Service Unavailable');
        expect(res.notify).toBeNull();
      }
    } finally {
      await uas.stop();
    }
    const forbidden = await startSippUas({ scenario: 'subscribe-reject' });
    try {
      const res = await sip.fetchPresence({ server: { host: forbidden.host, port: forbidden.port }, presentity, timeoutMs: 3000 });
      expect(res.subscribeStatus).toBe(403);
    } finally {
      await forbidden.stop();
    }
  });

  test('subscribe-200-no-notify answers 200 Expires 0 and never sends a NOTIFY', async () => {
    const uas = await startSippUas({ scenario: 'subscribe-200-no-notify' });
    try {
      const server = { host: uas.host, port: uas.port };
      const results = await Promise.all(
        [1, 2].map(() => sip.fetchPresence({ server, presentity, notifyTimeoutMs: 1500, timeoutMs: 3000 })),
      );
      for (const res of results) {
        expect(res.subscribeStatus).toBe(200);
        expect(res.expires).toBe(0);
        expect(res.notify).toBeNull();
      }
    } finally {
      await uas.stop();
    }
  });

  test('subscribe-200-notify answers 200, then a terminated NOTIFY, and takes our 200', async () => {
    const person =
      '<dm:person id="p1"><rpid:activities><rpid:on-the-phone/></rpid:activities></dm:person>';
    const uas = await startSippUas({ scenario: 'subscribe-200-notify', keys: { basic: 'open', person } });
    try {
      const server = { host: uas.host, port: uas.port };
      for (const user of ['bob', 'dave']) {
        const res = await sip.fetchPresence({ server, presentity: `sip:${user}@${DOMAIN}`, timeoutMs: 3000 });
        expect(res.subscribeStatus).toBe(200);
        expect(res.expires).toBe(0);
        expect(res.notifyBeforeResponse).toBe(false);
        expect(res.notify).not.toBeNull();
        expect(res.notify.subscriptionState).toBe('terminated;reason=timeout');
        expect(res.notify.contentType).toBe('application/pidf+xml');
        expect(res.notify.body).toContain(`entity="sip:${user}@${DOMAIN}"`);
        expect(res.notify.body).toMatch(/<basic>open<\/basic>/);
        expect(res.notify.body).toMatch(/<rpid:on-the-phone\/>/);
        // NOTIFY is in the SUBSCRIBE's dialog: its From tag is the 200's To tag.
        const toTag = sip.headerParam(res.response.get('to'), 'tag');
        expect(sip.headerParam(res.notify.request.get('from'), 'tag')).toBe(toTag);
      }
      // Let both calls finish (final pause) so SIPp counts them successful.
      await new Promise((r) => setTimeout(r, 800));
    } finally {
      await uas.stop();
    }
    const stats = /Successful call\s*\|\s*\d+\s*\|\s*(\d+)/g;
    const counts = [...uas.logs().matchAll(stats)].map((m) => Number(m[1]));
    expect(Math.max(0, ...counts)).toBe(2);
  });

  test('subscribe-200-notify can send a closed document', async () => {
    const uas = await startSippUas({ scenario: 'subscribe-200-notify', keys: { basic: 'closed' } });
    try {
      const res = await sip.fetchPresence({ server: { host: uas.host, port: uas.port }, presentity, timeoutMs: 3000 });
      expect(res.notify.body).toMatch(/<basic>closed<\/basic>/);
      expect(res.notify.body).not.toMatch(/person/);
    } finally {
      await uas.stop();
    }
  });
});
