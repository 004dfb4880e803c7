'use strict';
// The dispatch coordinator: assigns parcels to couriers by orders, watches their pulses,
// probes PostgreSQL, raises alarms. Start: node dispatch.js
const { randomUUID } = require('node:crypto');
const { loadOrExit } = require('./lib/config');
const { makeLog, describe } = require('./lib/log');
const { Alarms } = require('./lib/alarms');
const { RedisLink } = require('./lib/link');
const { Roster } = require('./lib/roster');
const { probe } = require('./lib/store');
const { Sleeper } = require('./lib/time');
const { onStop, every } = require('./lib/lifecycle');
const wire = require('./lib/wire');

function main() {
  const cfg = loadOrExit();
  const log = makeLog('dispatch');
  const alarms = new Alarms(cfg, 'dispatch', log);
  const link = new RedisLink({ cfg, log, alarms });
  const roster = new Roster(cfg, Date.now());
  const sleeper = new Sleeper();
  let closed = false;
  let ready = false;
  log('dispatch.start', { boot: randomUUID(), parcels: cfg.PARCELS, flaws: cfg.flaws });

  const send = ({ courier, op, parcel, why }) => {
    // Sent while Redis is away, an order is lost like any pub/sub message: the courier's
    // next pulses show the gap and resendMissing() repairs it.
    const cmd = link.up && link.cmd;
    if (!cmd) return;
    cmd.publish(wire.orderChannel(courier), wire.buildOrder(op, parcel, why)).catch(() => {});
  };
  const act = (actions) => {
    for (const [ev, fields] of actions.logs) log(ev, fields);
    for (const order of actions.orders) send(order);
  };

  link.psubscribe(wire.PULSE_PATTERN, (message, channel) => {
    let pulse;
    try {
      pulse = wire.parsePulse(message);
      if (channel !== wire.pulseChannel(pulse.courier)) throw new Error(`courier ${pulse.courier} pulsed on ${channel}`);
    } catch (err) {
      log('pulse.bad', { channel, error: describe(err) });
      return;
    }
    act(roster.pulse(pulse, Date.now()));
  });
  link.on('up', () => {
    roster.listening(Date.now());
    if (!ready) {
      ready = true;
      log('dispatch.ready', { parcels: cfg.PARCELS, pattern: wire.PULSE_PATTERN });
    }
  });
  link.on('down', () => roster.deaf());
  link.start();

  const isClosed = () => closed;
  every(cfg.SWEEP_MS, () => act(roster.sweep(Date.now())), sleeper, isClosed);
  sleeper.sleep(cfg.WATCH_MS).then(() => every(cfg.WATCH_MS, () => {
    const s = roster.watch();
    log('watch.tick', s);
    if (s.couriers > 0 && s.live === 0) {
      log('fleet.blind', { couriers: s.couriers, lost: s.lost });
      alarms.raise('fleet-blind', `all ${s.couriers} known couriers are lost; no parcel is being scanned`);
    }
  }, sleeper, isClosed));

  if (!cfg.has('no-store-probe')) {
    let failures = 0;
    let downSince = 0;
    every(cfg.STORE_PROBE_MS, async () => {
      try {
        await probe(cfg);
        if (failures) log('store.recovered', { failed_probes: failures, down_ms: Date.now() - downSince });
        failures = 0;
      } catch (err) {
        if (closed) return;
        failures += 1;
        if (failures === 1) downSince = Date.now();
        log('store.probe_failed', { attempt: failures, threshold: cfg.STORE_ALARM_AFTER, error: describe(err) });
        if (failures === cfg.STORE_ALARM_AFTER) {
          log('store.unreachable', { failures });
          alarms.raise('store-unreachable', `PostgreSQL failed ${failures} probes in a row: ${describe(err)}`);
        }
      }
    }, sleeper, isClosed);
  }

  onStop(log, async () => {
    closed = true;
    sleeper.wakeAll();
    await link.close();
  });
}

main();
