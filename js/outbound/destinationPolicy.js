'use strict';
// The SSRF guard of every outbound HTTP request the gateway makes on an application's behalf
// (notification endpoints today; CAMARA sinks and call-direction endpoints later). An
// application names the URL, so without this it could make the gateway POST into the operator's
// own network: loopback services, cloud metadata (169.254.169.254), private ranges, the
// gateway's own ports.
//
// A destination is refused when its host resolves to an address in one of the ranges below
// (unless `outbound.allow` lists the range or the host name) or to one of the gateway's own
// listeners (unless `outbound.allowOwnListeners`). Names are checked on every address they
// resolve to: one bad address refuses the name. The same check runs when a request is accepted
// (check()) and again on every connection (connectLookup(), checkConnect()), so that a name
// that resolves to a public address at startNotification and to 127.0.0.1 later (DNS rebinding)
// is still refused. Addresses are compared as bytes, so every spelling the URL parser accepts
// (decimal "2130706433", hex "0x7f.1", "[::ffff:7f00:1]") ends up as the same address.
//
// Start-up (issue 15, bench/coldstart.js): node:dns, node:net and node:os are required, the ranges
// below parsed and the local addresses read at the first check, not at load or construction, so
// that start-up and the first getStatus do not wait for them, nor for the IPv6 pattern of
// net.isIP, which V8 compiles at its first IPv6 address (~10 ms on the 2-core machine).
const { BoundedPool } = require('../boundedPool');

// Name lookups run on libuv's thread pool (getaddrinfo): at most this many at once, so that names
// that resolve slowly leave the pool's other threads to scrypt and the file system.
const LOOKUP_CONCURRENCY = 2;
const LOOKUP_QUEUE = 256;

const REFUSED_CIDRS = [
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'private (shared address space)'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'],
  ['192.0.2.0/24', 'reserved (documentation)'],
  ['192.88.99.0/24', 'reserved'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'reserved (benchmarking)'],
  ['198.51.100.0/24', 'reserved (documentation)'],
  ['203.0.113.0/24', 'reserved (documentation)'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved or broadcast'],
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['::/96', 'reserved (IPv4-compatible)'],
  ['64:ff9b:1::/48', 'reserved (local NAT64)'],
  ['100::/64', 'reserved (discard)'],
  ['2001::/23', 'reserved (IETF protocol assignments)'],
  ['2001:db8::/32', 'reserved (documentation)'],
  ['fc00::/7', 'private (unique local)'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'reserved (site-local)'],
  ['ff00::/8', 'multicast'],
];

// IPv6 prefixes that carry an IPv4 address in their last 32 bits, which is what is reached.
const EMBEDDING_V4_CIDRS = ['::ffff:0:0/96', '64:ff9b::/96'];

/** The ranges above, parsed at the first use (start-up: see the top). */
let parsedRanges = null;
function ranges() {
  if (parsedRanges === null) {
    parsedRanges = {
      refused: REFUSED_CIDRS.map(([cidr, reason]) => ({ ...parseCidr(cidr), reason })),
      embeddingV4: EMBEDDING_V4_CIDRS.map(parseCidr),
      loopbackV4: parseCidr('127.0.0.0/8'),
      loopbackV6: parseCidr('::1/128'),
    };
  }
  return parsedRanges;
}

/** An error of a refused destination; `reason` says which rule refused it. */
class DestinationRefused extends Error {
  constructor(target, reason) {
    super(`destination ${target} refused: ${reason}`);
    this.code = 'ERR_PX_DESTINATION';
    this.reason = reason;
  }
}

/** net.isIP; node:net is required at the first call (start-up: see the top). */
let net = null;
function isIP(text) {
  net ??= require('node:net');
  return net.isIP(text);
}

/** 16 bytes of an IPv6 address, or 4 of an IPv4 address; null when `text` is neither. */
function addressBytes(text) {
  const family = isIP(text);
  if (family === 4) return Uint8Array.from(text.split('.'), Number);
  if (family !== 6) return null;
  let head = text;
  let v4Tail = [];
  const lastColon = head.lastIndexOf(':');
  if (head.indexOf('.', lastColon) >= 0) {
    v4Tail = head.slice(lastColon + 1).split('.').map(Number);
    head = `${head.slice(0, lastColon + 1)}0:0`;
  }
  const [left, right] = head.includes('::') ? head.split('::') : [head, null];
  const groups = (s) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const l = groups(left);
  const r = right === null ? [] : groups(right);
  const all = [...l, ...new Array(8 - l.length - r.length).fill(0), ...r];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  if (v4Tail.length === 4) bytes.set(v4Tail, 12);
  return bytes;
}

function parseCidr(cidr) {
  const [address, prefix] = cidr.split('/');
  const bytes = addressBytes(address);
  return { bytes, prefix: prefix === undefined ? bytes.length * 8 : Number(prefix) };
}

function inRange(bytes, range) {
  if (bytes.length !== range.bytes.length) return false;
  let bits = range.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((bytes[i] & mask) !== (range.bytes[i] & mask)) return false;
  }
  return true;
}

/** The IPv4 address an IPv6 address reaches through mapping or NAT64, or the address itself. */
function effectiveBytes(bytes) {
  if (bytes.length === 16 && ranges().embeddingV4.some((range) => inRange(bytes, range))) return bytes.slice(12);
  return bytes;
}

