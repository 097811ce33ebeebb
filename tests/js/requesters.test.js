'use strict';
// Requesters end to end: HTTP Basic and WS-Security UsernameToken (PasswordText, PasswordDigest)
// over real HTTP against a gateway in front of a real Kamailio, through raw envelopes and through
// node-soap clients generated from the served WSDL; what an unauthenticated request leaves behind
// (nothing but a 401); replayed nonces; and a requester seeing and ending only its own
// notifications.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const soap = require('soap');
const { startKamailio, freePort } = require('../../scripts/kamailio/kamailio');
const sip = require('../support/sip');
const { startAppEndpoint } = require('../support/appEndpoint');
const { startGateway, postSoap, envelope, tempDir, testPasswordHash, basicAuth } = require('../support/gateway');

const WSSE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';
const WSU = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd';
const TOKEN_PROFILE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0';
const MANAGER_PATH = '/TerminalStatusNotificationManagerService/services/TerminalStatusNotificationManager';
const PASSWORD = 'acme password';
const OTHER_PASSWORD = 'other password';

let kamailio;
let fixture;
let application;

const basic = basicAuth;

/** A getStatus envelope with a UsernameToken header. */
function tokenEnvelope({ username, password, digest, nonce = crypto.randomBytes(16), created = new Date().toISOString(),
  address = 'sip:alice@example.test' }) {
  const value = digest
    ? crypto.createHash('sha1').update(Buffer.concat([nonce, Buffer.from(created), Buffer.from(password)])).digest('base64')
    : password;
  return `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:loc="http://www.csapi.org/schema/parlayx/terminal_status/v2_3/local">
  <soapenv:Header>
    <wsse:Security soapenv:mustUnderstand="1" xmlns:wsse="${WSSE}" xmlns:wsu="${WSU}">
      <wsse:UsernameToken>
        <wsse:Username>${username}</wsse:Username>
        <wsse:Password Type="${TOKEN_PROFILE}#${digest ? 'PasswordDigest' : 'PasswordText'}">${value}</wsse:Password>
        <wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">${nonce.toString('base64')}</wsse:Nonce>
        <wsu:Created>${created}</wsu:Created>
      </wsse:UsernameToken>
    </wsse:Security>
  </soapenv:Header>
  <soapenv:Body><loc:getStatus><loc:address>${address}</loc:address></loc:getStatus></soapenv:Body>
</soapenv:Envelope>`;
}

const getStatusBody = (address) => envelope(`<loc:getStatus><loc:address>${address}</loc:address></loc:getStatus>`);

async function recordCount() {
  return (await fixture.gateway.usage.query({})).length;
}

beforeAll(async () => {
  const port = await freePort();
  kamailio = await startKamailio({ sipPort: port, workDir: tempDir('px-kamailio-') });
  expect((await sip.publish({ server: { host: '127.0.0.1', port }, presentity: 'sip:alice@example.test', basic: 'open' })).status)
    .toBe(200);
  application = await startAppEndpoint();
  const stateDir = tempDir('px-requesters-');
  const secretFile = path.join(stateDir, 'acme.secret');
  fs.writeFileSync(secretFile, `${PASSWORD}\n`, { mode: 0o600 });
  fixture = await startGateway({
    presencePort: port,
    stateDir,
    authYaml: 'authentication:\n  required: true\n  tokenMaxAgeSec: 60\n',
    extraYaml: `requesters:
  acme:
    passwordHash: "${testPasswordHash(PASSWORD)}"
    digestSecretFile: ${secretFile}
  other:
    passwordHash: "${testPasswordHash(OTHER_PASSWORD)}"
`,
  });
}, 30000);

afterAll(async () => {
  if (fixture) await fixture.gateway.close();
  if (application) await application.close();
  if (kamailio) await kamailio.stop();
});

describe('no or wrong credentials: HTTP 401 with a SOAP fault, and nothing else happens', () => {
  test.each([
    ['no credentials', {}],
    ['a wrong password', basic('acme', 'guess')],
    ['an unknown requester', basic('mallory', PASSWORD)],
    ['a malformed Authorization header', { authorization: 'Basic !!!' }],
  ])('%s', async (_name, headers) => {
    const records = await recordCount();
    const fetchesBefore = fixture.gateway.core.stats().started;
    const reply = await postSoap(fixture.endpoint, getStatusBody('sip:alice@example.test'), headers);
    expect(reply.status).toBe(401);
    expect(reply.headers.get('www-authenticate')).toMatch(/^Basic realm="parlayx-gateway"/);
    expect(reply.text).toMatch(/<faultcode>[^<]*FailedAuthentication<\/faultcode>/);
    // No usage record, no SIP fetch.
    expect(await recordCount()).toBe(records);
    expect(fixture.gateway.core.stats().started).toBe(fetchesBefore);
  });
});

