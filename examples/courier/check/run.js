'use strict';
// Live check on real servers: node check/run.js [name ...]   (names below; default: all)
// Prints one JSON line per run: the scenario, the flaws, whether the behaviour was seen, figures.
const fs = require('node:fs');
const { RedisServer, PostgresServer, tempDir } = require('./servers');
const s = require('./scenarios');

const RUNS = [
  ['steady', s.steady, []],
  ['crash', s.crash, []],
  ['restart', s.restart, []],
  ['zombie', s.zombie, []],
  ['redis', s.redisStop, []],
  ['store', s.storeStop, []],
  ['blind', s.blind, []],
  ['write', s.writeRetry, []],
  ['crash:keep-lost-parcels', s.crash, ['keep-lost-parcels']],
  ['restart:restart-blind', s.restart, ['restart-blind']],
  ['restart:restart-every-pulse', s.restart, ['restart-every-pulse']],
  ['zombie:keep-zombies', s.zombie, ['keep-zombies']],
  ['redis:deaf-after-redial', s.redisStop, ['deaf-after-redial']],
  ['redis:no-redial', s.redisStop, ['no-redial']],
  ['redis:exact-backoff', s.redisStop, ['exact-backoff']],
  ['store:silent-alarms', s.storeStop, ['silent-alarms']],
  ['store:no-store-probe', s.storeStop, ['no-store-probe']],
  ['blind:alarm-flood', s.blind, ['alarm-flood']],
  ['write:single-write', s.writeRetry, ['single-write']],
];

async function main() {
  const wanted = process.argv.slice(2);
  const runs = wanted.length ? RUNS.filter(([name]) => wanted.includes(name)) : RUNS;
  if (!runs.length) throw new Error(`no such run; known: ${RUNS.map(([n]) => n).join(', ')}`);
  const dir = tempDir();
  const redis = new RedisServer(dir);
  const pg = new PostgresServer(dir);
  const ctx = { dir, redis, pg };
  let failures = 0;
  try {
    await Promise.all([redis.start(), pg.start()]);
    process.stderr.write(`servers: ${redis.url} ${pg.url}; logs in ${dir}\n`);
    for (const [name, scenario, flaws] of runs) {
      if (!redis.child) await redis.start();
      if (!pg.child) await pg.start();
      await pg.query('DROP TABLE IF EXISTS parcel_scans');
      ctx.runName = name.replace(':', '_');
      const t0 = Date.now();
      let result;
      try {
        result = await scenario(ctx, flaws);
      } catch (err) {
        result = { ok: null, figures: { error: err.message } };
      }
      if (result.f) {
        await result.f.fleet.stopAll();
        await result.f.observer.close();
        // SIGTERM must end every process cleanly: exit 0, no crash line, nothing on stderr.
        const unclean = [...result.f.fleet.procs.values()]
          .filter((p) => p.events('proc.crash').length || p.stderr.trim() || (p.child.exitCode !== 0 && p.child.signalCode !== 'SIGKILL'))
          .map((p) => `${p.name}: exit ${p.child.exitCode ?? p.child.signalCode}, ${p.events('proc.crash').length} crash lines, stderr ${JSON.stringify(p.stderr.slice(0, 200))}`);
        if (unclean.length) result = { ok: null, figures: { ...result.figures, unclean } };
      }
      // Without flaws the behaviour must be there; with one, it must be gone.
      const expected = flaws.length === 0;
      if (result.ok !== expected) failures += 1;
      process.stdout.write(`${JSON.stringify({ run: name, flaws, behaviour_seen: result.ok, as_expected: result.ok === expected, ms: Date.now() - t0, figures: result.figures })}\n`);
      const { createClient } = require('redis');
      const c = createClient({ url: redis.url });
      await c.connect();
      await c.flushAll();
      await c.disconnect();
    }
  } finally {
    await Promise.all([redis.stop(), pg.stop()]);
    // The logs stay for a look; the database files (tens of MB) do not.
    fs.rmSync(pg.data, { recursive: true, force: true });
  }
  process.stderr.write(`${runs.length - failures}/${runs.length} runs as expected\n`);
  process.exitCode = failures ? 1 : 0;
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
