'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { load, ConfigError, courierId, FLAWS, NUMBERS } = require('../lib/config');
const { redialDelay, breakerDelay, writeRetryDelay } = require('../lib/backoff');
const { Ledger } = require('../lib/ledger');
const { Alarms } = require('../lib/alarms');
const { EVENTS, makeLog } = require('../lib/log');
const wire = require('../lib/wire');
const { cfg } = require('./helpers');

test('defaults are the guide\'s timings', () => {
  const c = load({});
  assert.deepEqual([c.PULSE_MS, c.DEADLINE_MS, c.WATCH_MS, c.STORE_PROBE_MS, c.STORE_ALARM_AFTER], [10000, 60000, 30000, 30000, 3]);
  assert.deepEqual([c.BACKOFF_BASE_MS, c.BACKOFF_CAP_MS, c.BACKOFF_JITTER_PCT, c.BREAKER_AFTER, c.ALARM_QUIET_MS], [1000, 60000, 10, 10, 300000]);
});

test('bad settings are refused with what was wrong and what is accepted', () => {
  assert.throws(() => load({ PULSE_MS: '2.5s' }), (e) => e instanceof ConfigError && /PULSE_MS="2.5s".*whole number/.test(e.message));
  assert.throws(() => load({ PULSE_MS: '0.25' }), /whole number/);
  assert.equal(load({ PULSE_MS: '250.0' }).PULSE_MS, 250, 'an integral decimal is that integer');
  assert.throws(() => load({ BACKOFF_JITTER_PCT: '150' }), /accepted 0 to 100/);
  assert.throws(() => load({ BACKOFF_CAP_MS: '10', BACKOFF_BASE_MS: '100' }), /cap must be at least the base/);
  assert.throws(() => load({ FLEET_FLAWS: 'no-redial,typo' }), (e) => e.message.includes('unknown names typo') && e.message.includes(Object.keys(FLAWS).join(', ')));
  assert.throws(() => courierId([], {}), /needs an id/);
  assert.throws(() => courierId(['--id', 'North!'], {}), /not accepted/);
  assert.equal(courierId(['--id', 'north'], { COURIER_ID: 'south' }), 'north');
});

test('an unknown flaw name makes the process exit 2 and list the accepted names', () => {
  const { spawnSync } = require('node:child_process');
  const out = spawnSync(process.execPath, [path.join(__dirname, '..', 'dispatch.js')], { env: { ...process.env, FLEET_FLAWS: 'nope' }, encoding: 'utf8' });
  assert.equal(out.status, 2);
  assert.match(out.stderr, /unknown names nope; accepted: no-redial, exact-backoff/);
});

test('redial delays double from the base up to the cap, each within the jitter', () => {
  const c = cfg({ BACKOFF_BASE_MS: 1000, BACKOFF_CAP_MS: 60000, BACKOFF_JITTER_PCT: 10 });
  const exact = [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000];
  exact.forEach((ms, i) => {
    assert.equal(redialDelay(i + 1, c, () => 0), Math.round(ms * 0.9 * 1000) / 1000);
    assert.equal(redialDelay(i + 1, c, () => 1), Math.round(ms * 1.1 * 1000) / 1000);
    assert.equal(redialDelay(i + 1, c, () => 0.5), ms);
  });
  assert.equal(breakerDelay(c, () => 0), 54000);
  assert.equal(redialDelay(1, cfg({ BACKOFF_BASE_MS: 100, BACKOFF_JITTER_PCT: 10 }), () => 0.6173), 102.346);
});

test('exact-backoff removes the jitter', () => {
  const c = cfg({ FLEET_FLAWS: 'exact-backoff' });
  assert.deepEqual([1, 2, 3].map((k) => redialDelay(k, c, () => 0)), [1000, 2000, 4000]);
  assert.deepEqual([1, 2, 3].map((k) => writeRetryDelay(k, c)), [250, 500, 1000]);
});

test('the ledger keeps the highest gap-free n per courier and starts again on a new boot', () => {
  const lines = [];
  const ledger = new Ledger((ev, f) => lines.push([ev, f]));
  const rec = (n, boot = 'b1') => ledger.record(`0-${n}`, { courier: 'north', boot, n: String(n) });
  [1, 2, 4].forEach((n) => rec(n));
  assert.equal(ledger.highest('north'), 2);
  rec(3);
  assert.equal(ledger.highest('north'), 4, 'the gap closed');
  rec(4);
  rec(1, 'b2');
  assert.equal(ledger.highest('north'), 1);
  assert.deepEqual(lines.map(([ev]) => ev), ['audit.boot', 'audit.gap', 'audit.duplicate', 'audit.boot']);
  assert.deepEqual(lines[1][1], { courier: 'north', boot: 'b1', after: 2, got: 4 });
});

