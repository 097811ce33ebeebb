'use strict';
// Groups from an XDMS (config groups.xcap, docs/policy.md "Group sources"): the I/O half. The
// native core decides which RFC 4826 resource-lists documents a request's groups need, parses
// them (expat), caches them for groups.xcap.cacheSec and resolves the groups
// (native/policy/XcapGroups); this module only fetches what it is told to, over XCAP (an HTTP GET,
// RFC 4825) with node:http, and hands each body or failure back. Everything runs on the event
// loop without blocking it, under one deadline per request (groups.xcap.timeoutMs): a document
// not fetched by then leaves its group unresolved (UNRESOLVED_GROUPS, 15), never a hang.
//
// XCAP authentication: with groups.xcap.username, a 401 challenge is answered once, with Basic or
// Digest (RFC 7616: MD5 or SHA-256, qop auth) as the server asks.
const crypto = require('node:crypto');
const fs = require('node:fs');

const MAX_DOCUMENT_BYTES = 1024 * 1024;
const ACCEPT = 'application/resource-lists+xml';

/**
 * The challenge of a WWW-Authenticate header: { scheme, params }.
 * @param {string} header
 */
function parseChallenge(header) {
  const match = /^\s*(\w+)\s*(.*)$/s.exec(header || '');
  if (!match) return null;
  const params = {};
  const re = /(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
  let m;
  while ((m = re.exec(match[2])) !== null) params[m[1].toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3];
  return { scheme: match[1].toLowerCase(), params };
}

/**
 * The Authorization header answering `challenge` for a request of `uri` (path and query).
 * @param {string} [method]
 * @returns {string | null} null for a scheme or algorithm this client does not speak
 */
function authorization(challenge, uri, username, password, method = 'GET') {
  if (challenge.scheme === 'basic') {
    return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }
  if (challenge.scheme !== 'digest') return null;
  const { realm = '', nonce = '', opaque, qop } = challenge.params;
  const algorithm = (challenge.params.algorithm || 'MD5').toUpperCase();
  const hashName = { MD5: 'md5', 'SHA-256': 'sha256' }[algorithm];
  if (!hashName) return null;
  const h = (text) => crypto.createHash(hashName).update(text).digest('hex');
  const ha1 = h(`${username}:${realm}:${password}`);
  const ha2 = h(`${method}:${uri}`);
  const quote = (v) => `"${String(v).replace(/[\\"]/g, '\\$&')}"`;
  const parts = [`username=${quote(username)}`, `realm=${quote(realm)}`, `nonce=${quote(nonce)}`, `uri=${quote(uri)}`,
    `algorithm=${algorithm}`];
  if (qop !== undefined) {
    if (!qop.split(',').map((q) => q.trim()).includes('auth')) return null;
    const cnonce = crypto.randomBytes(8).toString('hex');
    const nc = '00000001';
    parts.push(`qop=auth`, `nc=${nc}`, `cnonce=${quote(cnonce)}`, `response=${quote(h(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`))}`);
  } else {
    parts.push(`response=${quote(h(`${ha1}:${nonce}:${ha2}`))}`);
  }
  if (opaque !== undefined) parts.push(`opaque=${quote(opaque)}`);
  return `Digest ${parts.join(', ')}`;
}

/**
 * One HTTP GET, the body of a 200 kept (at most 1 MiB).
 * @returns {Promise<{ status: number, body: string, challenge: string | undefined }>}
 */
function get(url, headers, signal) {
  const target = new URL(url);
  const http = target.protocol === 'https:' ? require('node:https') : require('node:http');
  return new Promise((resolve, reject) => {
    const req = http.get(target, { headers: { Accept: ACCEPT, ...headers }, signal, agent: false }, (res) => {
      const chunks = [];
      let size = 0;
      res.on('data', (chunk) => {
        size += chunk.length;
        if (size > MAX_DOCUMENT_BYTES) {
          req.destroy(new Error('document larger than 1 MiB'));
          return;
        }
        if (res.statusCode === 200) chunks.push(chunk);
      });
      res.on('end', () => resolve({
        status: res.statusCode,
        body: Buffer.concat(chunks).toString('utf8'),
        challenge: res.headers['www-authenticate'],
      }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

class XcapGroupSource {
  /**
   * @param {{ core: any, config: { root: string, timeoutMs: number, maxDepth: number,
   *   username: string, passwordFile: string }, log?: (level: string, message: string, extra?: object) => void }} options
   *   core: the NativeCore (groupDocumentsNeeded, groupDocumentFetched)
   */
  constructor({ core, config, log = () => {} }) {
    this.core = core;
    this.config = config;
    this.log = log;
    this.enabled = config.root !== '';
    // Read once at start; the loader checked that it is an owner-only regular file.
    this.password = config.username !== '' ? fs.readFileSync(config.passwordFile, 'utf8').replace(/\r?\n$/, '') : '';
    /** @type {Map<string, Promise<void>>} fetches in progress, shared by the requests needing them */
    this.inFlight = new Map();
  }

  /**
   * Fetches the documents the native core needs before it can resolve the groups among
   * `addresses` (none when the policy will refuse the request before resolving groups), one
   * nesting level per round, all under one deadline. Never rejects: a failure is the core's
   * to judge (the group is unresolved).
   * @param {string} requester
   * @param {string} operation
   * @param {string[]} addresses
   */
  async prepare(requester, operation, addresses) {
    if (!this.enabled) return;
    let urls = this.core.groupDocumentsNeeded(requester, operation, addresses);
    if (urls.length === 0) return;
    const deadline = Date.now() + this.config.timeoutMs;
    const tried = new Set();
    for (let round = 0; round <= this.config.maxDepth + 1 && urls.length > 0; round += 1) {
      for (const url of urls) tried.add(url);
      const left = deadline - Date.now();
      if (left <= 0) return;
      let timer;
      const expired = new Promise((resolve) => { timer = setTimeout(resolve, left, 'expired'); });
      const done = await Promise.race([Promise.all(urls.map((url) => this.#fetch(url, deadline))), expired]);
      clearTimeout(timer);
      if (done === 'expired') return;
      urls = this.core.groupDocumentsNeeded(requester, operation, addresses).filter((url) => !tried.has(url));
    }
  }

  /** One document, fetched once however many requests wait for it; its outcome goes to the core. */
  #fetch(url, deadline) {
    let pending = this.inFlight.get(url);
    if (pending === undefined) {
      pending = this.#download(url, deadline).then(
        (body) => this.core.groupDocumentFetched(url, body, ''),
        (error) => {
          this.log('warn', 'XCAP group document not fetched', { url, reason: error.message });
          this.core.groupDocumentFetched(url, null, error.message);
        },
      ).finally(() => this.inFlight.delete(url));
      this.inFlight.set(url, pending);
    }
    return pending;
  }

  /** @returns {Promise<string>} the body of the 200 answer */
  async #download(url, deadline) {
    const ms = Math.max(1, deadline - Date.now());
    const signal = AbortSignal.timeout(ms);
    try {
      let answer = await get(url, {}, signal);
      if (answer.status === 401 && this.config.username !== '' && answer.challenge) {
        const challenge = parseChallenge(answer.challenge);
        const target = new URL(url);
        const header = challenge && authorization(challenge, target.pathname + target.search, this.config.username, this.password);
        if (header === null || header === undefined) throw new Error(`unsupported XCAP challenge: ${answer.challenge}`);
        answer = await get(url, { Authorization: header }, signal);
      }
      if (answer.status !== 200) throw new Error(`XCAP server answered HTTP ${answer.status}`);
      return answer.body;
    } catch (error) {
      if (signal.aborted) throw new Error(`no XCAP answer within ${ms} ms`, { cause: error });
      throw error;
    }
  }
}

module.exports = { XcapGroupSource, parseChallenge, authorization };
