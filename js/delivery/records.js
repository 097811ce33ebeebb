'use strict';
// The usage records of delivery attempts: the records made within RECORD_DELAY_MS go to the usage
// log in one record() call; a refused batch is written entry by entry so that one bad entry does
// not take the others with it; every failure is logged and counted, never silent.
//
// Why a delay and not the next tick: no answer waits for these records, and under load every
// call's notification made three record() calls a few ticks apart, each its own durable commit
// (an fdatasync) and its own settled Promise: 586 commits/s at 500 calls/s. Gathering them for a
// few milliseconds makes one commit of many. What it costs: a crash loses at most the records of
// the last RECORD_DELAY_MS, as it loses the deliveries in flight then (docs/architecture.md,
// "Usage records").

/** How long a delivery record may wait in memory before it is handed to the usage log. */
const RECORD_DELAY_MS = 5;

class DeliveryRecords {
  /**
   * @param {import('../usage').UsageLog} usage
   * @param {Function} log
   */
  constructor(usage, log) {
    this.usage = usage;
    this.log = log;
    this.records = [];
    this.timer = null;
    this.writes = new Set();
    this.errors = 0;
    this.flush = () => this.writeRecords();
  }

  /** Resolves when every record handed to the usage log so far has been accepted or refused. */
  async written() {
    this.writeRecords();
    await Promise.allSettled([...this.writes]);
  }

  add(globalId, eventType, statusCode, attributes) {
    this.records.push({ globalId, eventType, statusCode, attributes });
    if (!this.timer) {
      this.timer = setTimeout(this.flush, RECORD_DELAY_MS);
    }
  }

  /** Hands the records gathered so far to the usage log in one call; failures are logged, never silent. */
  writeRecords() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.records.length === 0) return;
    const batch = this.records;
    this.records = [];
    let write;
    try {
      write = this.usage.record(batch);
    } catch (error) {
      // A synchronous refusal (an entry the catalogue rejects, or the log closed): write the
      // others one by one so that one bad entry does not take the batch with it.
      this.writeEach(batch, error);
      return;
    }
    this.track(write, batch.length);
  }

  writeEach(batch, firstError) {
    if (batch.length === 1 || firstError.code === 'ERR_PX_CLOSED') {
      this.recordFailed(batch.length, firstError);
      return;
    }
    for (const entry of batch) {
      try {
        this.track(this.usage.record([entry]), 1);
      } catch (error) {
        this.recordFailed(1, error, entry);
      }
    }
  }

  track(write, count) {
    const tracked = write.then(() => {}, (error) => this.recordFailed(count, error));
    this.writes.add(tracked);
    tracked.then(() => this.writes.delete(tracked));
  }

  recordFailed(count, error, entry) {
    this.errors += count;
    this.log('error', 'delivery usage records not written', {
      count, code: error.code, error: error.message, eventType: entry && entry.eventType,
    });
  }
}

module.exports = { DeliveryRecords, RECORD_DELAY_MS };
