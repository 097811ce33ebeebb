'use strict';
// Usage records (TWSS layout: RECORDID, SEGMENT, GLOBALID, SERVICE, HOST, EVENTTYPE, RECORDTIME,
// STATUSCODE, SERVICEDATA): writing through the native store, and reading them back reassembled.

const native = require('./native');

/**
 * STATUSCODE values of the usage records (source: TWSS Terminal Status usage records), as the
 * native core declares them (native/usage/UsageStatus.cc): name -> code.
 * @type {Readonly<Record<string, number>>}
 */
const UsageStatus = Object.freeze({ ...native.usageStatus });

/**
 * @typedef {object} UsageRecord
 * @property {string} recordId
 * @property {string} globalId
 * @property {string} service
 * @property {string} host
 * @property {string} eventType
 * @property {string} recordTime  UTC, ISO-8601 with milliseconds
 * @property {number} statusCode
 * @property {string} status      the status code's name
 * @property {string} serviceData the SERVICEDATA text, reassembled
 * @property {Record<string, string>} attributes SERVICEDATA decoded
 */
/**
 * @typedef {object} UsageFilter
 * @property {Date|string|number} [from] RECORDTIME >= from
 * @property {Date|string|number} [to]   RECORDTIME < to
 * @property {string} [service]
 * @property {string} [eventType]
 * @property {number} [statusCode]
 * @property {string} [globalId]
 * @property {string} [requester]
 */

/**
 * A latency histogram in seconds: counts per bucket (not cumulative), one more than bounds (the
 * last counts what is above the last bound).
 * @typedef {object} LatencyHistogram
 * @property {number[]} bounds
 * @property {number[]} counts
 * @property {number} sum
 * @property {number} count
 */
/**
 * @typedef {object} UsageStats
 * @property {number} queued       rows accepted and not yet committed
 * @property {number} written      rows committed
 * @property {number} commits      transactions committed
 * @property {number} rejectedFull appends refused: queue full
 * @property {number} writeErrors  accepted appends that could not be committed
 * @property {'sqlite'|'postgresql'} backend the database behind (store.backend)
 * @property {boolean} reachable   PostgreSQL reachable now (SQLite: always true)
 * @property {number} spooled      PostgreSQL, batched: rows waiting in the local spool
 * @property {number} replayed     rows replayed from the spool since start
 * @property {number} reconnects   PostgreSQL connections re-established after a loss
 * @property {LatencyHistogram} commitSeconds     per committed transaction: writing and committing it (retries included)
 * @property {LatencyHistogram} commitWaitSeconds per committed transaction: its oldest append's submission to its commit
 */

function toMs(value) {
  if (value === undefined || value === null) return undefined;
  const ms = value instanceof Date ? value.getTime() : typeof value === 'number' ? value : Date.parse(value);
  if (!Number.isFinite(ms)) throw new TypeError(`not a time: ${value}`);
  return ms;
}

/** One field of a packed entry: its length in UTF-16 code units, ':', the text. */
function field(text) {
  return `${text.length}:${text}`;
}

/**
 * The entries of one record() call as one string (native/store/PackedUsageEntries.h): one value
 * crosses into C++ instead of an object per entry and per attribute set, whose conversion was
 * most of what a record cost the JS thread. Attributes whose value is undefined are left out;
 * other values, like the entry's fields, are written as String() gives them.
 * @param {Array<{globalId: string, eventType: string, statusCode: number, recordTimeMs?: number,
 *   attributes: Record<string, string|undefined>}>} entries
 * @param {number} now RECORDTIME of entries without recordTimeMs
 * @returns {string}
 */
function packEntries(entries, now) {
  if (!Array.isArray(entries)) throw new TypeError('record(entries) needs an array');
  let packed = '';
  for (const entry of entries) {
    if (entry === null || typeof entry !== 'object') throw new TypeError('usage entry must be an object');
    const { attributes } = entry;
    if (attributes === null || typeof attributes !== 'object') throw new TypeError('usage entry needs attributes');
    let count = 0;
    let pairs = '';
    for (const name in attributes) {
      const value = attributes[name];
      if (value === undefined) continue;
      count++;
      pairs += field(name) + field(String(value));
    }
    packed += field(String(entry.globalId)) + field(String(entry.eventType))
      + field(String(Math.trunc(Number(entry.statusCode)))) + field(String(Math.trunc(Number(entry.recordTimeMs ?? now))))
      + field(String(count)) + pairs;
  }
  return packed;
}

class UsageLog {
  /** @param {any} database a native UsageDatabase */
  constructor(database) {
    this.database = database;
  }

  /** Whether record() resolves only after the records are committed. */
  get durable() {
    return this.database.durable;
  }

  /**
   * Writes records of one request. Resolves once committed (durable) or queued (batched).
   * Throws TypeError for an attribute the catalogue does not list for the event type; rejects
   * with code ERR_PX_USAGE_QUEUE_FULL when the store is full.
   * @param {Array<{globalId: string, eventType: string, statusCode: number, attributes: Record<string, string>}>} entries
   */
  record(entries) {
    return this.database.record(packEntries(entries, Date.now()));
  }

  /**
   * Reassembled records matching the filter, oldest first, read page by page.
   * @param {UsageFilter} [filter]
   * @returns {AsyncGenerator<UsageRecord>}
   */
  async *records(filter = {}) {
    const query = {
      fromMs: toMs(filter.from),
      toMs: toMs(filter.to),
      service: filter.service,
      eventType: filter.eventType,
      statusCode: filter.statusCode,
      globalId: filter.globalId,
      requester: filter.requester,
      limit: filter.pageSize || 1000,
    };
    for (;;) {
      const page = await this.database.query(query);
      yield* page.records;
      if (!page.next) return;
      query.after = page.next;
    }
  }

  /** @param {UsageFilter} [filter] @returns {Promise<UsageRecord[]>} */
  async query(filter) {
    const all = [];
    for await (const record of this.records(filter)) all.push(record);
    return all;
  }

  /**
   * The store's counters, and its commit latency histograms (one observation per committed
   * transaction): commitSeconds (writing and committing it) and commitWaitSeconds (from its
   * oldest append's submission to its commit).
   * @returns {UsageStats}
   */
  stats() {
    return this.database.stats();
  }

  /**
   * Tells `listener` of the writer's problems, on the JS thread: (message, failedAppends, reason).
   * Failed appends come with failedAppends > 0 and reason = SQLite's own message(s) (e.g.
   * "database is locked", a trigger's RAISE text); durable ones also reject their Promise (its
   * error has the same `reason`), batched ones have nothing else to tell. The store's other
   * reports (a failed attempt that is retried, a record's row refused) come with failedAppends 0
   * and no reason: message is the report, naming the file and SQLite's message.
   * @param {(message: string, failedAppends: number, reason?: string) => void} listener
   */
  onError(listener) {
    this.database.setErrorListener(listener);
  }

  close() {
    return this.database.close();
  }
}

module.exports = { UsageLog, UsageStatus };
