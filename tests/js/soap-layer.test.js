'use strict';
// The SOAP layer on its own: the request reader's typed requests, the builder's exact bytes, and
// the dependency direction of the JS tree (HTTP server -> handlers -> services -> native, SOAP
// only in js/soap/).

const fs = require('node:fs');
const path = require('node:path');
const { SOAP11_NS, SoapFaultError } = require('../../js/soap/envelope');
const { readRequest, TERMINAL_STATUS, NOTIFICATION_MANAGER } = require('../../js/soap/requests');
const builder = require('../../js/soap/builder');
const { ParlayxFault } = require('../../js/parlayx/faults');

const TS2 = 'http://www.csapi.org/schema/parlayx/terminal_status/v2_3/local';
const TS3 = 'http://www.csapi.org/schema/parlayx/terminal_status/v3_0/local';
const NM = 'http://www.csapi.org/schema/parlayx/terminal_status/notification_manager/v2_3/local';
const COMMON2 = 'http://www.csapi.org/schema/parlayx/common/v2_1';
const COMMON3 = 'http://www.csapi.org/schema/parlayx/common/v3_1';
const env = (body, header = '') =>
  `<s:Envelope xmlns:s="${SOAP11_NS}">${header ? `<s:Header>${header}</s:Header>` : ''}<s:Body>${body}</s:Body></s:Envelope>`;

describe('readRequest: typed requests', () => {
  test('getStatus: the trimmed address; missing or repeated is ""', () => {
    const parsed = readRequest(TERMINAL_STATUS, env(`<t:getStatus xmlns:t="${TS2}"><t:address> tel:+1 </t:address></t:getStatus>`));
    expect(parsed).toEqual({
      operation: 'getStatus', ns: TS2, commonNs: COMMON2, header: null, request: { address: 'tel:+1' },
    });
    expect(readRequest(TERMINAL_STATUS, env(`<t:getStatus xmlns:t="${TS2}"/>`)).request).toEqual({ address: '' });
    expect(readRequest(TERMINAL_STATUS, env(
      `<t:getStatus xmlns:t="${TS2}"><address>a</address><address>b</address></t:getStatus>`,
    )).request).toEqual({ address: '' });
  });

  test('getStatusForGroup: qualified, unqualified and common-namespace children; others ignored', () => {
    const parsed = readRequest(TERMINAL_STATUS, env(
      `<t:getStatusForGroup xmlns:t="${TS3}"><addresses>a</addresses><t:addresses> b </t:addresses>` +
      `<c:addresses xmlns:c="${COMMON2}">c</c:addresses><x:addresses xmlns:x="urn:x">d</x:addresses></t:getStatusForGroup>`,
    ));
    expect(parsed.commonNs).toBe(COMMON3);
    expect(parsed.request).toEqual({ addresses: ['a', 'b', 'c'] });
  });

  test('startNotification: SimpleReference, TimeMetric, xsd:boolean and xsd:int converted', () => {
    const { request } = readRequest(NOTIFICATION_MANAGER, env(
      `<n:startNotification xmlns:n="${NM}" xmlns:c="${COMMON2}"><n:reference><c:endpoint> http://a/b </c:endpoint>` +
      '<interfaceName> I </interfaceName><correlator> k </correlator></n:reference>' +
      '<n:addresses>tel:1</n:addresses><n:addresses>tel:2</n:addresses><n:criteria> Busy </n:criteria>' +
      '<n:checkImmediate>1</n:checkImmediate><n:frequency><metric>Second</metric><units>+10</units></n:frequency>' +
      '<n:count>3</n:count></n:startNotification>',
    ));
    expect(request).toEqual({
      reference: { endpoint: 'http://a/b', interfaceName: ' I ', correlator: ' k ' },
      addresses: ['tel:1', 'tel:2'],
      criteria: ['Busy'],
      checkImmediate: true,
      frequency: { metric: 'Second', units: 10 },
      duration: undefined,
      count: 3,
    });
  });

  test('startNotification: what cannot be converted is passed on as it is (the service refuses it)', () => {
    const { request } = readRequest(NOTIFICATION_MANAGER, env(
      `<n:startNotification xmlns:n="${NM}"><n:checkImmediate>yes</n:checkImmediate><n:count>99999999999</n:count>` +
      '<n:frequency><metric>a</metric><metric>b</metric><units>x</units></n:frequency>' +
      '<n:duration><metric>Hour</metric></n:duration><n:duration/></n:startNotification>',
    ));
    expect(request.checkImmediate).toBe('yes');
    expect(request.count).toBe('99999999999');
    expect(request.frequency).toEqual({ metric: ['a', 'b'], units: 'x' });
    expect(request.duration).toEqual([{ metric: 'Hour', units: undefined }, { metric: undefined, units: undefined }]);
    expect(request.reference).toBeUndefined();
    expect(request.addresses).toEqual([]);
  });

  test('endNotification: the correlator untrimmed; missing or repeated is ""', () => {
    const read = (children) => readRequest(NOTIFICATION_MANAGER, env(`<n:endNotification xmlns:n="${NM}">${children}</n:endNotification>`)).request;
    expect(read('<n:correlator> k </n:correlator>')).toEqual({ correlator: ' k ' });
    expect(read('')).toEqual({ correlator: '' });
    expect(read('<correlator>a</correlator><correlator>b</correlator>')).toEqual({ correlator: '' });
  });

  test('the SOAP header is handed on for the authenticator', () => {
    const parsed = readRequest(TERMINAL_STATUS, env(`<t:getStatus xmlns:t="${TS2}"/>`, '<h:x xmlns:h="urn:h"/>'));
    expect(parsed.header.children.map((c) => c.name)).toEqual(['x']);
  });
});

