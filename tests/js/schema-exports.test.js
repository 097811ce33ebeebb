'use strict';
// One source per schema: the usage status codes and the Parlay X fault catalogue are declared in
// the native core and exported by the addon; js/ builds its tables from the export, and the
// literal unions of index.d.ts must name exactly the exported entries.
const fs = require('node:fs');
const path = require('node:path');
const native = require('../../js/native');
const { UsageStatus } = require('../../js/usage');
const { CATALOGUE } = require('../../js/parlayx/faults');

const typings = fs.readFileSync(path.join(__dirname, '..', '..', 'index.d.ts'), 'utf8');

/** The string literals of the declaration that starts at `start` and ends at `end`. */
function literalsBetween(start, end) {
  const from = typings.indexOf(start);
  expect(from).toBeGreaterThanOrEqual(0);
  const to = typings.indexOf(end, from + start.length);
  expect(to).toBeGreaterThan(from);
  return [...typings.slice(from + start.length, to).matchAll(/'([^']*)'/g)].map((m) => m[1]);
}

describe('schemas exported by the addon', () => {
  test('usageStatus: codes 0..n-1 in order, and js/usage.js UsageStatus is its frozen copy', () => {
    const names = Object.keys(native.usageStatus);
    expect(names.length).toBe(17);
    expect(Object.values(native.usageStatus)).toEqual(names.map((_, i) => i));
    expect(native.usageStatus.VALID).toBe(0);
    expect(native.usageStatus.FAILED_TRAFFIC_SHAPING).toBe(16);
    expect(UsageStatus).toEqual(native.usageStatus);
    expect(Object.isFrozen(UsageStatus)).toBe(true);
  });

  test('index.d.ts UsageStatus names equal the exported ones', () => {
    const declared = literalsBetween('export declare const UsageStatus: Readonly<Record<', ', number>>');
    expect(declared).toEqual(Object.keys(native.usageStatus));
  });

  test('faultCatalogue: kind, title and text of every messageId; faults.js CATALOGUE is its frozen copy', () => {
    const ids = Object.keys(native.faultCatalogue);
    expect(ids.length).toBe(21);
    for (const id of ids) {
      const def = native.faultCatalogue[id];
      expect(def.kind).toBe(id.startsWith('SVC') ? 'ServiceException' : 'PolicyException');
      expect(typeof def.title).toBe('string');
      expect(typeof def.text).toBe('string');
      expect(CATALOGUE[id]).toEqual(def);
      expect(Object.isFrozen(CATALOGUE[id])).toBe(true);
    }
    expect(Object.keys(CATALOGUE)).toEqual(ids);
    expect(Object.isFrozen(CATALOGUE)).toBe(true);
    expect(CATALOGUE.SVC0001.text).toBe('A service error occurred. Error code is %1');
  });

  test('index.d.ts FaultMessageId names equal the exported ones', () => {
    const declared = literalsBetween('export type FaultMessageId =', ';');
    expect(declared).toEqual(Object.keys(native.faultCatalogue));
  });
});
