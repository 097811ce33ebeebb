'use strict';

const path = require('node:path');
const soap = require('soap');
const { CATALOGUE, ParlayxFault, fillTemplate } = require('../../js/parlayx/faults');
const { parseEnvelope, SOAP11_NS } = require('../../js/soap/envelope');
const { COMMON_NS_V2_1, toSoapFault, toServiceError, responseEnvelope } = require('../../js/soap/builder');

// Exact texts of parlayx-digest.md §4.
const EXPECTED = {
  SVC0001: ['ServiceException', 'A service error occurred. Error code is %1'],
  SVC0002: ['ServiceException', 'Invalid input value for message part %1'],
  SVC0003: ['ServiceException', 'Invalid input value for message part %1, valid values are %2'],
  SVC0004: ['ServiceException', 'No valid addresses provided in message part %1'],
  SVC0005: ['ServiceException', 'Correlator %1 specified in message part %2 is a duplicate'],
  SVC0006: ['ServiceException', 'Group %1 in message part %2 is not a valid group'],
  SVC0007: ['ServiceException', 'Invalid charging information'],
  SVC0008: ['ServiceException', 'Overlapped criteria %1'],
  POL0001: ['PolicyException', 'A policy error occurred. Error code is %1'],
  POL0002: ['PolicyException', 'Privacy verification failed for address %1, request is refused'],
  POL0003: ['PolicyException', 'Too many addresses specified in message part %1'],
  POL0004: ['PolicyException', 'Unlimited notification request not supported'],
  POL0005: ['PolicyException', 'Too many notifications requested'],
  POL0006: ['PolicyException', 'Group specified in message part %1 not allowed'],
  POL0007: ['PolicyException', 'Nested groups specified in message part %1 not allowed'],
  POL0008: ['PolicyException', 'Charging is not supported'],
  POL0009: ['PolicyException', 'Invalid frequency requested'],
  POL0010: ['PolicyException', 'Requested information unavailable as the retention time interval has expired'],
  POL0011: ['PolicyException', 'Media type not supported'],
  POL0012: ['PolicyException', 'Too many description entries specified in message part %1'],
  POL0013: ['PolicyException', 'Duplicated addresses %1'],
};

/** Parse a fault document and return its parts. */
function parseFault(xml) {
  const { body } = parseEnvelope(xml);
  expect(body).toMatchObject({ ns: SOAP11_NS, name: 'Fault' });
  const [faultcode, faultstring, detail] = body.children;
  expect(body.children).toHaveLength(3);
  expect([faultcode.ns, faultcode.name, faultstring.ns, faultstring.name, detail.ns, detail.name]).toEqual([
    '',
    'faultcode',
    '',
    'faultstring',
    '',
    'detail',
  ]);
  expect(detail.children).toHaveLength(1);
  return { faultcode: faultcode.text, faultstring: faultstring.text, exception: detail.children[0] };
}

/** messageId/text/variables children of a ServiceException-like element, asserting they are unqualified. */
function contentOf(el) {
  for (const c of el.children) expect(c.ns).toBe('');
  const names = el.children.map((c) => c.name);
  expect(names.slice(0, 2)).toEqual(['messageId', 'text']);
  expect(new Set(names.slice(2))).toEqual(new Set(names.length > 2 ? ['variables'] : []));
  return {
    messageId: el.children[0].text,
    text: el.children[1].text,
    variables: el.children.slice(2).map((c) => c.text),
  };
}

describe('catalogue', () => {
  test('holds exactly the ids of digest §4', () => {
    expect(Object.keys(CATALOGUE).sort()).toEqual(Object.keys(EXPECTED).sort());
    expect(Object.isFrozen(CATALOGUE)).toBe(true);
  });

  test.each(Object.entries(EXPECTED))('%s kind and text', (id, [kind, text]) => {
    expect(CATALOGUE[id].kind).toBe(kind);
    expect(CATALOGUE[id].text).toBe(text);
    expect(typeof CATALOGUE[id].title).toBe('string');
    const f = new ParlayxFault(id, ['V1', 'V2']);
    expect(f.kind).toBe(kind);
    expect(f.template).toBe(text);
    expect(f.text).toBe(text.replace('%1', 'V1').replace('%2', 'V2'));
  });
});

describe('ParlayxFault', () => {
  test('fields and substitution with several variables', () => {
    const f = new ParlayxFault('SVC0005', ['corr-7', 'reference']);
    expect(f).toBeInstanceOf(Error);
    expect(f.name).toBe('ParlayxFault');
    expect(f.kind).toBe('ServiceException');
    expect(f.messageId).toBe('SVC0005');
    expect(f.variables).toEqual(['corr-7', 'reference']);
    expect(f.text).toBe('Correlator corr-7 specified in message part reference is a duplicate');
    expect(f.message).toBe(f.text);
    expect(new ParlayxFault('SVC0003', ['criteria', 'Busy, NoAnswer']).text).toBe(
      'Invalid input value for message part criteria, valid values are Busy, NoAnswer',
    );
    expect(new ParlayxFault('POL0002', ['tel:+1']).kind).toBe('PolicyException');
  });

  test('substitution is single-pass and positional', () => {
    expect(new ParlayxFault('SVC0006', ['%2', 'x']).text).toBe('Group %2 in message part x is not a valid group');
    expect(fillTemplate('%2 %1 %2 %10', ['a', 'b'])).toBe('b a b %10');
    expect(fillTemplate('%1%1', ['$&'])).toBe('$&$&'); // no String.replace pattern expansion
  });

  test('missing variables leave the marker, extra ones are kept', () => {
    expect(new ParlayxFault('SVC0002').text).toBe('Invalid input value for message part %1');
    const f = new ParlayxFault('SVC0007', ['extra']);
    expect(f.text).toBe('Invalid charging information');
    expect(f.variables).toEqual(['extra']);
  });

  test('variables are coerced to strings and frozen', () => {
    const f = new ParlayxFault('SVC0005', [42, null]);
    expect(f.variables).toEqual(['42', '']);
    expect(f.text).toBe('Correlator 42 specified in message part  is a duplicate');
    expect(Object.isFrozen(f.variables)).toBe(true);
  });

  test('unknown messageId or bad variables throw TypeError', () => {
    for (const id of ['SVC9999', 'svc0001', '', 'toString', '__proto__', undefined, 1]) {
      expect(() => new ParlayxFault(id)).toThrow(TypeError);
    }
    expect(() => new ParlayxFault('SVC0002', 'address')).toThrow(TypeError);
  });
});