test('alarms are written to the file and the same name is suppressed for ALARM_QUIET_MS', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'alarms-')), 'a.jsonl');
  let now = Date.parse('2026-12-01T16:00:00.000Z');
  const logged = [];
  const a = new Alarms(cfg({ FLEET_ALARM_FILE: file, ALARM_QUIET_MS: 1000 }), 'dispatch', (ev, f) => logged.push([ev, f]), () => now);
  assert.equal(a.raise('fleet-blind', 'all lost'), true);
  now += 999;
  assert.equal(a.raise('fleet-blind', 'all lost'), false);
  assert.equal(a.raise('store-unreachable', 'down'), true, 'rate limits are per alarm name');
  now += 1;
  assert.equal(a.raise('fleet-blind', 'all lost'), true);
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.alarm), ['fleet-blind', 'store-unreachable', 'fleet-blind']);
  assert.deepEqual(Object.keys(lines[0]), ['ts', 'alarm', 'svc', 'text']);
  assert.equal(lines[0].ts, '2026-12-01T16:00:00.000Z');
  assert.deepEqual(logged[1], ['alarm.suppressed', { alarm: 'fleet-blind', quiet_left_ms: 1 }]);
});

test('alarm-flood writes every raise; silent-alarms writes none', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alarms-'));
  const flood = new Alarms(cfg({ FLEET_ALARM_FILE: path.join(dir, 'f'), FLEET_FLAWS: 'alarm-flood' }), 'x', () => {});
  assert.deepEqual([flood.raise('fleet-blind', 't'), flood.raise('fleet-blind', 't')], [true, true]);
  const silent = new Alarms(cfg({ FLEET_ALARM_FILE: path.join(dir, 's'), FLEET_FLAWS: 'silent-alarms' }), 'x', () => {});
  assert.equal(silent.raise('fleet-blind', 't'), false);
  assert.equal(fs.existsSync(path.join(dir, 's')), false);
});

test('log lines have a fixed key order and refuse fields outside the catalogue', () => {
  let out = '';
  const log = makeLog('north', { write: (s) => { out += s; } });
  log('redis.retry', { wait_ms: 412, attempt: 3, error: 'x' });
  const rec = JSON.parse(out);
  assert.deepEqual(Object.keys(rec), ['ts', 'lvl', 'svc', 'ev', 'attempt', 'wait_ms', 'error']);
  assert.match(rec.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.throws(() => log('redis.retry', { attempts: 3 }), /no field attempts/);
  assert.throws(() => log('nope', {}), /not in the catalogue/);
});

test('every log call in the sources names a catalogued event with catalogued fields', () => {
  const root = path.join(__dirname, '..');
  const files = ['dispatch.js', 'courier.js', 'auditor.js', ...fs.readdirSync(path.join(root, 'lib')).map((f) => `lib/${f}`)];
  let calls = 0;
  for (const f of files) {
    const src = fs.readFileSync(path.join(root, f), 'utf8');
    for (const m of src.matchAll(/log\('([a-z_.]+)', \{([^}]*)\}/g)) {
      calls += 1;
      assert.ok(EVENTS[m[1]], `${f}: ${m[1]} is not catalogued`);
      const keys = [...m[2].matchAll(/(?:^|,)\s*([a-z_]+)(?=\s*[:,]|\s*$)/g)].map((k) => k[1]);
      for (const k of keys) assert.ok(EVENTS[m[1]][1].includes(k), `${f}: ${m[1]} has no field ${k}`);
    }
  }
  assert.ok(calls > 40, `found only ${calls} log calls`);
});

test('pulses and orders parse back to what was built, and junk is refused', () => {
  const raw = wire.buildPulse({ courier: 'north', boot: 'b', parcels: new Set(['PX-0002', 'PX-0001']), health: 'ok', since: 's', counters: {} });
  assert.deepEqual(Object.keys(JSON.parse(raw)), ['who', 'load', 'health', 'since', 'at', 'counters']);
  assert.deepEqual(wire.parsePulse(raw), { courier: 'north', boot: 'b', parcels: ['PX-0001', 'PX-0002'], health: 'ok' });
  assert.throws(() => wire.parsePulse('{"who":{}}'), /who.courier/);
  assert.deepEqual(wire.parseOrder('{"op":"take","parcel":"PX-0001"}'), { op: 'take', parcel: 'PX-0001', why: null });
  assert.throws(() => wire.parseOrder('{"op":"steal","parcel":"PX-0001"}'), /one of take, drop/);
  assert.throws(() => wire.parseOrder('nope'), /not JSON/);
  assert.deepEqual(wire.catalogue(2), ['PX-0001', 'PX-0002']);
});

test('every number setting has a default and a floor', () => {
  for (const [name, [fallback, min]] of Object.entries(NUMBERS)) assert.ok(fallback >= min, name);
});
