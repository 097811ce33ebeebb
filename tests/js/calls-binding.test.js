'use strict';
// The native calls API (binding-contract.md) against the real addon: start/stop/list, the start
// rules (duplicate correlator, overlap, owner), persistence across close and reopen of a core,
// the AS port and the calls counters. The SIP side (events, decisions) is tested with the AS role.
const path = require('node:path');
const native = require('../../js/native');
const { tempDir } = require('../support/gateway');
const { startPostgres } = require('../support/postgres');

function coreAt(dir, extra = '') {
  return new native.NativeCore({
    text: `notifications:\n  database: ${path.join(dir, 'n.db')}\nsip:\n  port: 0\ncalls:\n  port: 0\n${extra}`,
    name: 'calls-binding.yaml',
  });
}

function spec(over = {}) {
  return {
    kind: 'notification',
    requester: 'app1',
    correlator: 'c1',
    addresses: ['tel:+15551230001', 'tel:+1555999*'],
    criteria: ['Busy', 'NoAnswer'],
    endpoint: 'http://127.0.0.1:9/cn',
    interfaceName: 'CallNotification',
    ns: 'http://www.csapi.org/schema/parlayx/call_notification/v2_3/local',
    ...over,
  };
}

describe('call registrations through the native core', () => {
  let dir;
  let core;
  beforeEach(() => {
    dir = tempDir('px-calls-');
    core = coreAt(dir);
  });
  afterEach(async () => {
    if (core) await core.close();
  });

  test('start, list, stop, with the owner check', async () => {
    await expect(core.startCallRegistration(spec())).resolves.toBe('started');
    const [listed] = core.listCallRegistrations();
    expect(listed).toMatchObject(spec());
    expect(listed.createdMs).toBeGreaterThan(Date.now() - 60000);
    expect(core.stats().calls.registrations).toBe(1);
    await expect(core.stopCallRegistration('notification', 'other', 'c1')).resolves.toBe('notOwner');
    await expect(core.stopCallRegistration('direction', 'app1', 'c1')).resolves.toBe('unknown');
    await expect(core.stopCallRegistration('notification', 'app1', 'c1')).resolves.toBe('stopped');
    expect(core.listCallRegistrations()).toEqual([]);
    expect(core.stats().calls.registrations).toBe(0);
  });

  test('empty criteria mean every event', async () => {
    await core.startCallRegistration(spec({ criteria: [] }));
    expect(core.listCallRegistrations()[0].criteria)
      .toEqual(['Busy', 'NotReachable', 'NoAnswer', 'CalledNumber', 'Answer', 'Disconnected']);
  });

  test('a correlator is unique per kind', async () => {
    await core.startCallRegistration(spec());
    await expect(core.startCallRegistration(spec({ requester: 'app2', addresses: ['tel:+1'] })))
      .rejects.toMatchObject({ code: 'ERR_PX_DUPLICATE_CORRELATOR' });
    await expect(core.startCallRegistration(spec({ kind: 'direction' }))).resolves.toBe('started');
  });

  test('overlap: per requester for notification, across requesters for direction', async () => {
    await core.startCallRegistration(spec());
    await expect(core.startCallRegistration(spec({ correlator: 'c2', criteria: ['Busy'], addresses: ['tel:+1555999*'] })))
      .rejects.toMatchObject({ code: 'ERR_PX_OVERLAPPING_CRITERIA', address: 'tel:+1555999*',
        message: 'Overlapped criteria tel:+1555999*' });
    await expect(core.startCallRegistration(spec({ correlator: 'c3', requester: 'app2' }))).resolves.toBe('started');
    await core.startCallRegistration(spec({ kind: 'direction', correlator: 'd1', criteria: ['CalledNumber'] }));
    await expect(core.startCallRegistration(spec({ kind: 'direction', correlator: 'd2', requester: 'app2', criteria: [] })))
      .rejects.toMatchObject({ code: 'ERR_PX_OVERLAPPING_CRITERIA', address: 'tel:+15551230001' });
  });

  test('a malformed spec is a TypeError', () => {
    // The addon's TypeError is of another realm than Jest's: matched by name and message.
    const typeError = (message) => expect.objectContaining({ name: 'TypeError', message });
    const thrown = (fn) => { try { fn(); } catch (e) { return e; } return undefined; };
    expect(thrown(() => core.startCallRegistration(spec({ kind: 'both' }))))
      .toEqual(typeError("kind must be 'notification' or 'direction'"));
    expect(thrown(() => core.startCallRegistration(spec({ criteria: ['Ringing'] }))))
      .toEqual(typeError('criteria must be CallEvents names'));
    expect(thrown(() => core.startCallRegistration(spec({ addresses: [] }))))
      .toEqual(typeError('addresses must not be empty'));
    expect(thrown(() => core.decideCall(1, 1, { action: 'Route' })))
      .toEqual(typeError('routingAddress must be a string'));
  });

  test('registrations survive closing and reopening the core', async () => {
    await core.startCallRegistration(spec());
    await core.startCallRegistration(spec({ kind: 'direction', correlator: 'd1', requester: 'app2' }));
    await core.startCallRegistration(spec({ correlator: 'gone', addresses: ['tel:+2'] }));
    await core.stopCallRegistration('notification', 'app1', 'gone');
    const before = core.listCallRegistrations();
    await core.close();
    core = coreAt(dir);
    expect(core.listCallRegistrations()).toEqual(before);
    expect(core.quarantinedCallsAtStart).toEqual([]);
    // The rules hold against what was restored.
    await expect(core.startCallRegistration(spec({ correlator: 'd1', kind: 'direction' })))
      .rejects.toMatchObject({ code: 'ERR_PX_DUPLICATE_CORRELATOR' });
  });

  test('a decision nobody waits for is refused', () => {
    expect(core.decideCall(12345, 1, { action: 'Continue' })).toBe(false);
  });

  test('after close, operations are refused', async () => {
    await core.close();
    await expect(Promise.resolve().then(() => core.startCallRegistration(spec())))
      .rejects.toMatchObject({ code: 'ERR_PX_CLOSED' });
    core = undefined;
  });
});

