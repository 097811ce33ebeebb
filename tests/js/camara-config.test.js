'use strict';
// The camara section of the configuration (native/config/ConfigSchema.cc): defaults, what
// `enabled` requires, and every mistake reported with file, line and key.
const fs = require('node:fs');
const path = require('node:path');
const native = require('../../js/native');
const { tempDir, testPasswordHash } = require('../support/gateway');

const dir = tempDir('px-camara-config-');
const jwksFile = path.join(dir, 'jwks.json');
fs.writeFileSync(jwksFile, '{"keys":[]}');

const load = (text) => native.loadConfig({ text, name: 'camara.yaml' });
/** The config error of `text`: { line, key, message }. */
function errorOf(text) {
  try {
    load(text);
  } catch (error) {
    return { line: error.line, key: error.key, message: error.message };
  }
  throw new Error('expected a config error');
}

const REQUESTERS = `requesters:
  acme:
    passwordHash: "${testPasswordHash('pw')}"
`;
const ENABLED = `camara:
  enabled: true
  auth:
    issuer: https://issuer.example.test
    audience: gw
    jwksFile: ${jwksFile}
`;

describe('camara configuration', () => {
  test('defaults: off, at the root, the contract\'s scope, DATA and SMS', () => {
    expect(load('').camara).toEqual({
      enabled: false,
      basePath: '/',
      serviceName: 'CAMARA_DRS_SIP',
      auth: { issuer: '', audience: '', jwksFile: '', jwksUrl: '', clockToleranceSec: 30, phoneNumberClaim: 'phone_number' },
      scopes: expect.objectContaining({ getReachabilityStatus: ['device-reachability-status:read'] }),
      clients: {},
      connectivity: { reachable: ['DATA', 'SMS'], busy: ['DATA', 'SMS'] },
      subscriptions: { maxPerRequester: 100, defaultExpirySec: 86400, maxExpirySec: 2592000 },
    });
  });

  test('the subscriptions API\'s default scopes are the ones its contract declares per operation', () => {
    const { loadContract, contractScopes } = require('../../js/camara/contract');
    const contract = loadContract('device-reachability-status-subscriptions.yaml');
    const { scopes } = load('').camara;
    for (const operationId of [
      'createDeviceReachabilityStatusSubscription', 'retrieveDeviceReachabilityStatusSubscriptionList',
      'retrieveDeviceReachabilityStatusSubscription', 'deleteDeviceReachabilityStatusSubscription',
    ]) {
      expect(scopes[operationId]).toEqual(contractScopes(contract, operationId));
    }
  });

  test('subscriptions.defaultExpirySec above maxExpirySec is refused, naming the key', () => {
    expect(() => load('camara:\n  subscriptions:\n    maxExpirySec: 600\n    defaultExpirySec: 601\n'))
      .toThrow(/camara\.subscriptions\.defaultExpirySec/);
  });

  test('the default scope is the one the contract\'s security section declares', () => {
    const { loadContract, contractScopes } = require('../../js/camara/contract');
    const contract = loadContract('device-reachability-status.yaml');
    expect(load('').camara.scopes.getReachabilityStatus).toEqual(contractScopes(contract, 'getReachabilityStatus'));
  });

  test('a full section loads: clients map to requesters, the JWKS path is absolute', () => {
    const config = load(`${REQUESTERS}${ENABLED}  basePath: /camara
  clients:
    app-1: acme
    "__proto__": acme
  connectivity:
    busy: [SMS]
`);
    expect(config.camara.enabled).toBe(true);
    expect(config.camara.basePath).toBe('/camara');
    expect(config.camara.auth.jwksFile).toBe(jwksFile);
    expect(config.camara.clients['app-1']).toBe('acme');
    expect(Object.hasOwn(config.camara.clients, '__proto__')).toBe(true);
    expect(config.camara.connectivity).toEqual({ reachable: ['DATA', 'SMS'], busy: ['SMS'] });
  });

  test.each([
    ['enabled without issuer', 'camara:\n  enabled: true\n', 2, 'camara.auth.issuer', /required when camara.enabled is true/],
    ['enabled without audience', 'camara:\n  enabled: true\n  auth:\n    issuer: https://i.test\n', 4,
      'camara.auth.audience', /required/],
    ['enabled without a JWKS', 'camara:\n  enabled: true\n  auth:\n    issuer: https://i.test\n    audience: gw\n', 4,
      'camara.auth.jwksFile', /jwksFile or camara.auth.jwksUrl is required/],
    ['both JWKS sources', `${ENABLED}    jwksUrl: https://i.test/jwks\n`, 7, 'camara.auth.jwksUrl', /not both/],
    ['a JWKS file that does not exist', 'camara:\n  auth:\n    jwksFile: /nonexistent/jwks.json\n', 3,
      'camara.auth.jwksFile', /no such regular file/],
    ['a JWKS URL that is not http(s)', 'camara:\n  auth:\n    jwksUrl: ftp://i.test/jwks\n', 3, 'camara.auth.jwksUrl',
      /http:\/\/ or https:\/\//],
    ['a client of an unknown requester', `${REQUESTERS}camara:\n  clients:\n    app-1: nobody\n`, 6,
      'camara.clients.app-1', /unknown requester 'nobody' \(configured requesters: acme\)/],
    ['an unknown connectivity type', 'camara:\n  connectivity:\n    reachable: [DATA, VOICE]\n', 3,
      'camara.connectivity.reachable', /expected DATA or SMS, got 'VOICE'/],
    ['an empty connectivity list', 'camara:\n  connectivity:\n    busy: []\n', 3, 'camara.connectivity.busy', /empty list/],
    ['a scope with a space', 'camara:\n  scopes:\n    getReachabilityStatus: ["a b"]\n', 3,
      'camara.scopes.getReachabilityStatus', /OAuth2 scope/],
    ['a duplicate scope', 'camara:\n  scopes:\n    getReachabilityStatus: [x, x]\n', 3,
      'camara.scopes.getReachabilityStatus', /duplicate scope/],
    ['a base path with a trailing slash', 'camara:\n  basePath: /camara/\n', 2, 'camara.basePath', /URL path/],
    ['a clock tolerance over 300 s', 'camara:\n  auth:\n    clockToleranceSec: 301\n', 3, 'camara.auth.clockToleranceSec', /300/],
    ['a claim name with a space', 'camara:\n  auth:\n    phoneNumberClaim: "phone number"\n', 3,
      'camara.auth.phoneNumberClaim', /claim name/],
    ['an unknown key', 'camara:\n  auth:\n    jwks: x\n', 3, 'camara.auth.jwks', /unknown key|jwksFile/],
  ])('%s: file, line and key named', (_, text, line, key, message) => {
    const error = errorOf(text);
    expect(error).toMatchObject({ line, key });
    expect(error.message).toMatch(message);
    expect(error.message).toMatch(new RegExp(`^camara\\.yaml:${line}: `));
  });
});
