// Usher's dashboard: polls the JSON API every POLL_MS and draws what it
// reads. Rates and percentiles come from the difference of two readings of
// counters and histograms, so the server keeps no history for the page;
// the charts cover what this page has seen since it was opened, at most
// HISTORY_POINTS readings. Text goes into the page as text (textContent),
// never as HTML: database and user names come from clients.
'use strict';

const POLL_MS = 2000;
const HISTORY_POINTS = 150; // 5 minutes at POLL_MS
const TOKEN_KEY = 'usher-token';

let previous = null; // the last reading: {at, stats, latency}
let latencyChart = null;
let waitChart = null;

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

class Unauthorized extends Error {}

async function get(path) {
  const headers = {};
  if (token()) headers.Authorization = 'Bearer ' + token();
  const r = await fetch(path, {headers, cache: 'no-store'});
  // 421: public reads refuse a host name (DNS rebinding); the token works.
  if (r.status === 401 || r.status === 421) throw new Unauthorized(path);
  if (!r.ok && path !== '/health/ready') throw new Error(path + ': HTTP ' + r.status);
  return r.json();
}

function text(id, value) {
  document.getElementById(id).textContent = value;
}

function formatRate(n) {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1);
}

function sum(rows, key) {
  return rows.reduce((total, row) => total + (Number(row[key]) || 0), 0);
}

// The value below which fraction q of the events in `counts` fell,
// interpolated within its bucket; null without events.
function percentile(counts, bounds, q) {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const target = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    if (seen + counts[i] >= target && counts[i] > 0) {
      if (i >= bounds.length) return bounds[bounds.length - 1]; // past the last bound
      const low = i === 0 ? 0 : bounds[i - 1];
      return low + (bounds[i] - low) * ((target - seen) / counts[i]);
    }
    seen += counts[i];
  }
  return bounds[bounds.length - 1];
}

function makeLineChart(id, datasets, yTitle) {
  return new Chart(document.getElementById(id), {
    type: 'line',
    data: {labels: [], datasets},
    options: {
      animation: false,
      maintainAspectRatio: false,
      spanGaps: false,
      interaction: {mode: 'index', intersect: false},
      elements: {point: {radius: 0}, line: {borderWidth: 2, tension: 0.2}},
      scales: {
        x: {ticks: {maxTicksLimit: 6}},
        y: {beginAtZero: true, title: {display: true, text: yTitle}},
      },
    },
  });
}

function dataset(label, color) {
  return {label, data: [], borderColor: color, backgroundColor: color};
}

function push(chart, label, values) {
  chart.data.labels.push(label);
  chart.data.datasets.forEach((d, i) => d.data.push(values[i]));
  if (chart.data.labels.length > HISTORY_POINTS) {
    chart.data.labels.shift();
    chart.data.datasets.forEach(d => d.data.shift());
  }
  chart.update('none');
}