describe('authenticated requests carry the requester into the usage record', () => {
  test('HTTP Basic', async () => {
    const reply = await postSoap(fixture.endpoint, getStatusBody('sip:alice@example.test'), basic('acme', PASSWORD));
    expect(reply.status).toBe(200);
    const [record] = await fixture.gateway.usage.query({ globalId: reply.headers.get('x-parlayx-global-id') });
    expect(record.attributes.REQUESTER).toBe('acme');
  });

  test('UsernameToken PasswordText and PasswordDigest', async () => {
    for (const digest of [false, true]) {
      const reply = await postSoap(fixture.endpoint, tokenEnvelope({ username: 'acme', password: PASSWORD, digest }));
      expect(reply.status).toBe(200);
      const [record] = await fixture.gateway.usage.query({ globalId: reply.headers.get('x-parlayx-global-id') });
      expect(record.attributes.REQUESTER).toBe('acme');
    }
  });

  test('a replayed UsernameToken nonce is refused with 401', async () => {
    const token = { username: 'acme', password: PASSWORD, digest: true, nonce: crypto.randomBytes(16), created: new Date().toISOString() };
    expect((await postSoap(fixture.endpoint, tokenEnvelope(token))).status).toBe(200);
    const records = await recordCount();
    const replay = await postSoap(fixture.endpoint, tokenEnvelope(token));
    expect(replay.status).toBe(401);
    expect(await recordCount()).toBe(records);
  });

  test('a token created outside tokenMaxAgeSec is refused', async () => {
    const created = new Date(Date.now() - 120000).toISOString();
    expect((await postSoap(fixture.endpoint, tokenEnvelope({ username: 'acme', password: PASSWORD, digest: true, created }))).status)
      .toBe(401);
  });

  test('PasswordDigest of a requester without a digest secret is refused', async () => {
    expect((await postSoap(fixture.endpoint, tokenEnvelope({ username: 'other', password: OTHER_PASSWORD, digest: true }))).status)
      .toBe(401);
    expect((await postSoap(fixture.endpoint, tokenEnvelope({ username: 'other', password: OTHER_PASSWORD }))).status).toBe(200);
  });

  test('generated node-soap clients with BasicAuthSecurity and WSSecurity (digest) work unchanged', async () => {
    const wsdl = await fetch(`${fixture.endpoint}?wsdl`);
    expect(wsdl.status).toBe(200);
    const client = await soap.createClientAsync(`${fixture.endpoint}?wsdl`);
    client.setSecurity(new soap.BasicAuthSecurity('acme', PASSWORD));
    expect((await client.getStatusAsync({ address: 'sip:alice@example.test' }))[0].result).toBe('Reachable');
    const wss = await soap.createClientAsync(`${fixture.endpoint}?wsdl`);
    wss.setSecurity(new soap.WSSecurity('acme', PASSWORD, { passwordType: 'PasswordDigest', mustUnderstand: true }));
    expect((await wss.getStatusAsync({ address: 'sip:alice@example.test' }))[0].result).toBe('Reachable');
    const anonymous = await soap.createClientAsync(`${fixture.endpoint}?wsdl`);
    await expect(anonymous.getStatusAsync({ address: 'sip:alice@example.test' })).rejects.toMatchObject({ response: { status: 401 } });
  });
});

describe('a requester may only end or see its own notifications', () => {
  const start = (correlator) => envelope(`<loc:startNotification>
    <loc:reference><endpoint>${application.url}</endpoint><interfaceName>TerminalStatusNotification</interfaceName><correlator>${correlator}</correlator></loc:reference>
    <loc:addresses>sip:alice@example.test</loc:addresses>
    <loc:checkImmediate>false</loc:checkImmediate>
    <loc:frequency><metric>Second</metric><units>1</units></loc:frequency>
  </loc:startNotification>`, { localNs: 'http://www.csapi.org/schema/parlayx/terminal_status/notification_manager/v2_3/local' });
  const end = (correlator) => envelope(`<loc:endNotification><loc:correlator>${correlator}</loc:correlator></loc:endNotification>`,
    { localNs: 'http://www.csapi.org/schema/parlayx/terminal_status/notification_manager/v2_3/local' });

  test('another requester cannot end it (SVC0002), nor see it; its owner can', async () => {
    const manager = `${fixture.url}${MANAGER_PATH}`;
    expect((await postSoap(manager, start('shared-correlator'), basic('acme', PASSWORD))).status).toBe(200);
    expect(fixture.gateway.notifications.list({ requester: 'acme' }).map((n) => n.correlator)).toEqual(['shared-correlator']);
    expect(fixture.gateway.notifications.list({ requester: 'other' })).toEqual([]);
    const foreign = await postSoap(manager, end('shared-correlator'), basic('other', OTHER_PASSWORD));
    expect(foreign.status).toBe(500);
    expect(foreign.text).toContain('<messageId>SVC0002</messageId>');
    expect(fixture.gateway.notifications.list({ requester: 'acme' })).toHaveLength(1);
    // The same correlator is free for another requester (unique per requester).
    expect((await postSoap(manager, start('shared-correlator'), basic('other', OTHER_PASSWORD))).status).toBe(200);
    expect((await postSoap(manager, end('shared-correlator'), basic('acme', PASSWORD))).status).toBe(200);
    expect(fixture.gateway.notifications.list({ requester: 'acme' })).toEqual([]);
    expect(fixture.gateway.notifications.list({ requester: 'other' })).toHaveLength(1);
    expect((await postSoap(manager, end('shared-correlator'), basic('other', OTHER_PASSWORD))).status).toBe(200);
  });
});
