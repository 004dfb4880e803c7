'use strict';
// Alarms go to one file only, one JSON object per line, rate limited per alarm name.
const fs = require('node:fs');
const path = require('node:path');
const { describe } = require('./log');

const ALARMS = Object.freeze(['fleet-blind', 'cache-unreachable', 'store-unreachable']);

class Alarms {
  constructor(cfg, svc, log, clock = Date.now) {
    this.cfg = cfg;
    this.svc = svc;
    this.log = log;
    this.clock = clock;
    this.lastWritten = new Map();
  }

  // Returns true when a line was written.
  raise(alarm, text) {
    if (!ALARMS.includes(alarm)) throw new Error(`unknown alarm ${alarm}`);
    if (this.cfg.has('silent-alarms')) return false;
    const now = this.clock();
    const last = this.lastWritten.get(alarm);
    const quiet = this.cfg.ALARM_QUIET_MS;
    if (!this.cfg.has('alarm-flood') && last !== undefined && now - last < quiet) {
      this.log('alarm.suppressed', { alarm, quiet_left_ms: quiet - (now - last) });
      return false;
    }
    this.lastWritten.set(alarm, now);
    const line = JSON.stringify({ ts: new Date(now).toISOString(), alarm, svc: this.svc, text });
    try {
      fs.mkdirSync(path.dirname(path.resolve(this.cfg.FLEET_ALARM_FILE)), { recursive: true });
      // Several processes append to one file; one small write per line keeps lines whole.
      fs.appendFileSync(this.cfg.FLEET_ALARM_FILE, `${line}\n`);
    } catch (err) {
      this.log('alarm.write_failed', { alarm, error: describe(err) });
      return false;
    }
    this.log('alarm.raised', { alarm, text });
    return true;
  }
}

module.exports = { Alarms, ALARMS };
