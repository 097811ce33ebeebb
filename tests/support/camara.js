'use strict';
// CAMARA test helpers: an issuer (an ES256 key pair made with jose, its JWKS written to a file),
// access tokens it signs, the `camara:` YAML of a test gateway, and a JSON POST.
const fs = require('node:fs');
const path = require('node:path');
const jose = require('jose');

const ISSUER = 'https://issuer.example.test';
const AUDIENCE = 'parlayx-gateway-test';
const READ_SCOPE = 'device-reachability-status:read';
const RETRIEVE_PATH = '/device-reachability-status/v1/retrieve';

/**
 * An issuer: its key pair, its JWKS (also written to `dir`/jwks.json) and a token signer.
 * @param {string} dir
 */
async function createIssuer(dir, { kid = 'test-key-1' } = {}) {
  const { publicKey, privateKey } = await jose.generateKeyPair('ES256');
  const jwk = { ...(await jose.exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const jwks = { keys: [jwk] };
  const jwksFile = path.join(dir, 'jwks.json');
  fs.writeFileSync(jwksFile, JSON.stringify(jwks));
  /**
   * An access token; every claim can be overridden or left out (undefined).
   * @param {{ scope?: string, client_id?: string, sub?: string, iss?: string, aud?: string,
   *   exp?: number, phone_number?: string, key?: CryptoKey, kid?: string }} [claims]
   */
  async function token(claims = {}) {
    const now = Math.floor(Date.now() / 1000);
    // iss, aud and exp given as undefined are left out (a destructuring default would not).
    const { key = privateKey, kid: headerKid = kid, ...rest } = claims;
    const iss = 'iss' in claims ? claims.iss : ISSUER;
    const aud = 'aud' in claims ? claims.aud : AUDIENCE;
    const exp = 'exp' in claims ? claims.exp : now + 300;
    for (const registered of ['iss', 'aud', 'exp']) delete rest[registered];
    const payload = { scope: READ_SCOPE, client_id: 'app-acme', sub: 'app-acme', ...rest };
    for (const name of Object.keys(payload)) if (payload[name] === undefined) delete payload[name];
    let jwt = new jose.SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: headerKid }).setIssuedAt(now - 5);
    if (iss !== undefined) jwt = jwt.setIssuer(iss);
    if (aud !== undefined) jwt = jwt.setAudience(aud);
    if (exp !== undefined) jwt = jwt.setExpirationTime(exp);
    return jwt.sign(key);
  }
  return { jwks, jwksFile, token, privateKey };
}

/**
 * The `camara:` section of a test gateway.
 * @param {{ jwksFile?: string, jwksUrl?: string, clients: Record<string, string>, extra?: string }} options
 *   extra: more lines of the camara section, indented by two
 */
function camaraYaml({ jwksFile, jwksUrl, clients, extra = '' }) {
  const source = jwksFile ? `    jwksFile: ${jwksFile}\n` : `    jwksUrl: "${jwksUrl}"\n`;
  return `camara:
  enabled: true
  auth:
    issuer: "${ISSUER}"
    audience: "${AUDIENCE}"
${source}  clients:
${Object.entries(clients).map(([client, requester]) => `    ${client}: ${requester}\n`).join('')}${extra}`;
}

/**
 * POSTs JSON (or a raw string) to a CAMARA endpoint; resolves { status, body, headers }.
 * @param {string} url
 * @param {unknown} body an object is sent as JSON, a string as is
 * @param {Record<string, string>} [headers]
 */
async function postJson(url, body, headers = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

/** The origin (scheme, host, port) of a gateway's SOAP URL, where CAMARA is served (basePath "/"). */
function originOf(url) {
  return new URL(url).origin;
}

module.exports = { ISSUER, AUDIENCE, READ_SCOPE, RETRIEVE_PATH, createIssuer, camaraYaml, postJson, originOf };
