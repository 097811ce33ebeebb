'use strict';
// DeliveryRecords: records no answer waits for are gathered for RECORD_DELAY_MS and handed to
// the usage log in one record() call (one durable commit); written() hands them over at once.
const { DeliveryRecords, RECORD_DELAY_MS } = require('../../js/delivery/records');

function usageLog() {
  const calls = [];
  return {
    calls,
    record(entries) {
      calls.push(entries.map((e) => e.eventType));
      return Promise.resolve();
    },
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('records added within the delay go to the usage log in one call when it ends', () => {
  // Fake timers: the test is about the schedule, not about how fast a loaded machine is.
  jest.useFakeTimers();
  try {
    const usage = usageLog();
    const records = new DeliveryRecords(usage, () => {});
    records.add('g1', 'A', 0, {});
    jest.advanceTimersByTime(RECORD_DELAY_MS - 1);
    records.add('g1', 'B', 0, {});
    records.add('g2', 'C', 0, {});
    expect(usage.calls).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(usage.calls).toEqual([['A', 'B', 'C']]);
    // The next record starts a new delay of its own.
    records.add('g3', 'D', 0, {});
    jest.advanceTimersByTime(RECORD_DELAY_MS - 1);
    expect(usage.calls).toEqual([['A', 'B', 'C']]);
    jest.advanceTimersByTime(1);
    expect(usage.calls).toEqual([['A', 'B', 'C'], ['D']]);
  } finally {
    jest.useRealTimers();
  }
});

test('written() hands the gathered records over at once and leaves no timer behind', async () => {
  const usage = usageLog();
  const records = new DeliveryRecords(usage, () => {});
  records.add('g1', 'A', 0, {});
  await records.written();
  expect(usage.calls).toEqual([['A']]);
  expect(records.timer).toBeNull();
  await sleep(RECORD_DELAY_MS + 20);
  expect(usage.calls).toEqual([['A']]);
});

test('a refused record is logged and counted, the others are written one by one', async () => {
  const written = [];
  const logged = [];
  const usage = {
    record(entries) {
      if (entries.some((e) => e.eventType === 'BAD')) {
        throw Object.assign(new Error('unknown attribute'), { code: 'ERR_PX_RECORD' });
      }
      written.push(...entries.map((e) => e.eventType));
      return Promise.resolve();
    },
  };
  const records = new DeliveryRecords(usage, (level, message, fields) => logged.push({ level, message, fields }));
  records.add('g1', 'A', 0, {});
  records.add('g1', 'BAD', 0, {});
  records.add('g1', 'C', 0, {});
  await records.written();
  expect(written).toEqual(['A', 'C']);
  expect(records.errors).toBe(1);
  expect(logged).toEqual([
    expect.objectContaining({ level: 'error', fields: expect.objectContaining({ count: 1, eventType: 'BAD' }) }),
  ]);
});
