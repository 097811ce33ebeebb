'use strict';

/**
 * Minimal real-SIP client over UDP (RFC 3261 non-INVITE client transactions)
 * for PUBLISH, SUBSCRIBE fetches and OPTIONS against a presence server.
 * Used by the test harness and by scripts/presence-server.js; it has no
 * dependency outside node:.
 *
 * Every exported operation opens its own ephemeral UDP socket on 127.0.0.1
 * and closes it before it settles.
 */

const dgram = require('node:dgram');
const crypto = require('node:crypto');

/** RFC 3261 timer values (ms). */
const T1 = 500;
const T2 = 4000;
/** Timer F: a non-INVITE transaction gives up after 64*T1. */
const TIMER_F = 64 * T1;

const LOCAL_HOST = '127.0.0.1';

/** Compact header forms (RFC 3261 7.3.3, RFC 6665, RFC 3903). */
const COMPACT = {
  v: 'via',
  f: 'from',
  t: 'to',
  i: 'call-id',
  m: 'contact',
  l: 'content-length',
  c: 'content-type',
  e: 'content-encoding',
  k: 'supported',
  s: 'subject',
  o: 'event',
  u: 'allow-events',
};

/** Default reason phrases for the few codes this client sends. */
const REASONS = { 200: 'OK', 400: 'Bad Request', 481: 'Call/Transaction Does Not Exist' };

function randomToken(bytes = 8) {
  return crypto.randomBytes(bytes).toString('hex');
}

/**
 * Parses one SIP message (request or response) from a datagram.
 * @param {Buffer|string} data raw datagram
 * @returns {{isRequest:boolean, method?:string, uri?:string, status?:number, reason?:string,
 *   headers:Array<[string,string]>, get:(n:string)=>string|undefined,
 *   getAll:(n:string)=>string[], body:string, raw:string}}
 */