describe('toSoapFault', () => {
  test('ServiceException: Server faultcode, filled faultstring, qualified detail with unqualified children', () => {
    const xml = toSoapFault(new ParlayxFault('SVC0002', ['address']));
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
    const { faultcode, faultstring, exception } = parseFault(xml);
    expect(faultcode).toBe('soapenv:Server');
    expect(faultstring).toBe('Invalid input value for message part address');
    expect(exception.ns).toBe(COMMON_NS_V2_1);
    expect(exception.name).toBe('ServiceException');
    expect(contentOf(exception)).toEqual({
      messageId: 'SVC0002',
      text: 'Invalid input value for message part %1',
      variables: ['address'],
    });
  });

  test('PolicyException uses the same faultcode rule and its own element', () => {
    const { faultcode, faultstring, exception } = parseFault(toSoapFault(new ParlayxFault('POL0003', ['addresses'])));
    expect(faultcode).toBe('soapenv:Server');
    expect(faultstring).toBe('Too many addresses specified in message part addresses');
    expect(exception.name).toBe('PolicyException');
    expect(exception.ns).toBe(COMMON_NS_V2_1);
    expect(contentOf(exception).messageId).toBe('POL0003');
  });

  test('several variables in order, special characters escaped, custom namespace', () => {
    const f = new ParlayxFault('SVC0005', ['<c&1>', `"q'`]);
    const xml = toSoapFault(f, { commonNs: 'http://www.csapi.org/schema/parlayx/common/v3_1' });
    expect(xml).not.toContain('<c&1>');
    const { faultstring, exception } = parseFault(xml);
    expect(faultstring).toBe(`Correlator <c&1> specified in message part "q' is a duplicate`);
    expect(exception.ns).toBe('http://www.csapi.org/schema/parlayx/common/v3_1');
    expect(contentOf(exception).variables).toEqual(['<c&1>', `"q'`]);
  });

  test('no variables → no variables elements', () => {
    const { exception } = parseFault(toSoapFault(new ParlayxFault('POL0009')));
    expect(contentOf(exception)).toEqual({ messageId: 'POL0009', text: 'Invalid frequency requested', variables: [] });
  });

  test('argument checks', () => {
    expect(() => toSoapFault(new Error('x'))).toThrow(TypeError);
    expect(() => toSoapFault(new ParlayxFault('SVC0001', ['x']), { commonNs: '' })).toThrow(TypeError);
  });

  test('the soap npm client reads it as a fault with the ServiceException detail', async () => {
    const fault = toSoapFault(new ParlayxFault('SVC0002', ['address']));
    const httpClient = {
      request(url, data, callback) {
        callback(null, { statusCode: 500, headers: { 'content-type': 'text/xml' }, data: fault }, fault);
        return {};
      },
    };
    const wsdl = path.join(__dirname, '../../wsdl/parlayx_terminal_status_service_2_3.wsdl');
    const client = await soap.createClientAsync(wsdl, { httpClient });
    const err = await client.getStatusAsync({ address: 'tel:+1' }).then(
      () => null,
      (e) => e,
    );
    expect(err).not.toBeNull();
    expect(err.root.Envelope.Body.Fault).toEqual({
      faultcode: 'soapenv:Server',
      faultstring: 'Invalid input value for message part address',
      detail: {
        ServiceException: {
          messageId: 'SVC0002',
          text: 'Invalid input value for message part %1',
          variables: 'address',
        },
      },
    });
  });
});

describe('toServiceError', () => {
  test('unqualified messageId/text/variables fragment, wrapped by the caller', () => {
    const f = new ParlayxFault('SVC0001', ['presence server answered 503 <busy>']);
    const frag = toServiceError(f);
    expect(frag.startsWith('<messageId>SVC0001</messageId>')).toBe(true);
    const { body } = parseEnvelope(
      responseEnvelope(`<ns:statusData xmlns:ns="urn:x"><errorInformation>${frag}</errorInformation></ns:statusData>`),
    );
    const info = body.children[0];
    expect(info).toMatchObject({ ns: '', name: 'errorInformation' });
    expect(contentOf(info)).toEqual({
      messageId: 'SVC0001',
      text: 'A service error occurred. Error code is %1',
      variables: ['presence server answered 503 <busy>'],
    });
  });

  test('argument check', () => {
    expect(() => toServiceError({ messageId: 'SVC0001' })).toThrow(TypeError);
  });
});
