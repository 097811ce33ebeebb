'use strict';
// getStatus / getStatusForGroup end to end: a SOAP client generated from the served WSDL, real
// HTTP, the native SIP watcher, and a real Kamailio presence server whose users' presence is set
// by real SIP PUBLISH.
const soap = require('soap');
const { startKamailio, freePort } = require('../../scripts/kamailio/kamailio');
const sip = require('../support/sip');
const { startGateway, postSoap, envelope, soapFault, tempDir } = require('../support/gateway');

const TEAM = 'glmgroup:team@example.test';
let kamailio;
let server;
let fixture;
let client;

beforeAll(async () => {
  const port = await freePort();
  kamailio = await startKamailio({ sipPort: port, workDir: tempDir('px-kamailio-') });
  server = { host: '127.0.0.1', port };
  const publications = [
    ['sip:alice@example.test', 'open', undefined],
    ['sip:bob@example.test', 'open', ['on-the-phone']],
    ['sip:carol@example.test', 'closed', undefined],
    ['sip:dave@example.test', 'open', ['away']],
    ['sip:+15550001@example.test', 'open', ['busy']],
  ];
  for (const [presentity, basic, activities] of publications) {
    const published = await sip.publish({ server, presentity, basic, activities });
    expect(published.status).toBe(200);
  }
  fixture = await startGateway({
    presencePort: port,
    maxTargets: 6,
    extraYaml: `groups:
  schemes: [glmgroup]
  members:
    "${TEAM}": [sip:alice@example.test, sip:bob@example.test, sip:carol@example.test]
    "glmgroup:big@example.test": [sip:a1@example.test, sip:a2@example.test, sip:a3@example.test, sip:a4@example.test, sip:a5@example.test]
`,
  });
  client = await soap.createClientAsync(`${fixture.endpoint}?wsdl`);
}, 30000);

afterAll(async () => {
  if (fixture) await fixture.gateway.close();
  if (kamailio) await kamailio.stop();
});

describe('getStatus through the generated SOAP client', () => {
  test.each([
    ['sip:alice@example.test', 'Reachable'],
    ['sip:bob@example.test', 'Busy'],
    ['sip:carol@example.test', 'Unreachable'],
    ['sip:dave@example.test', 'Reachable'],
    ['tel:+1-555-0001', 'Busy'],
    ['sip:ghost@example.test', 'Unreachable'],
  ])('%s is %s', async (address, expected) => {
    const [result] = await client.getStatusAsync({ address });
    expect(result.result).toBe(expected);
  });

  test('a status change published over SIP is seen by the next getStatus', async () => {
    const presentity = 'sip:erin@example.test';
    const first = await sip.publish({ server, presentity, basic: 'open' });
    expect((await client.getStatusAsync({ address: presentity }))[0].result).toBe('Reachable');
    await sip.publish({ server, presentity, etag: first.etag, basic: 'open', activities: ['on-the-phone'] });
    expect((await client.getStatusAsync({ address: presentity }))[0].result).toBe('Busy');
  });

  test('a SUBSCRIBE larger than 1300 bytes is answered too', async () => {
    // A 480-character user part makes the SUBSCRIBE ~1,400 bytes, over NTA's UDP MTU of 1300:
    // with udp and tcp bound (the default) Sofia sends it over TCP (seen with TPORT_LOG=1).
    const presentity = `sip:u${'x'.repeat(470)}@example.test`;
    expect((await sip.publish({ server, presentity, basic: 'open', activities: ['busy'] })).status).toBe(200);
    const [result] = await client.getStatusAsync({ address: presentity });
    expect(result.result).toBe('Busy');
  });

  test('a user of a domain the presence server does not serve is a ServiceException SVC0001', async () => {
    const error = await client.getStatusAsync({ address: 'sip:someone@elsewhere.test' }).catch((e) => e);
    const fault = soapFault(error);
    expect(fault.kind).toBe('ServiceException');
    expect(fault.messageId).toBe('SVC0001');
    expect(fault.variables.join(' ')).toMatch(/404/);
  });

  test.each([
    ['sip:', 'SVC0002'],
    ['not a uri', 'SVC0002'],
    ['mailto:alice@example.test', 'SVC0002'],
    ['tel:+12ab', 'SVC0002'],
  ])('invalid address %j is %s', async (address, messageId) => {
    const fault = soapFault(await client.getStatusAsync({ address }).catch((e) => e));
    expect(fault.kind).toBe('ServiceException');
    expect(fault.messageId).toBe(messageId);
    expect(fault.text).toBe('Invalid input value for message part %1');
    expect(fault.variables).toEqual(['address']);
    expect(fault.faultstring).toBe('Invalid input value for message part address');
  });

  test('a group address in getStatus is a PolicyException POL0006', async () => {
    const fault = soapFault(await client.getStatusAsync({ address: TEAM }).catch((e) => e));
    expect(fault.kind).toBe('PolicyException');
    expect(fault.messageId).toBe('POL0006');
    expect(fault.variables).toEqual(['address']);
  });
});

