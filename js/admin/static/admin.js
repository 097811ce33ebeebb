// The admin page's script (an ES module, no build step): polls the JSON endpoints of
// js/admin/page.js and draws the plots with uPlot, served by the gateway from node_modules.
// The browser sends the admin user's HTTP Basic credentials with every same-origin request.
import uPlot from './vendor/uPlot.esm.js';

const SUMMARY_EVERY_MS = 2000;
const REGISTRY_EVERY_MS = 5000;
/** State-changing requests carry this header (CSRF protection, js/admin/page.js). */
const CSRF_HEADERS = { 'x-parlayx-admin': '1' };
const STATUS_COLORS = { Reachable: '#2e7d32', Unreachable: '#757575', Busy: '#ef6c00' };
const PALETTE = ['#1f6feb', '#c62828', '#6a1b9a', '#00838f', '#ef6c00', '#2e7d32', '#ad1457', '#5d4037', '#455a64'];

const charts = { rate: null, status: null, outcome: null, outcomeNames: '' };
/** The x range of every plot: the whole window up to the server's clock, in seconds. */
const windowRange = { from: 0, to: 0 };

/** @param {string} id */
const $ = (id) => document.getElementById(id);

function setStatus(text, error = false) {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('error', error);
}

/** fetch() of a JSON endpoint; throws with the server's message on an error status. */
async function getJson(url, options = {}) {
  const response = await fetch(url, { cache: 'no-store', ...options });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(`${response.status}: ${(body && body.error) || response.statusText}`);
  return body;
}

/** A table cell with text (never HTML: every value comes from a request or the network). */
function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function emptyRow(tbody, columns, text) {
  const tr = document.createElement('tr');
  const td = cell(text, 'empty');
  td.colSpan = columns;
  tr.append(td);
  tbody.replaceChildren(tr);
}

function chartWidth(el) {
  return Math.max(320, Math.floor(el.clientWidth || el.parentElement.clientWidth || 480));
}

/**
 * Makes (or remakes) a uPlot chart in `el` with the series given after x.
 * @param {HTMLElement} el
 * @param {object[]} series
 * @param {object[]} axes the y axes
 * @param {Array<Array<number|null>>} data
 */
function makeChart(el, series, axes, data) {
  el.replaceChildren();
  return new uPlot({
    width: chartWidth(el),
    height: 220,
    series: [{}, ...series],
    axes: [{}, ...axes],
    scales: {
      x: { time: true, range: () => [windowRange.from, windowRange.to] },
      // Rates and times from zero, so that a small value does not look like a large one.
      rate: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] },
      ms: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] },
    },
    legend: { live: true },
  }, data, el);
}

const sum = (values) => values.reduce((a, b) => a + (b || 0), 0);

/** How many points of the series after x are above zero (a data-nonzero attribute, for people and tests). */
function markNonZero(el, data) {
  el.dataset.nonzero = String(data.slice(1).reduce((n, values) => n + values.filter((v) => v > 0).length, 0));
}

function drawRate(samples, seconds, perSecond) {
  const x = samples.map((s) => s.t / 1000);
  const data = [
    x,
    samples.map((s) => s.requests / perSecond),
    samples.map((s) => s.latencyMeanMs),
    samples.map((s) => s.latencyP95Ms),
  ];
  const el = $('chart-rate');
  if (charts.rate === null) {
    charts.rate = makeChart(el, [
      { label: 'requests/s', stroke: '#1f6feb', width: 2, scale: 'rate', value: (u, v) => (v === null ? '–' : v.toFixed(2)) },
      { label: 'mean latency ms', stroke: '#6a1b9a', scale: 'ms', value: (u, v) => (v === null ? '–' : v.toFixed(1)) },
      { label: 'p95 latency ≤ ms', stroke: '#ad1457', dash: [4, 4], scale: 'ms', value: (u, v) => (v === null ? '–' : v.toFixed(1)) },
    ], [{ scale: 'rate', label: 'req/s' }, { scale: 'ms', side: 1, label: 'ms', grid: { show: false } }], data);
  } else {
    charts.rate.setData(data);
  }
  markNonZero(el, data.slice(0, 2));
  const total = sum(samples.map((s) => s.requests));
  const last = samples.length > 0 ? samples[samples.length - 1] : null;
  const latencies = samples.filter((s) => s.latencyMeanMs !== null);
  const mean = latencies.length > 0
    ? sum(latencies.map((s) => s.latencyMeanMs * s.requests)) / sum(latencies.map((s) => s.requests)) : null;
  $('totals-rate').textContent = `Requests in the last ${Math.round(seconds / 60)} min: ${total}`
    + ` · last period: ${last ? (last.requests / perSecond).toFixed(2) : '0'}/s`
    + ` · mean latency: ${mean === null ? '–' : `${mean.toFixed(1)} ms`}`;
}

