// postgres.js through Usher in transaction pool mode: N clients, each its own
// single-connection instance with the default `prepare: true` (every static
// query becomes a named statement: Parse/Describe/Sync first, then
// Bind/Execute/Sync, possibly on another server), run concurrently, with
// sql.begin() transactions that commit or roll back. Every value returned is
// checked here; any mismatch or error exits 1. Workload: ../README.md.
//
// postgres.js silently retries a query that fails with "prepared statement
// does not exist"; the test also checks PostgreSQL's log for such errors.
//
// Env: PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE, CLIENTS (8), ITERATIONS (50).
'use strict';
const assert = require('assert');
const postgres = require('postgres');

const TABLE = 'usher_clients_postgres_js';
const CLIENTS = Number(process.env.CLIENTS || 8);
const ITERATIONS = Number(process.env.ITERATIONS || 50);
const stats = { queries: 0, commits: 0, rollbacks: 0 };

function connect() {
  return postgres({
    host: process.env.PGHOST || '127.0.0.1',
    port: Number(process.env.PGPORT || 6432),
    user: process.env.PGUSER || 'app',
    pass: process.env.PGPASSWORD || '',
    database: process.env.PGDATABASE || 'appdb',
    max: 1, // one connection per client: its queries run in order
    prepare: true, // the default, spelled out
    connect_timeout: 10,
    onnotice: () => {},
  });
}

// Rows as plain objects (postgres.js returns an array subclass with extras).
const plain = (rows) => rows.map((r) => ({ ...r }));
class Rollback extends Error {}

// One client; resolves to how many server backends it was served by.
async function runClient(c) {
  const backends = new Set();
  const sql = connect();
  try {
    // The literal client id makes the text of mul differ per client.
    const client = sql.unsafe(String(c));
    const mul = async (q, a, b) => plain(await q`
      select ${a}::int * ${b}::int as product, ${client} as client, pg_backend_pid() as pid`)
      .map(({ pid, ...r }) => { backends.add(pid); return r; }); // pid only collected
    let committed = 0, committedIterSum = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const at = `client ${c} iteration ${i}`;
      let rows = await mul(sql, c + 1, i + 1);
      assert.deepStrictEqual(rows, [{ product: (c + 1) * (i + 1), client: c }], `${at}: mul`);
      rows = plain(await sql`select ${'c' + c}::text || '/' || ${'i' + i}::text as s`);
      assert.deepStrictEqual(rows, [{ s: `c${c}/i${i}` }], `${at}: cat`);
      stats.queries += 2;
      if (i % 3 === 0) {
        const n = (i % 7) + 1;
        rows = plain(await sql`select g from generate_series(1, ${n}::int) g`);
        assert.deepStrictEqual(rows.map((r) => r.g), Array.from({ length: n }, (_, k) => k + 1), `${at}: series`);
        stats.queries++;
      }
      if (i % 4 === 1) {
        const commit = Math.floor(i / 4) % 2 === 0;
        try {
          await sql.begin(async (tx) => {
            rows = plain(await tx`insert into ${tx(TABLE)} (client, iter) values (${c}, ${i}) returning iter`);
            assert.deepStrictEqual(rows, [{ iter: i }], `${at}: insert`);
            rows = await mul(tx, c + 1, -i);
            assert.deepStrictEqual(rows, [{ product: -(c + 1) * i, client: c }], `${at}: mul in transaction`);
            stats.queries += 2;
            if (!commit) throw new Rollback();
          });
          committed++; committedIterSum += i; stats.commits++;
        } catch (e) {
          if (!(e instanceof Rollback)) throw e;
          stats.rollbacks++;
        }
      }
    }
    // Only the committed inserts are there, none of the rolled back.
    const rows = plain(await sql`
      select count(*)::int as n, coalesce(sum(iter), 0)::int as s from ${sql(TABLE)} where client = ${c}`);
    assert.deepStrictEqual(rows, [{ n: committed, s: committedIterSum }], `client ${c}: committed rows`);
    stats.queries++;
    return backends.size;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function main() {
  const start = Date.now();
  const setup = connect();
  await setup`drop table if exists ${setup(TABLE)}`;
  await setup`create table ${setup(TABLE)} (client int not null, iter int not null)`;
  await setup.end({ timeout: 5 });

  const results = await Promise.allSettled(Array.from({ length: CLIENTS }, (_, c) => runClient(c)));
  const failures = results.map((r, c) => [r, c]).filter(([r]) => r.status === 'rejected');
  for (const [r, c] of failures) console.error(`FAIL client ${c}: ${r.reason && r.reason.stack || r.reason}`);
  if (failures.length) {
    console.error(`postgres.js: ${failures.length} of ${CLIENTS} clients failed`);
    process.exit(1);
  }
  // (postgres' package.json is not in its "exports": read the file)
  const version = JSON.parse(require('fs').readFileSync(
    require('path').join(__dirname, 'node_modules', 'postgres', 'package.json'))).version;
  const seen = results.map((r) => r.value);
  console.log(`postgres.js ${version}: ${CLIENTS} clients x ${ITERATIONS} iterations ok: ` +
    `${stats.queries} queries, ${stats.commits} commits, ${stats.rollbacks} rollbacks, ` +
    `servers per client ${Math.min(...seen)}..${Math.max(...seen)} in ${((Date.now() - start) / 1000).toFixed(1)}s`);
}

main().catch((e) => { console.error(`postgres.js: ${e && e.stack || e}`); process.exit(1); });
