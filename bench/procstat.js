'use strict';
// CPU time of processes and their threads from /proc, shared by the benches: a figure on these
// shared machines means little without the CPU it cost.
const fs = require('node:fs');

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux

/** The fields of a /proc/.../stat line after the command name (state is [0], pgrp [2]). */
function statFields(file) {
  return fs.readFileSync(file, 'utf8').split(') ')[1].split(' ');
}

/** user+system CPU seconds from statFields(). */
function statCpuSeconds(fields) {
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** user+system CPU seconds of a process, from /proc/<pid>/stat. */
function cpuSeconds(pid) {
  return statCpuSeconds(statFields(`/proc/${pid}/stat`));
}

/** CPU seconds per thread of a process, by name ('js' for the main thread), from /proc. */
function threadCpuSeconds(pid) {
  const byName = {};
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const seconds = statCpuSeconds(statFields(`/proc/${pid}/task/${tid}/stat`));
      const name = Number(tid) === pid ? 'js' : fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      byName[name] = (byName[name] || 0) + seconds;
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return byName;
}

/** µs per operation of each thread that used any CPU between two threadCpuSeconds() readings. */
function threadCpuPerOperation(before, after, operations) {
  return Object.entries(after)
    .map(([name, seconds]) => [name, ((seconds - (before[name] || 0)) * 1e6) / Math.max(1, operations)])
    .filter(([, us]) => us >= 1)
    .sort((a, b) => b[1] - a[1])
    .map(([name, us]) => `${name} ${us.toFixed(0)}`)
    .join(', ');
}

/** Share of the machine's CPU time that was idle over `ms` (other work skews every figure here). */
async function idleShare(ms = 1000) {
  const read = () => fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const a = read();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const b = read();
  const total = b.reduce((s, v, i) => s + v - a[i], 0);
  return (b[3] + b[4] - a[3] - a[4]) / total; // idle + iowait
}

module.exports = { statFields, statCpuSeconds, cpuSeconds, threadCpuSeconds, threadCpuPerOperation, idleShare };
