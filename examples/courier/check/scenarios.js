'use strict';
// The guide's behaviours, each run against a fresh fleet on real servers. A scenario
// returns { ok, figures }: ok says the behaviour was there, figures say how it measured.
const fs = require('node:fs');
const pg = require('pg');
const { Fleet, Observer } = require('./fleet');
const { waitUntil } = require('./servers');

const FAST = {
  PULSE_MS: 250, DEADLINE_MS: 3000, SWEEP_MS: 250, WATCH_MS: 1000, BOOT_GRACE_MS: 1000,
  RESEND_DEBOUNCE_MS: 1000, ORPHAN_GRACE_MS: 1000, BACKOFF_BASE_MS: 100, BACKOFF_CAP_MS: 2000,
  BACKOFF_JITTER_PCT: 10, BREAKER_AFTER: 5, REDIS_TIMEOUT_MS: 500, REDIS_PING_MS: 500,
  STORE_PROBE_MS: 500, STORE_PROBE_TIMEOUT_MS: 400, STORE_ALARM_AFTER: 3, STORE_WRITE_TIMEOUT_MS: 500,
  STORE_WRITE_ATTEMPTS: 4, STORE_RETRY_BASE_MS: 100, ALARM_QUIET_MS: 3000, SCAN_MS: 250, PARCELS: 6,
};
const COURIERS = ['north', 'south'];
const hold = (ms) => new Promise((r) => setTimeout(r, ms)); // a fault's duration, never a sync
const alarms = (file, name) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '')
  .split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((a) => !name || a.alarm === name);

async function startFleet(ctx, flaws, tag) {
  const alarmFile = `${ctx.dir}/alarms-${ctx.runName || tag}.jsonl`;
  const env = Object.fromEntries(Object.entries({ ...FAST, FLEET_REDIS_URL: ctx.redis.url, FLEET_STORE_URL: ctx.pg.url,
    FLEET_ALARM_FILE: alarmFile, FLEET_FLAWS: flaws.join(',') }).map(([k, v]) => [k, String(v)]));
  const fleet = new Fleet(ctx.dir, env);
  const observer = new Observer(ctx.redis.url);
  await observer.start();
  const t0 = Date.now();
  fleet.start('auditor');
  fleet.start('dispatch');
  for (const c of COURIERS) fleet.start(c);
  await Promise.all([
    fleet.get('dispatch').waitFor('dispatch.ready'),
    fleet.get('auditor').waitFor('auditor.ready'),
    ...COURIERS.map((c) => fleet.get(c).waitFor('courier.ready')),
  ]);
  const steady = await waitUntil('steady state', () => {
    const held = COURIERS.map((c) => observer.parcels(c));
    const all = held.flat();
    return all.length === FAST.PARCELS && new Set(all).size === FAST.PARCELS && held;
  }, 10000);
  return { fleet, observer, alarmFile, env, steadyMs: Date.now() - t0, steady };
}

async function steady(ctx, flaws) {
  const f = await startFleet(ctx, flaws, 'steady');
  const counts = f.steady.map((p) => p.length);
  return { f, ok: Math.max(...counts) - Math.min(...counts) <= 1, figures: { steady_ms: f.steadyMs, held: Object.fromEntries(COURIERS.map((c, i) => [c, f.steady[i]])) } };
}

async function crash(ctx, flaws) {
  const f = await startFleet(ctx, flaws, 'crash');
  const d = f.fleet.get('dispatch');
  const t0 = Date.now();
  await f.fleet.get('north').stop('SIGKILL');
  const lost = await d.waitFor('courier.lost', (l) => l.courier === 'north', FAST.DEADLINE_MS + 3000, t0);
  const covered = await waitUntil('south holds all', () => f.observer.parcels('south').length === FAST.PARCELS, 3000).then(() => Date.now() - t0, () => null);
  const moves = d.events('parcel.reassigned', t0).map((l) => `${l.parcel} ${l.from}->${l.to}`);
  return { f, ok: moves.length === 3 && covered !== null, figures: { lost_after_ms: lost.at - t0, silent_ms: lost.silent_ms, reassigned: moves, south_holds_all_after_ms: covered } };
}

async function restart(ctx, flaws) {
  const f = await startFleet(ctx, flaws, 'restart');
  const d = f.fleet.get('dispatch');
  const before = f.observer.parcels('north');
  const oldBoot = f.observer.latest.get('north').who.boot;
  const t0 = Date.now();
  await f.fleet.get('north').stop('SIGKILL');
  const north = f.fleet.start('north');
  await north.waitFor('courier.ready');
  const back = await waitUntil('north holds its parcels again', () => {
    const p = f.observer.latest.get('north');
    return p && p.who.boot !== oldBoot && before.every((x) => p.load.parcels.includes(x)) && p;
  }, 5000).then(() => Date.now() - t0, () => null);
  await hold(2000); // a window in which a second restart line would show
  const restarted = d.events('courier.restarted', t0);
  const resynced = d.events('courier.resynced', t0);
  return { f, ok: restarted.length === 1 && resynced.length === 1 && back !== null, figures: {
    restarted_lines: restarted.length, detect_ms: restarted[0] ? restarted[0].at - t0 : null,
    resynced: resynced.map((l) => l.parcels), resent_how: d.events('parcel.resent', t0).length ? 'resend' : 'resync', holds_again_ms: back,
  } };
}

