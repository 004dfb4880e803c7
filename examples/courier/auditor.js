'use strict';
// The auditor: reads the scan stream and keeps, per courier, the highest n seen without a
// gap for that courier's latest boot, in fleet.audit.<courier>. Start: node auditor.js
const { once } = require('node:events');
const { loadOrExit } = require('./lib/config');
const { makeLog, describe } = require('./lib/log');
const { Alarms } = require('./lib/alarms');
const { RedisLink } = require('./lib/link');
const { Ledger } = require('./lib/ledger');
const { Sleeper, withTimeout } = require('./lib/time');
const { onStop } = require('./lib/lifecycle');
const wire = require('./lib/wire');

const BLOCK_MS = 1000;
const BATCH = 500;

function main() {
  const cfg = loadOrExit();
  const log = makeLog('auditor');
  const alarms = new Alarms(cfg, 'auditor', log);
  const link = new RedisLink({ cfg, log, alarms });
  const ledger = new Ledger(log);
  const sleeper = new Sleeper();
  const stopper = new AbortController();
  let closed = false;
  let lastId = '0-0'; // from the start: a restarted auditor rebuilds the same figures
  log('auditor.start', { flaws: cfg.flaws });

  const flush = async () => {
    for (const courier of ledger.dirty) {
      await withTimeout(link.cmd.set(wire.auditKey(courier), String(ledger.highest(courier))), cfg.REDIS_TIMEOUT_MS, 'SET');
      ledger.dirty.delete(courier);
    }
  };

  const read = async () => {
    while (!closed) {
      if (!link.up) {
        await once(link, 'up', { signal: stopper.signal }).catch(() => {});
        continue;
      }
      try {
        const reply = await link.aux.xRead({ key: wire.SCAN_STREAM, id: lastId }, { BLOCK: BLOCK_MS, COUNT: BATCH });
        for (const { messages } of reply || []) {
          for (const { id, message } of messages) {
            ledger.record(id, message);
            lastId = id;
          }
        }
        await flush();
      } catch (err) {
        if (closed) return;
        // A lost connection is the link's to report and repair; anything else, do not spin.
        if (link.up) await sleeper.sleep(BLOCK_MS);
      }
    }
  };

  let ready = false;
  link.on('up', () => {
    if (!ready) log('auditor.ready', { stream: wire.SCAN_STREAM });
    ready = true;
  });
  link.start();
  read().catch((err) => {
    log('proc.crash', { error: describe(err) });
    process.exit(1);
  });

  onStop(log, async () => {
    closed = true;
    sleeper.wakeAll();
    stopper.abort();
    await link.close();
  });
}

main();