function cell(row, value, className) {
  const td = document.createElement('td');
  td.textContent = value === null || value === undefined ? '' : String(value);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function renderPools(pools) {
  const body = document.querySelector('#pools tbody');
  body.replaceChildren();
  for (const p of pools) {
    const tr = document.createElement('tr');
    tr.dataset.database = p.database;
    tr.dataset.user = p.user;
    cell(tr, p.database);
    cell(tr, p.user);
    cell(tr, p.pool_mode);
    for (const key of ['cl_active', 'cl_waiting', 'sv_active', 'sv_idle', 'sv_used', 'sv_login']) {
      const td = cell(tr, p[key], 'num');
      td.dataset.column = key;
      if (key === 'cl_waiting' && p[key] > 0) td.classList.add('warn');
    }
    const wait = (p.maxwait || 0) + (p.maxwait_us || 0) / 1e6;
    const td = cell(tr, wait.toFixed(3), 'num');
    td.dataset.column = 'maxwait';
    body.appendChild(tr);
  }
}

function renderCache(rows) {
  const body = document.querySelector('#cache tbody');
  body.replaceChildren();
  if (rows.length === 0) {
    const tr = document.createElement('tr');
    cell(tr, 'no database is cached', 'muted').colSpan = 6;
    body.appendChild(tr);
    text('cache-ratio', '–');
    return;
  }
  for (const c of rows) {
    const tr = document.createElement('tr');
    cell(tr, c.database);
    cell(tr, c.state);
    cell(tr, c.entries, 'num');
    cell(tr, c.hits, 'num');
    cell(tr, c.misses, 'num');
    cell(tr, c.hit_ratio === null ? '' : (100 * c.hit_ratio).toFixed(1) + ' %', 'num');
    body.appendChild(tr);
  }
  const hits = sum(rows, 'hits');
  const lookups = hits + sum(rows, 'misses');
  text('cache-ratio', lookups === 0 ? '–' : (100 * hits / lookups).toFixed(1) + ' %');
}

function renderHealth(health) {
  const pill = document.getElementById('status');
  const ready = health.status === 'ready';
  pill.textContent = ready ? 'ready' : 'not ready';
  pill.className = 'pill ' + (ready ? 'ok' : 'bad');
  const list = document.getElementById('problems');
  list.replaceChildren();
  const reasons = health.reasons || [];
  for (const reason of reasons) {
    const li = document.createElement('li');
    li.className = 'bad';
    li.textContent = reason;
    list.appendChild(li);
  }
  if (reasons.length === 0) {
    const li = document.createElement('li');
    li.className = 'muted';
    li.textContent = 'none';
    list.appendChild(li);
  }
}

async function poll() {
  const [health, pools, stats, latency, cache, version] = await Promise.all([
    get('/health/ready'), get('/api/v1/pools'), get('/api/v1/stats_totals'),
    get('/api/v1/latency'), get('/api/v1/cache'), get('/api/v1/version'),
  ]);
  const now = Date.now();
  renderHealth(health);
  text('version', version.length ? version[0].version.replace(/^Usher /, '') : '');
  renderPools(pools);
  renderCache(cache);
  text('cl-active', sum(pools, 'cl_active'));
  text('cl-waiting', sum(pools, 'cl_waiting'));
  text('sv-active', sum(pools, 'sv_active'));
  text('sv-idle', sum(pools, 'sv_idle'));

  const label = new Date(now).toLocaleTimeString('en-GB');
  if (previous) {
    const seconds = (now - previous.at) / 1000;
    text('tps', formatRate(Math.max(0, sum(stats, 'xact_count') - sum(previous.stats, 'xact_count')) / seconds));
    text('qps', formatRate(Math.max(0, sum(stats, 'query_count') - sum(previous.stats, 'query_count')) / seconds));
    const delta = latency.query.counts.map((c, i) => Math.max(0, c - previous.latency.query.counts[i]));
    const ms = q => {
      const v = percentile(delta, latency.bounds_seconds, q);
      return v === null ? null : v * 1000;
    };
    const latest = [ms(0.5), ms(0.95), ms(0.99)];
    push(latencyChart, label, latest);
    if (latest[0] !== null) {
      text('latency-latest', 'last ' + seconds.toFixed(0) + ' s: p50 ' + latest[0].toFixed(2) +
           ' ms, p95 ' + latest[1].toFixed(2) + ' ms, p99 ' + latest[2].toFixed(2) + ' ms');
    }
  }
  const longest = pools.reduce((m, p) => Math.max(m, (p.maxwait || 0) + (p.maxwait_us || 0) / 1e6), 0);
  push(waitChart, label, [sum(pools, 'cl_waiting'), longest]);
  previous = {at: now, stats, latency};
  text('updated', 'updated ' + label);
}

async function loop() {
  try {
    await poll();
    document.getElementById('token-form').hidden = true;
  } catch (e) {
    if (e instanceof Unauthorized) {
      document.getElementById('token-form').hidden = false;
      text('status', 'needs the token');
    } else {
      text('status', 'unreachable');
      document.getElementById('status').className = 'pill bad';
    }
  }
  setTimeout(loop, POLL_MS);
}

function start() {
  latencyChart = makeLineChart('latency-chart', [
    dataset('p50', '#2f6fde'), dataset('p95', '#e6a23c'), dataset('p99', '#c0392b'),
  ], 'ms');
  waitChart = makeLineChart('wait-chart', [
    dataset('clients waiting', '#8e44ad'), dataset('longest wait (s)', '#16a085'),
  ], 'clients / s');
  document.getElementById('token-form').addEventListener('submit', event => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById('token').value.trim());
    previous = null;
  });
  loop();
}

document.addEventListener('DOMContentLoaded', start);