async function zombie(ctx, flaws) {
  const f = await startFleet(ctx, flaws, 'zombie');
  const d = f.fleet.get('dispatch');
  const north = f.fleet.get('north');
  const t0 = Date.now();
  north.child.kill('SIGSTOP'); // paused past the deadline: lost, its parcels move on
  await d.waitFor('courier.lost', (l) => l.courier === 'north', FAST.DEADLINE_MS + 3000, t0);
  await waitUntil('reassigned', () => f.observer.parcels('south').length === FAST.PARCELS, 3000).catch(() => {});
  const t1 = Date.now();
  north.child.kill('SIGCONT'); // it wakes up still holding them: zombies
  await d.waitFor('courier.back', (l) => l.courier === 'north', 3000, t1);
  const cleared = await waitUntil('north drops its zombies', () => f.observer.latest.get('north')?.received > t1 && f.observer.parcels('north').length === 0, FAST.ORPHAN_GRACE_MS + 3000)
    .then(() => Date.now() - t1, () => null);
  return { f, ok: cleared !== null, figures: { found: d.events('zombie.found', t1).map((l) => l.parcels), drops: d.events('zombie.drop', t1).length,
    north_empty_after_ms: cleared, north_holds: f.observer.parcels('north') } };
}

async function redisStop(ctx, flaws) {
  const f = await startFleet(ctx, flaws, 'redis');
  const names = ['dispatch', ...COURIERS, 'auditor'];
  const t0 = Date.now();
  await ctx.redis.stop();
  await hold(2000);
  await ctx.redis.start();
  const t1 = Date.now();
  const figures = { retries: {}, reconnected_after_restart_ms: {}, resubscribed: {} };
  const seen = await Promise.all(names.map(async (n) => {
    const p = f.fleet.get(n);
    const up = await p.waitFor('redis.connected', (l) => l.reconnects === 1, 8000, t0).catch(() => null);
    const sub = n === 'auditor' || await p.waitFor('redis.subscribed', (l) => l.reconnects === 1, 1000, t0).then(() => true, () => false);
    figures.retries[n] = p.events('redis.retry', t0).map((l) => l.wait_ms);
    figures.reconnected_after_restart_ms[n] = up ? up.at - t1 : null;
    if (n !== 'auditor') figures.resubscribed[n] = sub;
    return Boolean(up && sub);
  }));
  let ok = seen.every(Boolean);
  // Jitter: some delay differs from the exact base * 2^(attempt-1), capped.
  const exact = (w, i) => w === Math.min(FAST.BACKOFF_BASE_MS * 2 ** i, FAST.BACKOFF_CAP_MS) || w === FAST.BACKOFF_CAP_MS; // the breaker waits the cap
  figures.jittered = Object.values(figures.retries).some((ws) => ws.some((w, i) => !exact(w, i)));
  figures.gave_up = names.filter((n) => f.fleet.get(n).events('redis.gave_up', t0).length);
  ok = ok && figures.jittered;
  const ts = Date.now();
  await f.observer.order('north', 'take', 'PX-0900');
  const took = await f.fleet.get('north').waitFor('order.take', (l) => l.parcel === 'PX-0900', 3000, ts).then((l) => l.at - ts, () => null);
  figures.order_after_reconnect_ms = took;
  // Every parcel on exactly one courier again, none twice.
  figures.one_owner_each_after_ms = await waitUntil('one owner each', () => {
    const all = COURIERS.flatMap((c) => (f.observer.latest.get(c)?.received > t1 ? f.observer.parcels(c) : ['stale']));
    return all.length === FAST.PARCELS && new Set(all).size === FAST.PARCELS && !all.includes('stale');
  }, 3000).then(() => Date.now() - t1, () => null);
  figures.breaker_opened = names.filter((n) => f.fleet.get(n).events('redis.breaker_open', t0).length);
  figures.lost_couriers = f.fleet.get('dispatch').events('courier.lost', t0).length;
  figures.alarms = alarms(f.alarmFile, 'cache-unreachable').map((a) => a.svc);
  // Nothing lost on the stream: the auditor's gap-free count catches up with what was sent.
  const sent = Object.fromEntries(COURIERS.map((c) => [c, f.observer.latest.get(c)?.counters.scans_sent ?? 0]));
  figures.audit_caught_up = await waitUntil('audit caught up', async () => {
    for (const c of COURIERS) if (Number(await f.observer.cmd.get(`fleet.audit.${c}`)) < sent[c]) return false;
    return true;
  }, 3000).catch(() => false);
  figures.audit_gaps = f.fleet.get('auditor').events('audit.gap').length;
  return { f, ok: ok && took !== null && figures.lost_couriers === 0 && figures.audit_caught_up && figures.one_owner_each_after_ms !== null, figures };
}