describe('the AS port', () => {
  test('calls.enabled false: no port, starts refused', async () => {
    const core = coreAt(tempDir('px-calls-'), '  enabled: false\n');
    try {
      expect(core.callPort).toBe(0);
      await expect(core.startCallRegistration(spec())).rejects.toMatchObject({ code: 'ERR_PX_CALLS_DISABLED' });
      expect(core.stats().calls).toMatchObject({ invites: 0, registrations: 0 });
    } finally {
      await core.close();
    }
  });

  // Needs the AS role (native/sip/CallServer.cc of helper "sip"): with calls.port 0 the bound port.
  test('calls.port 0 binds a free port', async () => {
    const core = coreAt(tempDir('px-calls-'));
    try {
      expect(core.callPort).toBeGreaterThan(0);
      expect(core.callPort).not.toBe(core.sipPort);
    } finally {
      await core.close();
    }
  });
});

// One call through the AS over UDP on loopback (caller and callee are sockets of this test): the
// events reach the call listener as dues of the matching registration, and a Call Direction
// decision is asked for and carried out. Needs the AS role (helper "sip").
describe('calls through the AS reach the call listener', () => {
  const dgram = require('node:dgram');
  const { once } = require('node:events');

  function socket() {
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1');
    return once(s, 'listening').then(() => s);
  }
  function header(message, name) {
    const m = message.match(new RegExp(`^${name}:.*$`, 'gmi'));
    return m || [];
  }
  // The callee answers every INVITE with `status` (copying Via, From, To, Call-ID, CSeq).
  function answerWith(callee, status, reason) {
    callee.on('message', (buf, rinfo) => {
      const text = buf.toString();
      if (!text.startsWith('INVITE ')) return;
      const lines = [...header(text, 'Via'), ...header(text, 'From'),
        `${header(text, 'To')[0]};tag=callee`, ...header(text, 'Call-ID'), ...header(text, 'CSeq')];
      callee.send(`SIP/2.0 ${status} ${reason}\r\n${lines.join('\r\n')}\r\nContent-Length: 0\r\n\r\n`,
        rinfo.port, rinfo.address);
    });
  }
  function invite(caller, asPort, calleePort) {
    const callId = `c-${Math.random().toString(16).slice(2)}`;
    const me = caller.address().port;
    caller.send([
      `INVITE sip:+15550001@127.0.0.1:${calleePort};user=phone SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${me};branch=z9hG4bK${callId};rport`,
      'Max-Forwards: 70',
      `Route: <sip:127.0.0.1:${asPort};lr>`,
      'From: "Alice" <sip:alice@127.0.0.1>;tag=a1',
      'To: <sip:+15550001@127.0.0.1;user=phone>',
      `Call-ID: ${callId}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:alice@127.0.0.1:${me}>`,
      'Content-Length: 0', '', ''].join('\r\n'), asPort, '127.0.0.1');
  }
  function finalResponse(caller) {
    return new Promise((resolve) => {
      caller.on('message', (buf) => {
        const status = Number(buf.toString().slice(8, 11));
        if (status >= 200) resolve(status);
      });
    });
  }

  let core;
  let caller;
  let callee;
  beforeEach(async () => {
    core = coreAt(tempDir('px-calls-'));
    caller = await socket();
    callee = await socket();
  });
  afterEach(async () => {
    caller.close();
    callee.close();
    await core.close();
  });

  test('a busy callee: notifyBusy due for the watching registration', async () => {
    const batches = [];
    core.setCallListener((batch) => batches.push(batch));
    await core.startCallRegistration(spec({ addresses: ['tel:+15550001'], criteria: ['Busy'] }));
    answerWith(callee, 486, 'Busy Here');
    const answered = finalResponse(caller);
    invite(caller, core.callPort, callee.address().port);
    expect(await answered).toBe(486);
    for (let i = 0; i < 100 && batches.length === 0; i += 1) await new Promise((r) => setTimeout(r, 20));
    const notifications = batches.flatMap((b) => b.notifications);
    expect(notifications).toEqual([expect.objectContaining({
      event: 'Busy', sipStatus: 486, called: 'tel:+15550001', correlator: 'c1', requester: 'app1',
      endpoint: 'http://127.0.0.1:9/cn', interfaceName: 'CallNotification',
    })]);
    expect(core.stats().calls).toMatchObject({ invites: 1, watchedCalls: 1 });
  });

  test('Call Direction: the decider is asked at CalledNumber and EndCall ends the call', async () => {
    let decisions = [];
    core.setCallListener((batch) => { decisions = decisions.concat(batch.decisions); });
    await core.startCallRegistration(spec({
      kind: 'direction', correlator: 'd1', addresses: ['tel:+15550001'], criteria: ['CalledNumber'],
      interfaceName: 'CallDirection',
    }));
    const answered = finalResponse(caller);
    invite(caller, core.callPort, callee.address().port);
    for (let i = 0; i < 100 && decisions.length === 0; i += 1) await new Promise((r) => setTimeout(r, 20));
    expect(decisions).toEqual([expect.objectContaining({ event: 'CalledNumber', correlator: 'd1', timeoutMs: 1500 })]);
    const [d] = decisions;
    expect(core.decideCall(d.callRef, d.decisionId, { action: 'EndCall' })).toBe(true);
    expect(await answered).toBe(603);
    expect(core.decideCall(d.callRef, d.decisionId, { action: 'Continue' })).toBe(false);
  });
});

