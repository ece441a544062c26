// node-postgres (pg) through Usher in transaction pool mode: N clients, each
// its own connection, run named queries ({name, text, values}: parsed once
// per connection under that name, then only Bind/Execute) concurrently, with
// explicit transactions that commit or roll back. Every value returned is
// checked here; any mismatch or error exits 1. Workload: ../README.md.
//
// Env: PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE, CLIENTS (8), ITERATIONS (50).
'use strict';
const assert = require('assert');
const { Client } = require('pg');

const TABLE = 'usher_clients_node_pg';
const CLIENTS = Number(process.env.CLIENTS || 8);
const ITERATIONS = Number(process.env.ITERATIONS || 50);
const stats = { queries: 0, commits: 0, rollbacks: 0 };

function config() {
  return {
    host: process.env.PGHOST || '127.0.0.1',
    port: Number(process.env.PGPORT || 6432),
    user: process.env.PGUSER || 'app',
    password: process.env.PGPASSWORD || '',
    database: process.env.PGDATABASE || 'appdb',
    connectionTimeoutMillis: 10000,
    query_timeout: 60000,
  };
}

// One client; resolves to how many server backends it was served by.
async function runClient(c) {
  const backends = new Set();
  const client = new Client(config());
  await client.connect();
  try {
    // The same names on every client, but the literal client id makes the
    // text of 'mul' differ: a statement mixed up between clients shows.
    const mul = (a, b) => ({
      name: 'mul',
      text: `select $1::int * $2::int as product, ${c} as client, pg_backend_pid() as pid`,
      values: [a, b],
    });
    const run = async (q) => { stats.queries++; return (await client.query(q)).rows; };
    // mul's rows without the backend pid, which is only collected.
    const runMul = async (a, b) => (await run(mul(a, b))).map(({ pid, ...r }) => { backends.add(pid); return r; });
    let committed = 0, committedIterSum = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const at = `client ${c} iteration ${i}`;
      let rows = await runMul(c + 1, i + 1);
      assert.deepStrictEqual(rows, [{ product: (c + 1) * (i + 1), client: c }], `${at}: mul`);
      rows = await run({ name: 'cat', text: "select $1::text || '/' || $2::text as s", values: [`c${c}`, `i${i}`] });
      assert.deepStrictEqual(rows, [{ s: `c${c}/i${i}` }], `${at}: cat`);
      if (i % 3 === 0) {
        const n = (i % 7) + 1;
        rows = await run({ name: 'series', text: 'select g from generate_series(1, $1::int) g', values: [n] });
        assert.deepStrictEqual(rows.map((r) => r.g), Array.from({ length: n }, (_, k) => k + 1), `${at}: series`);
      }
      if (i % 4 === 1) {
        // Explicit transaction: BEGIN/COMMIT/ROLLBACK as simple queries,
        // named statements inside.
        await client.query('BEGIN');
        rows = await run({ name: 'insert', text: `insert into ${TABLE} (client, iter) values ($1, $2) returning iter`, values: [c, i] });
        assert.deepStrictEqual(rows, [{ iter: i }], `${at}: insert`);
        rows = await runMul(c + 1, -i);
        assert.deepStrictEqual(rows, [{ product: -(c + 1) * i, client: c }], `${at}: mul in transaction`);
        if (Math.floor(i / 4) % 2 === 0) {
          await client.query('COMMIT');
          committed++; committedIterSum += i; stats.commits++;
        } else {
          await client.query('ROLLBACK');
          stats.rollbacks++;
        }
      }
    }
    // Only the committed inserts are there, none of the rolled back.
    const rows = await run({
      name: 'count',
      text: `select count(*)::int as n, coalesce(sum(iter), 0)::int as s from ${TABLE} where client = $1`,
      values: [c],
    });
    assert.deepStrictEqual(rows, [{ n: committed, s: committedIterSum }], `client ${c}: committed rows`);
    return backends.size;
  } finally {
    await client.end();
  }
}

async function main() {
  const start = Date.now();
  const setup = new Client(config());
  await setup.connect();
  await setup.query(`drop table if exists ${TABLE}`);
  await setup.query(`create table ${TABLE} (client int not null, iter int not null)`);
  await setup.end();

  const results = await Promise.allSettled(Array.from({ length: CLIENTS }, (_, c) => runClient(c)));
  const failures = results.map((r, c) => [r, c]).filter(([r]) => r.status === 'rejected');
  for (const [r, c] of failures) console.error(`FAIL client ${c}: ${r.reason && r.reason.stack || r.reason}`);
  if (failures.length) {
    console.error(`node-postgres: ${failures.length} of ${CLIENTS} clients failed`);
    process.exit(1);
  }
  const version = require('pg/package.json').version;
  const seen = results.map((r) => r.value);
  console.log(`node-postgres ${version}: ${CLIENTS} clients x ${ITERATIONS} iterations ok: ` +
    `${stats.queries} queries, ${stats.commits} commits, ${stats.rollbacks} rollbacks, ` +
    `servers per client ${Math.min(...seen)}..${Math.max(...seen)} in ${((Date.now() - start) / 1000).toFixed(1)}s`);
}

main().catch((e) => { console.error(`node-postgres: ${e && e.stack || e}`); process.exit(1); });