describe('getStatusForGroup through the generated SOAP client', () => {
  test('terminals and expanded groups, with per-address errors', async () => {
    const [response] = await client.getStatusForGroupAsync({
      addresses: [TEAM, 'sip:alice@example.test', 'tel:+15550001', 'mailto:x@example.test', 'sip:y@elsewhere.test'],
    });
    const byAddress = Object.fromEntries(response.result.map((entry) => [entry.address, entry]));
    expect(Object.keys(byAddress).sort()).toEqual([
      'mailto:x@example.test', 'sip:alice@example.test', 'sip:bob@example.test',
      'sip:carol@example.test', 'sip:y@elsewhere.test', 'tel:+15550001',
    ]);
    expect(byAddress['sip:alice@example.test']).toMatchObject({ reportStatus: 'Retrieved', currentStatus: 'Reachable' });
    expect(byAddress['sip:bob@example.test']).toMatchObject({ reportStatus: 'Retrieved', currentStatus: 'Busy' });
    expect(byAddress['sip:carol@example.test']).toMatchObject({ reportStatus: 'Retrieved', currentStatus: 'Unreachable' });
    expect(byAddress['tel:+15550001']).toMatchObject({ reportStatus: 'Retrieved', currentStatus: 'Busy' });
    expect(byAddress['mailto:x@example.test'].reportStatus).toBe('Error');
    expect(byAddress['mailto:x@example.test'].errorInformation.messageId).toBe('SVC0002');
    expect(byAddress['sip:y@elsewhere.test'].reportStatus).toBe('Error');
    expect(byAddress['sip:y@elsewhere.test'].errorInformation.messageId).toBe('SVC0001');
    expect(byAddress['sip:y@elsewhere.test'].currentStatus).toBeUndefined();
  });

  test('more targets than terminalStatus.maxTargets after expansion is POL0003', async () => {
    const fault = soapFault(await client.getStatusForGroupAsync({
      addresses: ['glmgroup:big@example.test', 'sip:alice@example.test', 'sip:bob@example.test'],
    }).catch((e) => e));
    expect(fault.kind).toBe('PolicyException');
    expect(fault.messageId).toBe('POL0003');
    expect(fault.variables).toEqual(['addresses']);
  });

  test('exactly maxTargets targets are served', async () => {
    const [response] = await client.getStatusForGroupAsync({
      addresses: ['glmgroup:big@example.test', 'sip:alice@example.test'],
    });
    expect(response.result).toHaveLength(6);
  });

  test('a group URI matches whatever the case of its scheme', async () => {
    const [response] = await client.getStatusForGroupAsync({ addresses: ['GLMGROUP:team@example.test'] });
    expect(response.result.map((entry) => entry.address).sort()).toEqual([
      'sip:alice@example.test', 'sip:bob@example.test', 'sip:carol@example.test',
    ]);
  });

  test('an unknown group is SVC0002', async () => {
    const fault = soapFault(await client.getStatusForGroupAsync({ addresses: ['glmgroup:nobody@example.test'] }).catch((e) => e));
    expect(fault.messageId).toBe('SVC0002');
  });
});

