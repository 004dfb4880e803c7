'use strict';
// A courier worker: takes and drops parcels on orders, pulses what it holds, scans its
// parcels into PostgreSQL and the scan stream. Start: node courier.js --id north
const { randomUUID } = require('node:crypto');
const { loadOrExit, courierId, ConfigError } = require('./lib/config');
const { makeLog, describe } = require('./lib/log');
const { Alarms } = require('./lib/alarms');
const { RedisLink } = require('./lib/link');
const { Writer } = require('./lib/store');
const { Sleeper, withTimeout } = require('./lib/time');
const { onStop, every } = require('./lib/lifecycle');
const wire = require('./lib/wire');

function idOrExit() {
  try {
    return courierId(process.argv, process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`config error: ${err.message}\n`);
    return process.exit(2);
  }
}

function main() {
  const cfg = loadOrExit();
  const id = idOrExit();
  const log = makeLog(id);
  const boot = randomUUID();
  const since = new Date().toISOString();
  const alarms = new Alarms(cfg, id, log);
  const link = new RedisLink({ cfg, log, alarms, resubscribe: !cfg.has('deaf-after-redial') });
  const writer = new Writer(cfg, log, { courier: id, boot });
  const sleeper = new Sleeper();
  const held = new Set();
  let sent = 0; // scan events XADDed with success: the stream's n
  let round = 0; // scan rounds with parcels: the table's n
  let closed = false;
  log('courier.start', { courier: id, boot, flaws: cfg.flaws });

  link.subscribe(wire.orderChannel(id), (message) => {
    let order;
    try {
      order = wire.parseOrder(message);
    } catch (err) {
      log('order.bad', { raw: message.slice(0, 200), error: describe(err) });
      return;
    }
    if (order.op === 'take') held.add(order.parcel);
    else held.delete(order.parcel);
    log(order.op === 'take' ? 'order.take' : 'order.drop', { parcel: order.parcel, why: order.why, held: held.size });
  });

  const pulse = async () => {
    const cmd = link.up && link.cmd;
    if (!cmd) return;
    const counters = { reconnects: link.reconnects, scans_sent: sent, db: { ...writer.counters } };
    const body = wire.buildPulse({ courier: id, boot, parcels: held, health: writer.health(), since, counters });
    await withTimeout(cmd.publish(wire.pulseChannel(id), body), cfg.REDIS_TIMEOUT_MS, 'PUBLISH').catch(() => {});
  };

  const scan = async () => {
    if (!held.size) return;
    const parcels = [...held].sort();
    round += 1;
    const cmd = link.up && link.cmd;
    if (cmd) {
      const n = sent + 1;
      try {
        const send = cmd.eval(wire.SEND_SCAN, {
          keys: [wire.SCAN_STREAM, wire.SCAN_LAST],
          arguments: wire.scanArguments({ courier: id, boot, n }),
        });
        await withTimeout(send, cfg.REDIS_TIMEOUT_MS, 'XADD');
        sent = n;
      } catch (err) {
        log('scan.unsent', { n, error: describe(err) });
      }
    }
    await writer.writeRound(round, parcels, new Date());
  };

  link.on('up', ({ again }) => {
    if (!again) log('courier.ready', { courier: id, boot, channel: wire.orderChannel(id) });
    // The first pulse goes out at once: a restart is noticed, and resynced, without delay.
    pulse();
  });
  link.start();
  const isClosed = () => closed;
  sleeper.sleep(cfg.PULSE_MS).then(() => every(cfg.PULSE_MS, pulse, sleeper, isClosed));
  every(cfg.SCAN_MS, scan, sleeper, isClosed);

  onStop(log, async () => {
    closed = true;
    sleeper.wakeAll();
    await Promise.all([link.close(), writer.close()]);
  });
}

main();
