'use strict';
// The courier's writer against a real PostgreSQL (skipped when no server binaries are found).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { Writer } = require('../lib/store');
const { PostgresServer, tempDir, waitUntil } = require('../check/servers');
const { cfg } = require('./helpers');

let server = null;
let dir = null;
try {
  dir = tempDir();
  server = new PostgresServer(dir);
} catch {
  server = null;
}
test.after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

test('a connection the server kills while the courier holds it does not crash the courier', { skip: !server && 'no PostgreSQL binaries' }, async (t) => {
  await server.start();
  t.after(() => server.stop());
  const crashes = [];
  const onCrash = (err) => crashes.push(err);
  process.on('uncaughtException', onCrash);
  t.after(() => process.off('uncaughtException', onCrash));
  const lines = [];
  const writer = new Writer(cfg({ FLEET_STORE_URL: server.url, STORE_RETRY_BASE_MS: 10 }), (ev, f) => lines.push([ev, f]), { courier: 'north', boot: 'b1' });
  t.after(() => writer.close());
  assert.equal(await writer.writeRound(1, ['PX-0001'], new Date()), true);
  // Checked out and between two queries: the moment pg-pool does not listen for errors.
  const held = await writer.pool.connect();
  const pid = (await held.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  await server.query('SELECT pg_terminate_backend($1)', [pid]);
  await waitUntil('the server ended that backend', async () => (await server.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [pid])).rows[0].n === 0, 3000);
  await new Promise((r) => setTimeout(r, 100)); // the FATAL message reaches the client
  held.release(true);
  assert.deepEqual(crashes.map((e) => e.message), []);
  assert.equal(await writer.writeRound(2, ['PX-0001'], new Date()), true, 'the next write gets a fresh connection');
  const rows = await server.query('SELECT n, count(*)::int AS c FROM parcel_scans GROUP BY n ORDER BY n');
  assert.deepEqual(rows.rows, [{ n: 1, c: 1 }, { n: 2, c: 1 }]);
});