function drawStatus(samples, perSecond) {
  const names = ['Reachable', 'Unreachable', 'Busy'];
  const data = [samples.map((s) => s.t / 1000), ...names.map((n) => samples.map((s) => (s.statuses[n] || 0) / perSecond))];
  const el = $('chart-status');
  if (charts.status === null) {
    charts.status = makeChart(el, names.map((n) => ({ label: n, stroke: STATUS_COLORS[n], width: 2, scale: 'rate' })),
      [{ scale: 'rate', label: 'answers/s' }], data);
  } else {
    charts.status.setData(data);
  }
  markNonZero(el, data);
  $('totals-status').textContent = names.map((n) => `${n}: ${sum(samples.map((s) => s.statuses[n] || 0))}`).join(' · ');
}

function drawOutcomes(samples, perSecond) {
  const seen = new Set();
  for (const s of samples) for (const name of Object.keys(s.outcomes)) seen.add(name);
  const names = [...seen].sort((a, b) => (a === 'VALID' ? -1 : b === 'VALID' ? 1 : a.localeCompare(b)));
  const data = [samples.map((s) => s.t / 1000), ...names.map((n) => samples.map((s) => (s.outcomes[n] || 0) / perSecond))];
  const el = $('chart-outcome');
  // The series are fixed when a uPlot chart is made: a new STATUSCODE name remakes it.
  if (charts.outcome === null || charts.outcomeNames !== names.join(',')) {
    if (charts.outcome !== null) charts.outcome.destroy();
    charts.outcomeNames = names.join(',');
    charts.outcome = makeChart(el, names.map((n, i) => ({ label: n, stroke: PALETTE[i % PALETTE.length], width: 2, scale: 'rate' })),
      [{ scale: 'rate', label: 'ops/s' }], data);
  } else {
    charts.outcome.setData(data);
  }
  markNonZero(el, data);
  $('totals-outcome').textContent = names.length === 0 ? 'No operations in the window.'
    : names.map((n) => `${n}: ${sum(samples.map((s) => s.outcomes[n] || 0))}`).join(' · ');
}

let statusCodesListed = false;

function listStatusCodes(statusCodes) {
  if (statusCodesListed || !statusCodes) return;
  statusCodesListed = true;
  const list = $('status-codes');
  for (const [name, code] of Object.entries(statusCodes).sort((a, b) => a[1] - b[1])) {
    const option = document.createElement('option');
    option.value = name;
    option.label = `${code} ${name}`;
    list.append(option);
  }
}

async function refreshSummary() {
  try {
    const summary = await getJson('api/summary');
    const perSecond = summary.periodMs / 1000;
    windowRange.to = summary.now / 1000;
    windowRange.from = windowRange.to - summary.windowSamples * perSecond;
    drawRate(summary.samples, summary.windowSamples * perSecond, perSecond);
    drawStatus(summary.samples, perSecond);
    drawOutcomes(summary.samples, perSecond);
    listStatusCodes(summary.statusCodes);
    setStatus(`Updated ${new Date(summary.now).toLocaleTimeString()} · ${summary.notifications} active notification(s)`
      + ` · ${summary.callRegistrations} call registration(s)`);
  } catch (error) {
    setStatus(`Cannot load the summary: ${error.message}`, true);
  }
}

function addressesText(addresses) {
  return addresses.map((a) => (typeof a === 'string' ? a : `${a.address}${a.lastSeen ? ` (${a.lastSeen})` : ''}`)).join(', ');
}