describe('readRequest: Client faults', () => {
  const faultOf = (fn) => {
    try {
      fn();
    } catch (error) {
      return error;
    }
    throw new Error('no fault');
  };

  test('an operation of another interface, namespace or version pattern is unknown', () => {
    for (const [iface, body] of [
      [TERMINAL_STATUS, `<n:startNotification xmlns:n="${NM}"/>`],
      [NOTIFICATION_MANAGER, `<t:getStatus xmlns:t="${TS2}"/>`],
      [TERMINAL_STATUS, '<t:getStatus xmlns:t="urn:other"/>'],
      [TERMINAL_STATUS, `<t:startNotification xmlns:t="${TS2}"/>`],
    ]) {
      const error = faultOf(() => readRequest(iface, env(body)));
      expect(error).toBeInstanceOf(SoapFaultError);
      expect(error.faultcode).toBe('Client');
      expect(error.faultstring).toMatch(/^unknown operation \{[^}]*\}\w+$/);
    }
  });

  test('an operation the endpoint does not route is unknown', () => {
    const error = faultOf(() => readRequest(TERMINAL_STATUS, env(`<t:getStatusForGroup xmlns:t="${TS2}"/>`), undefined, ['getStatus']));
    expect(error.faultstring).toBe(`unknown operation {${TS2}}getStatusForGroup`);
  });

  test('malformed envelopes keep the parser fault', () => {
    const error = faultOf(() => readRequest(TERMINAL_STATUS, '<a'));
    expect(error).toBeInstanceOf(SoapFaultError);
    expect(error.faultstring).toMatch(/^Malformed XML/);
  });
});