function parseMessage(data) {
  const raw = Buffer.isBuffer(data) ? data.toString('utf8') : String(data);
  let sep = raw.indexOf('\r\n\r\n');
  let sepLen = 4;
  if (sep < 0) {
    // Tolerate bare LF peers.
    sep = raw.indexOf('\n\n');
    sepLen = 2;
  }
  const head = sep < 0 ? raw : raw.slice(0, sep);
  let body = sep < 0 ? '' : raw.slice(sep + sepLen);
  const lines = head.split(/\r?\n/);
  const first = lines.shift() || '';
  const msg = { isRequest: false, headers: [], body: '', raw };

  const status = /^SIP\/2\.0\s+(\d{3})\s*(.*)$/.exec(first);
  if (status) {
    msg.status = Number(status[1]);
    msg.reason = status[2];
  } else {
    const req = /^([A-Za-z]+)\s+(\S+)\s+SIP\/2\.0$/.exec(first);
    if (!req) throw new Error(`not a SIP message: ${JSON.stringify(first)}`);
    msg.isRequest = true;
    msg.method = req[1].toUpperCase();
    msg.uri = req[2];
  }

  for (const line of lines) {
    if (/^[ \t]/.test(line) && msg.headers.length > 0) {
      // Header folding (obsolete but legal).
      msg.headers[msg.headers.length - 1][1] += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    let name = line.slice(0, colon).trim().toLowerCase();
    name = COMPACT[name] || name;
    msg.headers.push([name, line.slice(colon + 1).trim()]);
  }

  const getAll = (n) => {
    const key = n.toLowerCase();
    return msg.headers.filter(([k]) => k === key).map(([, v]) => v);
  };
  msg.getAll = getAll;
  msg.get = (n) => getAll(n)[0];

  const len = msg.get('content-length');
  if (len !== undefined && /^\d+$/.test(len)) {
    body = Buffer.from(body, 'utf8').subarray(0, Number(len)).toString('utf8');
  }
  msg.body = body;
  return msg;
}

/**
 * Serialises a SIP message. Content-Length is always computed here.
 * @param {string} startLine request or status line
 * @param {Array<[string,string]>} headers name/value pairs in order
 * @param {string} [body]
 * @returns {Buffer}
 */
function buildMessage(startLine, headers, body = '') {
  const bodyBuf = Buffer.from(body, 'utf8');
  const lines = [startLine];
  for (const [name, value] of headers) {
    if (value === undefined || value === null) continue;
    lines.push(`${name}: ${value}`);
  }
  lines.push(`Content-Length: ${bodyBuf.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8'), bodyBuf]);
}

/** Value of a header parameter (e.g. the tag of a From header). */
function headerParam(value, param) {
  if (!value) return undefined;
  const re = new RegExp(`;\\s*${param}\\s*=\\s*("[^"]*"|[^;,\\s>]+)`, 'i');
  // Parameters of a name-addr follow the closing '>' (URI params are inside).
  const gt = value.lastIndexOf('>');
  const m = re.exec(gt >= 0 ? value.slice(gt) : value);
  return m ? m[1].replace(/^"|"$/g, '') : undefined;
}

/**
 * Builds a PIDF document (RFC 3863) with one tuple and, if activities are
 * given, an RPID person element (RFC 4480, data model of RFC 4479).
 * @param {{presentity:string, basic:'open'|'closed', activities?:string[], note?:string,
 *   tupleId?:string}} opts
 * @returns {string}
 */
function buildPidf({ presentity, basic, activities = [], note, tupleId }) {
  if (basic !== 'open' && basic !== 'closed') {
    throw new Error(`basic must be 'open' or 'closed', got ${JSON.stringify(basic)}`);
  }
  for (const a of activities) {
    if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(a)) throw new Error(`bad RPID activity ${JSON.stringify(a)}`);
  }
  const esc = (s) =>
    String(s).replace(/[<>&"]/g, (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[ch]);
  const tid = tupleId || `t${randomToken(4)}`;
  const parts = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<presence xmlns="urn:ietf:params:xml:ns:pidf"' +
      ' xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"' +
      ' xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid"' +
      ` entity="${esc(presentity)}">`,
    `  <tuple id="${esc(tid)}">`,
    `    <status><basic>${basic}</basic></status>`,
    `    <contact>${esc(presentity)}</contact>`,
  ];
  if (note) parts.push(`    <note>${esc(note)}</note>`);
  parts.push('  </tuple>');
  if (activities.length > 0) {
    parts.push(`  <dm:person id="p${randomToken(4)}">`);
    parts.push(`    <rpid:activities>${activities.map((a) => `<rpid:${a}/>`).join('')}</rpid:activities>`);
    parts.push('  </dm:person>');
  }
  parts.push('</presence>');
  return `${parts.join('\n')}\n`;
}

/**
 * One UDP socket with client transactions and a hook for incoming requests.
 */
class SipUdpSocket {
  constructor() {
    this.sock = dgram.createSocket('udp4');
    this.pending = new Map(); // branch -> transaction state
    this.requestHandler = null;
    this.closed = false;
    this.sock.on('message', (data, rinfo) => this.onDatagram(data, rinfo));
    this.sock.on('error', (err) => {
      for (const t of this.pending.values()) t.fail(err);
    });
  }

  /** Binds to an ephemeral port on 127.0.0.1. */
  open() {
    return new Promise((resolve, reject) => {
      this.sock.once('error', reject);
      this.sock.bind(0, LOCAL_HOST, () => {
        this.sock.removeListener('error', reject);
        this.port = this.sock.address().port;
        resolve(this);
      });
    });
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.pending.values()) t.fail(new Error('socket closed'));
    this.pending.clear();
    try {
      this.sock.close();
    } catch {
      // Already closed.
    }
  }

  onDatagram(data, rinfo) {
    let msg;
    try {
      msg = parseMessage(data);
    } catch {
      return; // Keep-alives and garbage are ignored.
    }
    if (msg.isRequest) {
      if (this.requestHandler) this.requestHandler(msg, rinfo);
      return;
    }
    const branch = headerParam(`>${msg.get('via') || ''}`, 'branch');
    const t = branch && this.pending.get(branch);
    if (t) t.onResponse(msg);
  }

  send(buf, host, port) {
    if (this.closed) return;
    this.sock.send(buf, port, host);
  }

  /**
   * Sends a request and runs a non-INVITE client transaction (timer E
   * retransmissions, timer F timeout) until a final response arrives.
   * @param {{host:string, port:number}} server next hop
   * @param {{method:string, uri:string, headers:Array<[string,string]>, body?:string,
   *   timeoutMs?:number}} req headers except Via/Content-Length
   * @returns {Promise<object>} the parsed final response
   */
  request(server, { method, uri, headers, body = '', timeoutMs = TIMER_F }) {
    const branch = `z9hG4bK${randomToken(10)}`;
    const via = `SIP/2.0/UDP ${LOCAL_HOST}:${this.port};branch=${branch};rport`;
    const buf = buildMessage(`${method} ${uri} SIP/2.0`, [['Via', via], ...headers], body);
    return new Promise((resolve, reject) => {
      let interval = T1;
      let retransmit = null;
      let done = false;
      const finish = () => {
        done = true;
        clearTimeout(retransmit);
        clearTimeout(timeout);
        this.pending.delete(branch);
      };
      const arm = () => {
        retransmit = setTimeout(() => {
          if (done) return;
          this.send(buf, server.host, server.port);
          interval = Math.min(interval * 2, T2);
          arm();
        }, interval);
      };
      const timeout = setTimeout(() => {
        if (done) return;
        finish();
        const err = new Error(
          `no final response to ${method} ${uri} from ${server.host}:${server.port} within ${timeoutMs} ms`,
        );
        err.code = 'ETIMEDOUT';
        reject(err);
      }, timeoutMs);
      this.pending.set(branch, {
        onResponse: (msg) => {
          if (done) return;
          const cseq = (msg.get('cseq') || '').split(/\s+/)[1];
          if (cseq && cseq.toUpperCase() !== method) return;
          if (msg.status < 200) {
            // Proceeding: retransmit at T2 from now on (RFC 3261 17.1.2.2).
            interval = T2;
            return;
          }
          finish();
          resolve(msg);
        },
        fail: (err) => {
          if (done) return;
          finish();
          reject(err);
        },
      });
      this.send(buf, server.host, server.port);
      arm();
    });
  }

  /**
   * Answers an incoming request statelessly.
   * @param {object} req parsed request
   * @param {{address:string, port:number}} rinfo where it came from
   * @param {number} status
   * @param {string} [reason]
   */
  reply(req, rinfo, status, reason) {
    let to = req.get('to') || '';
    if (status > 100 && !headerParam(to, 'tag')) to += `;tag=${randomToken(6)}`;
    const headers = [
      ...req.getAll('via').map((v) => ['Via', v]),
      ['From', req.get('from')],
      ['To', to],
      ['Call-ID', req.get('call-id')],
      ['CSeq', req.get('cseq')],
    ];
    const buf = buildMessage(`SIP/2.0 ${status} ${reason || REASONS[status] || 'Unknown'}`, headers);
    this.send(buf, rinfo.address, rinfo.port);
  }
}

async function withSocket(fn) {
  const s = new SipUdpSocket();
  await s.open();
  try {
    return await fn(s);
  } finally {
    s.close();
  }
}

function checkServer(server) {
  if (!server || typeof server.host !== 'string' || !Number.isInteger(server.port)) {
    throw new TypeError('server must be { host: string, port: integer }');
  }
}

function sipUri(uri) {
  if (!/^sips?:/i.test(uri)) throw new Error(`not a SIP URI: ${JSON.stringify(uri)}`);
  return uri;
}

function dialogHeaders({ method, fromUri, toUri, callId, cseq = 1, route }) {
  return [
    ['Max-Forwards', '70'],
    ['From', `<${fromUri}>;tag=${randomToken(6)}`],
    ['To', `<${toUri}>`],
    ['Call-ID', callId || `${randomToken(12)}@${LOCAL_HOST}`],
    ['CSeq', `${cseq} ${method}`],
    ...(route ? [['Route', route]] : []),
  ];
}

/**
 * Sends a PUBLISH (RFC 3903, Event: presence).
 * - basic given, no etag: initial publication;
 * - basic and etag: modification (SIP-If-Match);
 * - etag, no basic: refresh without body (beware: Kamailio 5.6 with
 *   publ_cache 2, as configured here, then serves the presentity with an
 *   empty body; re-send the document with the etag to refresh instead);
 * - expires 0 with etag: removal (see unpublish).
 * @param {object} opts
 * @param {{host:string, port:number}} opts.server presence server address
 * @param {string} [opts.presentity='sip:alice@example.test'] R-URI, From and To
 * @param {'open'|'closed'} [opts.basic] PIDF basic status
 * @param {string[]} [opts.activities] RPID activities, e.g. ['on-the-phone']
 * @param {string} [opts.note] PIDF tuple note
 * @param {number} [opts.expires=3600]
 * @param {string} [opts.etag] SIP-If-Match for refresh/modify/remove
 * @param {string} [opts.route] Route header value, e.g. '<sip:127.0.0.1:5060;lr>'
 * @param {number} [opts.timeoutMs=32000] timer F
 * @returns {Promise<{status:number, reason:string, etag:string|undefined,
 *   expires:number|undefined, response:object}>}
 */
async function publish({
  server,
  presentity = 'sip:alice@example.test',
  basic,
  activities,
  note,
  expires = 3600,
  etag,
  route,
  timeoutMs,
} = {}) {
  checkServer(server);
  sipUri(presentity);
  let body = '';
  if (basic !== undefined) {
    body = buildPidf({ presentity, basic, activities, note });
  } else if (!etag) {
    throw new Error('publish needs basic (initial publication) or etag (refresh/remove)');
  }
  return withSocket(async (s) => {
    const headers = [
      ...dialogHeaders({ method: 'PUBLISH', fromUri: presentity, toUri: presentity, route }),
      ['Event', 'presence'],
      ['Expires', String(expires)],
      ['SIP-If-Match', etag],
      ['Content-Type', body ? 'application/pidf+xml' : undefined],
    ];
    const res = await s.request(server, { method: 'PUBLISH', uri: presentity, headers, body, timeoutMs });
    const exp = res.get('expires');
    return {
      status: res.status,
      reason: res.reason,
      etag: res.get('sip-etag'),
      expires: exp === undefined ? undefined : Number(exp),
      response: res,
    };
  });
}

/**
 * Removes a publication (PUBLISH Expires: 0 with SIP-If-Match).
 * @param {{server:{host:string,port:number}, presentity?:string, etag:string,
 *   route?:string, timeoutMs?:number}} opts
 * @returns {Promise<{status:number, reason:string, etag:string|undefined}>}
 */
async function unpublish({ server, presentity = 'sip:alice@example.test', etag, route, timeoutMs } = {}) {
  if (!etag) throw new Error('unpublish needs the etag of the publication');
  return publish({ server, presentity, etag, expires: 0, route, timeoutMs });
}

/**
 * Sends a SUBSCRIBE and collects the NOTIFYs of its dialog, answering each
 * with 200 (or with notifyStatus). With expires 0 this is a fetch.
 * @param {object} opts
 * @param {{host:string, port:number}} opts.server where to send it
 * @param {string} [opts.presentity='sip:alice@example.test'] R-URI and To
 * @param {string} [opts.watcher='sip:watcher@example.test'] From
 * @param {number} [opts.expires=0]
 * @param {string|null} [opts.event='presence'] Event header (null: none)
 * @param {string} [opts.accept='application/pidf+xml']
 * @param {string} [opts.route] Route header value
 * @param {string} [opts.supported] Supported header value, e.g. 'eventlist' (RFC 4662)
 * @param {number} [opts.notifyStatus=200] answer to NOTIFYs
 * @param {number} [opts.notifyTimeoutMs=2000] how long to wait for the first
 *   NOTIFY after a 2xx
 * @param {number} [opts.timeoutMs=32000] timer F for the SUBSCRIBE
 * @returns {Promise<{subscribeStatus:number, subscribeReason:string, response:object,
 *   expires:number|undefined, notify:object|null, notifies:object[],
 *   notifyBeforeResponse:boolean}>}
 */
async function subscribe({
  server,
  presentity = 'sip:alice@example.test',
  watcher = 'sip:watcher@example.test',
  expires = 0,
  event = 'presence',
  accept = 'application/pidf+xml',
  route,
  supported,
  notifyStatus = 200,
  notifyTimeoutMs = 2000,
  timeoutMs,
} = {}) {
  checkServer(server);
  sipUri(presentity);
  return withSocket(async (s) => {
    const callId = `${randomToken(12)}@${LOCAL_HOST}`;
    const notifies = [];
    const seenCseq = new Set();
    let gotResponse = false;
    let notifyBeforeResponse = false;
    let wakeNotify = null;

    s.requestHandler = (req, rinfo) => {
      if (req.method !== 'NOTIFY' || req.get('call-id') !== callId) {
        s.reply(req, rinfo, 481);
        return;
      }
      s.reply(req, rinfo, notifyStatus);
      const cseq = req.get('cseq');
      if (seenCseq.has(cseq)) return; // Retransmission.
      seenCseq.add(cseq);
      if (!gotResponse && notifies.length === 0) notifyBeforeResponse = true;
      notifies.push({
        subscriptionState: req.get('subscription-state'),
        event: req.get('event'),
        contentType: req.get('content-type'),
        body: req.body,
        request: req,
      });
      if (wakeNotify) wakeNotify();
    };

    const headers = [
      ...dialogHeaders({ method: 'SUBSCRIBE', fromUri: watcher, toUri: presentity, callId, route }),
      ['Contact', `<sip:watcher@${LOCAL_HOST}:${s.port}>`],
      ['Event', event === null ? undefined : event],
      ['Accept', accept],
      ['Supported', supported],
      ['Expires', String(expires)],
    ];
    const res = await s.request(server, { method: 'SUBSCRIBE', uri: presentity, headers, timeoutMs });
    gotResponse = true;

    if (res.status >= 200 && res.status < 300 && notifies.length === 0) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, notifyTimeoutMs);
        wakeNotify = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const exp = res.get('expires');
    return {
      subscribeStatus: res.status,
      subscribeReason: res.reason,
      expires: exp === undefined ? undefined : Number(exp),
      response: res,
      notify: notifies[0] || null,
      notifies,
      notifyBeforeResponse,
    };
  });
}