class DestinationPolicy {
  /**
   * @param {{ allowCidrs: string[], allowHosts: string[], allowOwnListeners: boolean }} config
   *   the `outbound` section as the core validated it
   * @param {{ ownPorts?: () => number[], lookup?: Function }} [options]
   *   ownPorts: the ports the gateway listens on right now (HTTP, SIP); lookup: dns.lookup's shape
   */
  constructor(config, { ownPorts = () => [], lookup = (...args) => require('node:dns').lookup(...args) } = {}) {
    this.allowRanges = config.allowCidrs.map(parseCidr);
    this.allowHosts = new Set(config.allowHosts.map((h) => h.toLowerCase()));
    this.allowOwnListeners = config.allowOwnListeners;
    this.ownPorts = ownPorts;
    this.dnsLookup = lookup;
    this.lookups = new BoundedPool({ concurrency: LOOKUP_CONCURRENCY, queueLength: LOOKUP_QUEUE });
    this.localAddresses = null; // read at the first isLocal() (start-up: see the top)
    this.counters = { refused: 0 };
  }

  /**
   * Why the gateway must not connect to `address`:`port` (reached through `hostname`), or null.
   * @param {string} address an IP address
   * @param {number} port
   * @param {string} [hostname] the name it was resolved from, as written in the URL
   * @returns {string|null}
   */
  refusal(address, port, hostname) {
    const raw = addressBytes(address);
    if (raw === null) return `${address} is not an IP address`;
    const bytes = effectiveBytes(raw);
    const allowedHost = hostname !== undefined && this.allowHosts.has(hostname.toLowerCase());
    if (!allowedHost && !this.allowRanges.some((range) => inRange(bytes, range))) {
      const refused = ranges().refused.find((range) => inRange(bytes, range));
      if (refused !== undefined) return `${refused.reason} address ${address}`;
    }
    if (!this.allowOwnListeners && this.ownPorts().includes(port) && this.isLocal(bytes)) {
      return `${address}:${port} is one of the gateway's own listeners`;
    }
    return null;
  }

  isLocal(bytes) {
    if (bytes.every((b) => b === 0)) return true;
    const { loopbackV4, loopbackV6 } = ranges();
    if (inRange(bytes, loopbackV4) || inRange(bytes, loopbackV6)) return true;
    if (this.localAddresses === null) this.localAddresses = localAddresses();
    return this.localAddresses.some((local) => local.length === bytes.length && local.every((b, i) => b === bytes[i]));
  }

  /**
   * Checks a URL when it is accepted: its host is resolved and every address checked.
   * @param {URL} url
   * @returns {Promise<void>} rejects with DestinationRefused, or with the DNS error (its code,
   *   e.g. ENOTFOUND) when the name cannot be resolved
   */
  async check(url) {
    const hostname = bareHost(url.hostname);
    const port = portOf(url);
    const addresses = isIP(hostname) ? [hostname] : await this.resolve(hostname);
    for (const address of addresses) {
      const reason = this.refusal(address, port, hostname);
      if (reason !== null) {
        this.counters.refused++;
        throw new DestinationRefused(url.host, reason);
      }
    }
  }

  resolve(hostname) {
    return this.lookupAll(hostname, { verbatim: true }).then((list) => list.map((entry) => entry.address));
  }

  /** dns.lookup(all) through the bounded pool; rejects with code ERR_PX_DNS_BUSY when it is full. */
  lookupAll(hostname, options) {
    return this.lookups.run(() => new Promise((resolve, reject) => {
      this.dnsLookup(hostname, { ...options, all: true }, (error, list) => (error ? reject(error) : resolve(list)));
    }), () => {
      const error = new Error(`too many host name lookups in progress (${LOOKUP_CONCURRENCY} running, ${LOOKUP_QUEUE} waiting)`);
      error.code = 'ERR_PX_DNS_BUSY';
      return error;
    });
  }

  /**
   * For an IP-literal host (no lookup happens): the refusal to report instead of connecting.
   * @returns {DestinationRefused|null}
   */
  checkConnect(hostname, port) {
    if (!isIP(hostname)) return null;
    const reason = this.refusal(hostname, port, hostname);
    if (reason === null) return null;
    this.counters.refused++;
    return new DestinationRefused(`${hostname}:${port}`, reason);
  }

  /**
   * A `lookup` for net.connect/tls.connect to `port` that refuses what check() would refuse, on
   * the addresses the connection is actually about to use.
   * @param {number} port
   */
  connectLookup(port) {
    return (hostname, options, callback) => {
      this.lookupAll(hostname, options).then((list) => {
        for (const entry of list) {
          const reason = this.refusal(entry.address, port, hostname);
          if (reason !== null) {
            this.counters.refused++;
            return callback(new DestinationRefused(`${hostname}:${port}`, reason));
          }
        }
        if (options.all) return callback(null, list);
        return callback(null, list[0].address, list[0].family);
      }, (error) => callback(error));
    };
  }

  stats() {
    const lookups = this.lookups.stats();
    return { ...this.counters, lookups: lookups.started, lookupsRefused: lookups.refused };
  }
}

function localAddresses() {
  const list = [];
  for (const entries of Object.values(require('node:os').networkInterfaces())) {
    for (const entry of entries || []) {
      const bytes = addressBytes(entry.address.split('%')[0]);
      if (bytes !== null) list.push(effectiveBytes(bytes));
    }
  }
  return list;
}

function bareHost(hostname) {
  return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
}

function portOf(url) {
  if (url.port) return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

module.exports = { DestinationPolicy, DestinationRefused, addressBytes };
