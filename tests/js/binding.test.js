'use strict';
// The native binding and the serverless-style handler contract, without a presence server:
// configuration errors, lifecycle (close, worker termination), and (event) => response.
const fs = require('node:fs');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const native = require('../../js/native');
const { createGateway, loadConfig } = require('../../index');
const { freePort } = require('../../scripts/kamailio/kamailio');
const { tempDir } = require('../support/gateway');

async function quietGateway(extra = '') {
  const presencePort = await freePort();
  return createGateway({
    configText: `usage:\n  database: ${path.join(tempDir('px-usage-'), 'usage.db')}\nhttp:\n  port: 0\nsip:\n  port: 0\n  presenceServerUri: "sip:127.0.0.1:${presencePort}"\npresence:\n  fetchTimeoutMs: 200\ncalls:\n  port: 0\n`
      + `authentication:\n  required: false\n${extra}`,
    configName: 'binding-test.yaml',
    log: () => {},
  });
}

describe('configuration errors name file, line and key', () => {
  test('an unknown key in a file', () => {
    const file = path.join(tempDir('px-config-'), 'gateway.yaml');
    fs.writeFileSync(file, 'http:\n  port: 8080\nsip:\n  trasnports: [udp]\n');
    let error;
    try {
      loadConfig(file);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'ERR_PX_CONFIG', file, line: 4, key: 'sip.trasnports' });
    expect(error.message).toContain(`${file}:4: sip.trasnports`);
    expect(error.message).toMatch(/transports/);
  });

  test('a bad value given as text to createGateway', async () => {
    await expect(createGateway({ configText: 'presence:\n  fetchTimeoutMs: 10\n', configName: 'inline.yaml' }))
      .rejects.toMatchObject({ code: 'ERR_PX_CONFIG', file: 'inline.yaml', line: 2, key: 'presence.fetchTimeoutMs' });
  });

  test('a requester override that loosens a global limit is refused at load, naming file, line and key', async () => {
    const hash = `$scrypt$ln=4,r=8,p=1$${Buffer.alloc(16, 1).toString('base64').replace(/=+$/, '')}$${Buffer.alloc(32, 2).toString('base64').replace(/=+$/, '')}`;
    const text = `policy:\n  maxTargets: 10\nrequesters:\n  acme:\n    passwordHash: "${hash}"\n    policy:\n      maxTargets: 50\n`;
    await expect(createGateway({ configText: text, configName: 'loose.yaml' })).rejects.toMatchObject({
      code: 'ERR_PX_CONFIG', file: 'loose.yaml', line: 7, key: 'requesters.acme.policy.maxTargets',
      message: expect.stringMatching(/looser than policy\.maxTargets \(10\).*only be more restrictive/),
    });
    // The same override tightening the limit is accepted.
    const file = path.join(tempDir('px-config-'), 'tight.yaml');
    fs.writeFileSync(file, text.replace('maxTargets: 50', 'maxTargets: 5'));
    expect(loadConfig(file).requesters.acme.passwordHash).toBe(hash);
  });

  test('the shipped default configuration loads', () => {
    const config = loadConfig(path.join(__dirname, '..', '..', 'config', 'gateway.yaml'));
    expect(config.presence.fetchTimeoutMs).toBe(1000);
    expect(config.presence.busyActivities).toEqual(['on-the-phone', 'busy']);
    expect(config.sip.transports).toEqual(['udp', 'tcp']);
  });
});

describe('usage database at start', () => {
  test('a corrupt usage database stops the gateway with an error naming the file', async () => {
    const database = path.join(tempDir('px-corrupt-'), 'usage.db');
    fs.writeFileSync(database, Buffer.alloc(8192, 0x5a));
    await expect(createGateway({ configText: `usage:\n  database: ${database}\nsip:\n  port: 0\n`, configName: 'corrupt.yaml' }))
      .rejects.toMatchObject({ code: 'ERR_PX_USAGE_OPEN', message: expect.stringContaining(database) });
  });

  test('a database path whose directory is a file is refused at start', async () => {
    const file = path.join(tempDir('px-notdir-'), 'plain-file');
    fs.writeFileSync(file, 'x');
    await expect(createGateway({ configText: `usage:\n  database: ${file}/usage.db\nsip:\n  port: 0\n`, configName: 'notdir.yaml' }))
      .rejects.toMatchObject({ code: 'ERR_PX_USAGE_OPEN', message: expect.stringContaining(file) });
  });
});