/**
 * Fetches presence: SUBSCRIBE with Expires: 0, waits for the NOTIFY and
 * answers it with 200.
 * @param {object} opts same as subscribe() (expires is forced to 0)
 * @returns {Promise<{subscribeStatus:number, notify:{subscriptionState:string,
 *   contentType:string|undefined, body:string}|null}>} plus the extra fields of subscribe()
 */
async function fetchPresence(opts = {}) {
  return subscribe({ ...opts, expires: 0 });
}

/**
 * Sends OPTIONS to a SIP server.
 * @param {{host:string, port:number}} server
 * @param {{timeoutMs?:number, uri?:string}} [opts]
 * @returns {Promise<{status:number, reason:string, response:object}>}
 */
async function options(server, { timeoutMs, uri } = {}) {
  checkServer(server);
  const target = uri || `sip:${server.host}:${server.port}`;
  return withSocket(async (s) => {
    const headers = [
      ...dialogHeaders({ method: 'OPTIONS', fromUri: 'sip:probe@example.test', toUri: target }),
      ['Accept', 'application/sdp'],
    ];
    const res = await s.request(server, { method: 'OPTIONS', uri: target, headers, timeoutMs });
    return { status: res.status, reason: res.reason, response: res };
  });
}

module.exports = {
  publish,
  unpublish,
  subscribe,
  fetchPresence,
  options,
  buildPidf,
  parseMessage,
  buildMessage,
  headerParam,
  SipUdpSocket,
  TIMER_F,
};