describe('call registrations of a clustered service (store.backend postgresql)', () => {
  // Every instance matches INVITEs against all registrations, whichever instance took them:
  // a start on A reaches B (NOTIFY "calls" → reload), a stop on B reaches A, a correlator
  // started on A is a duplicate on B, and a restarted instance loads them from PostgreSQL.
  let pg;
  const cores = [];
  const clustered = (name) => {
    const dir = tempDir('px-calls-pg-');
    const core = coreAt(dir, `store:\n  backend: postgresql\n  url: "${pg.url}"\n  spool: ${path.join(dir, 'spool.db')}\n  instanceName: ${name}\n  leaseMs: 3000\n`);
    cores.push(core);
    return core;
  };
  const correlators = (core) => core.listCallRegistrations().map((r) => r.correlator).sort();
  async function waitFor(check, what) {
    const deadline = Date.now() + 5000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  beforeAll(async () => {
    pg = await startPostgres();
  });
  afterAll(async () => {
    for (const core of cores) await core.close();
    if (pg) await pg.stop();
  });

  test('a start on A is matched by B, a stop on B reaches A, duplicates are refused across instances', async () => {
    const a = clustered('calls-a');
    const b = clustered('calls-b');
    await expect(a.startCallRegistration(spec({ correlator: 'x1' }))).resolves.toBe('started');
    await waitFor(() => correlators(b).includes('x1'), 'B to load x1');
    expect(b.listCallRegistrations().find((r) => r.correlator === 'x1')).toMatchObject({
      requester: 'app1', addresses: ['tel:+15551230001', 'tel:+1555999*'], criteria: ['Busy', 'NoAnswer'],
    });
    // The same correlator through B: refused by B's registry, which now holds A's.
    await expect(b.startCallRegistration(spec({ correlator: 'x1' }))).rejects.toThrow(/correlator already in use/);
    await expect(b.stopCallRegistration('notification', 'app1', 'x1')).resolves.toBe('stopped');
    await waitFor(() => !correlators(a).includes('x1'), 'A to drop x1');
    expect(await pg.psql('SELECT count(*) FROM call_registration')).toBe('0');

    await expect(b.startCallRegistration(spec({ correlator: 'x2', kind: 'direction' }))).resolves.toBe('started');
    const c = clustered('calls-c');
    expect(correlators(c)).toEqual(['x2']);
    await waitFor(() => correlators(a).includes('x2'), 'A to load x2');
  });
});