describe('SOAP envelope handling over raw HTTP', () => {
  test('any terminal_status version namespace is answered in the same namespace', async () => {
    for (const ns of [
      'http://www.csapi.org/schema/parlayx/terminal_status/v2_2/local',
      'http://www.csapi.org/schema/parlayx/terminal_status/v3_0/local',
    ]) {
      const reply = await postSoap(fixture.endpoint, envelope(
        '<loc:getStatus><loc:address>sip:alice@example.test</loc:address></loc:getStatus>', { localNs: ns }));
      expect(reply.status).toBe(200);
      expect(reply.text).toContain(`xmlns:ns="${ns}"`);
      expect(reply.text).toMatch(/<ns:getStatusResponse[^>]*><ns:result>Reachable<\/ns:result><\/ns:getStatusResponse>/);
    }
  });

  test('a 3.x request gets faults in the common v3_1 namespace', async () => {
    const reply = await postSoap(fixture.endpoint, envelope('<loc:getStatus><loc:address>bad</loc:address></loc:getStatus>',
      { localNs: 'http://www.csapi.org/schema/parlayx/terminal_status/v3_0/local' }));
    expect(reply.status).toBe(500);
    expect(reply.text).toContain('http://www.csapi.org/schema/parlayx/common/v3_1');
    expect(reply.text).toContain('<messageId>SVC0002</messageId>');
  });

  test('a malformed envelope is a SOAP Client fault', async () => {
    const reply = await postSoap(fixture.endpoint, '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><oops>');
    expect(reply.status).toBe(500);
    expect(reply.text).toMatch(/<faultcode>[^<]*:Client<\/faultcode>/);
  });

  test('a DOCTYPE is refused before any entity is expanded', async () => {
    const body = `<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<loc:getStatus xmlns:loc="http://www.csapi.org/schema/parlayx/terminal_status/v2_3/local"><loc:address>&b;</loc:address></loc:getStatus>
</soapenv:Body></soapenv:Envelope>`;
    const reply = await postSoap(fixture.endpoint, body);
    expect(reply.status).toBe(500);
    expect(reply.text).toMatch(/:Client<\/faultcode>/);
    expect(reply.text).not.toContain('aaaaaaaaaa');
  });

  test('an oversized body is refused with 413 and a Client fault', async () => {
    const padding = 'x'.repeat(9000);
    const reply = await postSoap(fixture.endpoint, envelope(`<loc:getStatus><loc:address>sip:${padding}@example.test</loc:address></loc:getStatus>`));
    expect(reply.status).toBe(413);
    expect(reply.text).toMatch(/:Client<\/faultcode>/);
  });

  test('an unknown operation is a Client fault', async () => {
    const reply = await postSoap(fixture.endpoint, envelope('<loc:getLocation><loc:address>tel:+1</loc:address></loc:getLocation>'));
    expect(reply.status).toBe(500);
    expect(reply.text).toMatch(/:Client<\/faultcode>/);
    expect(reply.text).toContain('getLocation');
  });

  test('a SOAP 1.2 envelope is a VersionMismatch fault', async () => {
    const reply = await postSoap(fixture.endpoint,
      '<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>');
    expect(reply.status).toBe(500);
    expect(reply.text).toMatch(/:VersionMismatch<\/faultcode>/);
  });

  test('the WSDL and its imports are served with absolute locations on the requested host', async () => {
    const reply = await fetch(`${fixture.endpoint}?wsdl`);
    const text = await reply.text();
    expect(reply.status).toBe(200);
    expect(text).toContain(`<soap:address location="${fixture.endpoint}"/>`);
    const imported = /location="([^"]+parlayx_terminal_status_interface_2_3\.wsdl)"/.exec(text)[1];
    const iface = await fetch(imported);
    expect(iface.status).toBe(200);
    expect(await iface.text()).toContain('name="getStatusForGroup"');
    expect((await fetch(`${fixture.url}/wsdl/..%2Fpackage.json`)).status).toBe(404);
  });
});

describe('the JS API', () => {
  test('getStatus and getStatusForGroup as Promises', async () => {
    await expect(fixture.gateway.getStatus('sip:bob@example.test')).resolves.toBe('Busy');
    await expect(fixture.gateway.getStatus('glmgroup:team@example.test')).rejects.toMatchObject({ messageId: 'POL0006' });
    const entries = await fixture.gateway.getStatusForGroup(['sip:alice@example.test']);
    expect(entries).toEqual([{ address: 'sip:alice@example.test', reportStatus: 'Retrieved', currentStatus: 'Reachable' }]);
  });
});

describe('presence server stopped', () => {
  // Last: it stops the shared Kamailio.
  test('getStatus answers SVC0001 within the fetch timeout; groups report Error', async () => {
    await kamailio.stop();
    const started = Date.now();
    const fault = soapFault(await client.getStatusAsync({ address: 'sip:alice@example.test' }).catch((e) => e));
    expect(Date.now() - started).toBeLessThan(1000 + 500);
    expect(fault.messageId).toBe('SVC0001');
    const [response] = await client.getStatusForGroupAsync({ addresses: ['sip:alice@example.test', 'sip:bob@example.test'] });
    for (const entry of response.result) expect(['Error', 'NotRetrieved']).toContain(entry.reportStatus);
    kamailio = null;
  });
});