describe('NativeCore lifecycle', () => {
  test('a SIP port already in use is a clear start error', async () => {
    const port = await freePort();
    const first = new native.NativeCore({ text: `sip:\n  port: ${port}\ncalls:\n  port: 0\n`, name: 'a.yaml' });
    try {
      expect(() => new native.NativeCore({ text: `sip:\n  port: ${port}\ncalls:\n  port: 0\n`, name: 'b.yaml' }))
        .toThrow(expect.objectContaining({ code: 'ERR_PX_SIP_START' }));
    } finally {
      await first.close();
    }
  });

  test('close() ends fetches in flight, is idempotent, and later fetches are refused', async () => {
    const gateway = await quietGateway();
    const pending = gateway.core.fetchStatus('sip:alice@example.test');
    await Promise.all([gateway.close(), gateway.close()]);
    const outcome = await pending;
    expect(['shutdown', 'sipError']).toContain(outcome.kind);
    expect(() => gateway.core.fetchStatus('sip:alice@example.test')).toThrow(expect.objectContaining({ code: 'ERR_PX_CLOSED' }));
  });

  test('parseAddress is the core parser', () => {
    expect(native.parseAddress('tel:+1-555-0100')).toEqual({ ok: true, scheme: 'tel', canonical: 'tel:+15550100' });
    expect(native.parseAddress('mailto:x@y')).toMatchObject({ ok: false, error: 'unknownScheme' });
    expect(native.parseAddress('sip:')).toMatchObject({ ok: false, error: 'invalid' });
  });

  test('a worker that is terminated without close() shuts its SIP thread down', async () => {
    const port = await freePort();
    const worker = new Worker(`
      const { parentPort } = require('node:worker_threads');
      const native = require(${JSON.stringify(path.join(__dirname, '..', '..', 'js', 'native'))});
      const core = new native.NativeCore({ text: 'sip:\\n  port: ${port}\\ncalls:\\n  port: 0\\n', name: 'worker.yaml' });
      core.fetchStatus('sip:alice@example.test');
      parentPort.postMessage('ready');
      setInterval(() => {}, 1000);
    `, { eval: true });
    await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
    await worker.terminate();
    // The port is free again only if the worker's SIP stack was shut down and released.
    const again = new native.NativeCore({ text: `sip:\n  port: ${port}\ncalls:\n  port: 0\n`, name: 'after-worker.yaml' });
    await again.close();
  });
});

describe('handlers as (event) => response functions', () => {
  let gateway;
  beforeAll(async () => { gateway = await quietGateway(); });
  afterAll(() => gateway.close());

  test('a getStatus event with an invalid address gets a SVC0002 fault without any HTTP', async () => {
    const response = await gateway.app({
      httpMethod: 'POST',
      path: '/parlayx/TerminalStatusService/services/TerminalStatus',
      headers: { 'content-type': 'text/xml' },
      isBase64Encoded: true,
      body: Buffer.from(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
        <t:getStatus xmlns:t="http://www.csapi.org/schema/parlayx/terminal_status/v2_3/local"><t:address>nope</t:address></t:getStatus>
        </s:Body></s:Envelope>`).toString('base64'),
    });
    expect(response.statusCode).toBe(500);
    expect(response.headers['content-type']).toMatch(/^text\/xml/);
    expect(response.body).toContain('<messageId>SVC0002</messageId>');
  });

  test('GET on the SOAP endpoint is refused with 405; unknown paths are 404', async () => {
    const get = await gateway.app({ httpMethod: 'GET', path: '/parlayx/TerminalStatusService/services/TerminalStatus', headers: {} });
    expect(get.statusCode).toBe(405);
    const missing = await gateway.app({ httpMethod: 'POST', path: '/parlayx/Nothing', headers: {}, body: '' });
    expect(missing.statusCode).toBe(404);
  });
});