async function storeStop(ctx, flaws) {
  const f = await startFleet(ctx, flaws, 'store');
  const d = f.fleet.get('dispatch');
  const t0 = Date.now();
  await ctx.pg.stop();
  const third = await d.waitFor('store.probe_failed', (l) => l.attempt === FAST.STORE_ALARM_AFTER, 5000, t0).catch(() => null);
  const alarm = await waitUntil('alarm line', () => alarms(f.alarmFile, 'store-unreachable')[0], 2000).catch(() => null);
  const degraded = f.observer.latest.get('north')?.health;
  const t1 = Date.now();
  await ctx.pg.start();
  const rec = await d.waitFor('store.recovered', () => true, 5000, t1).catch(() => null);
  const healthy = await f.fleet.get('north').waitFor('courier.healthy', () => true, 5000, t1).catch(() => null);
  const alive = [...f.fleet.procs.values()].every((p) => p.child.exitCode === null);
  return { f, ok: Boolean(third && alarm && rec && alive), figures: {
    probe_failures: d.events('store.probe_failed', t0).map((l) => `${l.attempt}/${l.threshold}`),
    alarm_after_ms: alarm ? Date.parse(alarm.ts) - t0 : null, alarm, north_health_while_down: degraded,
    gave_up_writes_north: f.fleet.get('north').events('store.write_gave_up', t0).length,
    recovered: rec && { failed_probes: rec.failed_probes, down_ms: rec.down_ms }, courier_healthy_after_restart_ms: healthy ? healthy.at - t1 : null, all_alive: alive,
  } };
}

async function blind(ctx, flaws) {
  const f = await startFleet(ctx, flaws, 'blind');
  const d = f.fleet.get('dispatch');
  const t0 = Date.now();
  await Promise.all(COURIERS.map((c) => f.fleet.get(c).stop('SIGKILL')));
  const line = await d.waitFor('fleet.blind', () => true, FAST.DEADLINE_MS + FAST.WATCH_MS + 3000, t0).catch(() => null);
  await hold(2 * FAST.WATCH_MS + 200); // two more watch ticks: one more raise each
  const written = alarms(f.alarmFile, 'fleet-blind');
  const suppressed = d.events('alarm.suppressed', t0).filter((l) => l.alarm === 'fleet-blind').length;
  return { f, ok: Boolean(line) && written.length === 1 && suppressed >= 1, figures: {
    blind_after_ms: line ? line.at - t0 : null, blind_lines: d.events('fleet.blind', t0).length, alarm_lines: written.length, suppressed,
    dispatch_alive: d.child.exitCode === null,
  } };
}

async function writeRetry(ctx, flaws) {
  const f = await startFleet(ctx, flaws, 'write');
  const north = f.fleet.get('north');
  await north.waitFor('store.schema_ready', () => true, 5000).catch(() => {});
  await f.fleet.get('south').waitFor('store.schema_ready', () => true, 5000).catch(() => {});
  const locker = new pg.Client({ connectionString: ctx.pg.url });
  await locker.connect();
  const t0 = Date.now();
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE parcel_scans IN ACCESS EXCLUSIVE MODE'); // every write now waits
  // Long enough that a write begun within one scan round of the lock times out at least twice.
  await hold(2 * FAST.STORE_WRITE_TIMEOUT_MS + FAST.SCAN_MS);
  await locker.query('COMMIT');
  await locker.end();
  const rec = await north.waitFor('store.write_recovered', () => true, 4000, t0).catch(() => null);
  if (rec) await waitUntil('a pulse after the recovery', () => f.observer.latest.get('north')?.received > rec.at, 2000).catch(() => {});
  const dup = await ctx.pg.query('SELECT count(*) - count(DISTINCT (boot, n, parcel)) AS d FROM parcel_scans');
  return { f, ok: Boolean(rec) && north.events('store.write_gave_up', t0).length === 0, figures: {
    retries: north.events('store.write_retry', t0).map((l) => `round ${l.round} attempt ${l.attempt}/${l.of} wait ${l.wait_ms}ms: ${l.error}`).slice(0, 3),
    recovered: rec && { round: rec.round, attempts: rec.attempts }, gave_up: north.events('store.write_gave_up', t0).length,
    duplicate_rows: Number(dup.rows[0].d), db_counters: f.observer.latest.get('north')?.counters.db,
  } };
}

module.exports = { steady, crash, restart, zombie, redisStop, storeStop, blind, writeRetry, FAST };
