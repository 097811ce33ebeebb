'use strict';
// Integration tests start real Kamailio and SIPp processes on loopback; the machine has 2 cores,
// so test files run one worker at a time to keep timings honest.
module.exports = {
  testEnvironment: 'node',
  testMatch: ['<rootDir>/tests/js/**/*.test.js'],
  maxWorkers: 1,
  testTimeout: 30000,
};