async function terminate(button, n) {
  if (!window.confirm(`Terminate notification ${n.correlator} of ${n.requester || '(anonymous)'}? The application gets statusError.`)) return;
  button.disabled = true;
  try {
    const url = `api/notifications/${encodeURIComponent(n.correlator)}/terminate?requester=${encodeURIComponent(n.requester)}`;
    await getJson(url, { method: 'POST', headers: CSRF_HEADERS });
    setStatus(`Terminated ${n.correlator}`);
  } catch (error) {
    setStatus(`Terminate failed: ${error.message}`, true);
  }
  await refreshRegistry();
}

async function refreshRegistry() {
  let registry;
  try {
    registry = await getJson('api/notifications');
  } catch (error) {
    setStatus(`Cannot load the registry: ${error.message}`, true);
    return;
  }
  const tbody = $('notifications').tBodies[0];
  if (registry.notifications.length === 0) emptyRow(tbody, 8, 'No active notifications.');
  else {
    tbody.replaceChildren(...registry.notifications.map((n) => {
      const tr = document.createElement('tr');
      tr.dataset.correlator = n.correlator;
      tr.dataset.requester = n.requester;
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'terminate';
      button.textContent = 'Terminate';
      button.addEventListener('click', () => terminate(button, n));
      const action = document.createElement('td');
      action.append(button);
      tr.append(cell(n.requester || '(anonymous)'), cell(n.correlator), cell(addressesText(n.addresses)),
        cell(n.criteria.length > 0 ? n.criteria.join(', ') : 'any'), cell(n.endpoint),
        cell(n.countLimit === null ? String(n.sent) : `${n.sent} / ${n.countLimit}`),
        cell(new Date(n.expiresAt).toLocaleString()), action);
      return tr;
    }));
  }
  const calls = $('calls').tBodies[0];
  if (registry.callRegistrations.length === 0) emptyRow(calls, 7, 'No call registrations.');
  else {
    calls.replaceChildren(...registry.callRegistrations.map((r) => {
      const tr = document.createElement('tr');
      tr.append(cell(r.kind), cell(r.requester || '(anonymous)'), cell(r.correlator), cell(addressesText(r.addresses)),
        cell(r.criteria.join(', ')), cell(r.endpoint), cell(new Date(r.createdAt).toLocaleString()));
      return tr;
    }));
  }
}

/** The search form as query parameters (times as ISO-8601 UTC). */
function usageQuery() {
  const form = new FormData($('usage-form'));
  const params = new URLSearchParams();
  for (const [name, value] of form.entries()) {
    const text = String(value).trim();
    if (text === '') continue;
    params.set(name, name === 'from' || name === 'to' ? new Date(text).toISOString() : text);
  }
  return params;
}

function updateExportLinks() {
  for (const format of ['csv', 'json']) {
    const params = usageQuery();
    params.delete('limit');
    params.set('format', format);
    params.set('download', '1');
    $(`export-${format}`).href = `api/usage?${params}`;
  }
}

async function searchUsage(event) {
  if (event) event.preventDefault();
  updateExportLinks();
  const params = usageQuery();
  params.set('format', 'json');
  const tbody = $('usage-records').tBodies[0];
  try {
    const answer = await getJson(`api/usage?${params}`);
    $('usage-count').textContent = `${answer.records.length} record(s)${answer.truncated ? ` (first ${answer.limit}; narrow the search for more)` : ''}`;
    if (answer.records.length === 0) emptyRow(tbody, 7, 'No records match.');
    else {
      tbody.replaceChildren(...answer.records.map((r) => {
        const tr = document.createElement('tr');
        tr.append(cell(r.recordTime), cell(r.eventType), cell(r.service), cell(r.requester), cell(r.target),
          cell(`${r.statusCode} ${r.status}`), cell(r.globalId));
        return tr;
      }));
    }
  } catch (error) {
    $('usage-count').textContent = `Search failed: ${error.message}`;
    tbody.replaceChildren();
  }
}

function start() {
  $('usage-form').addEventListener('submit', searchUsage);
  $('usage-form').addEventListener('input', updateExportLinks);
  updateExportLinks();
  refreshSummary();
  refreshRegistry();
  setInterval(refreshSummary, SUMMARY_EVERY_MS);
  setInterval(refreshRegistry, REGISTRY_EVERY_MS);
  window.addEventListener('resize', () => {
    for (const key of ['rate', 'status', 'outcome']) {
      const chart = charts[key];
      if (chart !== null) chart.setSize({ width: chartWidth(chart.root.parentElement), height: 220 });
    }
  });
}

start();