describe('builder: exact bytes', () => {
  const ENV_OPEN = `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="${SOAP11_NS}"><soapenv:Body>`;
  const ENV_CLOSE = '</soapenv:Body></soapenv:Envelope>';

  test('getStatus and getStatusForGroup responses in the request namespace', () => {
    expect(builder.operationResponse({ operation: 'getStatus', ns: TS2 }, 'Reachable')).toBe(
      `${ENV_OPEN}<ns:getStatusResponse xmlns:ns="${TS2}"><ns:result>Reachable</ns:result></ns:getStatusResponse>${ENV_CLOSE}`,
    );
    const entries = [
      { address: 'tel:1', reportStatus: 'Retrieved', currentStatus: 'Busy' },
      { address: 'tel:<&2>', reportStatus: 'NotRetrieved' },
      { address: 'x', reportStatus: 'Error', errorInformation: new ParlayxFault('SVC0001', ['a<b']) },
    ];
    expect(builder.operationResponse({ operation: 'getStatusForGroup', ns: TS3 }, entries)).toBe(
      `${ENV_OPEN}<ns:getStatusForGroupResponse xmlns:ns="${TS3}">` +
      '<ns:result><address>tel:1</address><reportStatus>Retrieved</reportStatus><currentStatus>Busy</currentStatus></ns:result>' +
      '<ns:result><address>tel:&lt;&amp;2&gt;</address><reportStatus>NotRetrieved</reportStatus></ns:result>' +
      '<ns:result><address>x</address><reportStatus>Error</reportStatus><errorInformation><messageId>SVC0001</messageId>' +
      '<text>A service error occurred. Error code is %1</text><variables>a&lt;b</variables></errorInformation></ns:result>' +
      `</ns:getStatusForGroupResponse>${ENV_CLOSE}`,
    );
  });

  test('startNotification and endNotification responses are empty wrappers', () => {
    for (const operation of ['startNotification', 'endNotification']) {
      expect(builder.operationResponse({ operation, ns: NM }, undefined)).toBe(
        `${ENV_OPEN}<ns:${operation}Response xmlns:ns="${NM}"></ns:${operation}Response>${ENV_CLOSE}`,
      );
    }
    expect(() => builder.operationResponse({ operation: 'nope', ns: NM }, undefined)).toThrow(TypeError);
  });

  test('the wsse fault, the throttling faults and the HTTP server faults', () => {
    expect(builder.failedAuthenticationFault()).toBe(
      `${ENV_OPEN}<soapenv:Fault xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">` +
      '<faultcode>wsse:FailedAuthentication</faultcode>' +
      `<faultstring>${builder.FAILED_AUTHENTICATION_FAULTSTRING}</faultstring></soapenv:Fault>${ENV_CLOSE}`,
    );
    const fault = (code, text) =>
      `${ENV_OPEN}<soapenv:Fault><faultcode>soapenv:${code}</faultcode><faultstring>${text}</faultstring></soapenv:Fault>${ENV_CLOSE}`;
    expect(builder.throttledFault('overloaded', 2)).toBe(fault('Server', 'Authentication is busy; retry after 2 s'));
    expect(builder.throttledFault('throttledClient', 3)).toBe(fault('Client', 'Too many failed authentication attempts; retry after 3 s'));
    expect(builder.throttledFault('throttledRequester', 1)).toBe(fault('Client', 'Too many failed authentication attempts; retry after 1 s'));
    expect(builder.bodyTooLargeFault(65536)).toBe(fault('Client', 'request body larger than 65536 bytes'));
    expect(builder.internalErrorFault()).toBe(fault('Server', 'internal error'));
    expect(builder.clientFault('a<b')).toBe(fault('Client', 'a&lt;b'));
  });
});

describe('dependency direction of the JS tree', () => {
  const ROOT = path.join(__dirname, '..', '..');
  function jsFiles(dir) {
    return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
      const relative = path.join(dir, entry.name);
      if (entry.isDirectory()) return jsFiles(relative);
      return entry.name.endsWith('.js') ? [relative] : [];
    });
  }
  const requiresOf = (file) =>
    [...fs.readFileSync(path.join(ROOT, file), 'utf8').matchAll(/require\((['"])([^'"]+)\1\)/g)].map((m) => m[2]);

  test('nothing under js/ requires handlers/ except the mount point js/app.js', () => {
    const offenders = jsFiles('js').filter((file) => requiresOf(file).some((r) => /(^|\/)handlers(\/|$)/.test(r)));
    expect(offenders).toEqual(['js/app.js']);
  });

  test('services build no SOAP and no HTTP responses', () => {
    for (const service of ['js/terminalStatus.js', 'js/notifications.js', 'js/policy.js', 'js/usage.js', 'js/recordedOperation.js']) {
      expect({ service, requires: requiresOf(service).filter((r) => /soap|handlers/.test(r)) }).toEqual({ service, requires: [] });
    }
  });

  test('SOAP envelopes are written in js/soap/builder.js only', () => {
    const writers = [...jsFiles('js'), ...jsFiles('handlers')]
      .filter((file) => /soapenv:|<ns:/.test(fs.readFileSync(path.join(ROOT, file), 'utf8')));
    expect(writers).toEqual(['js/soap/builder.js']);
  });
});
