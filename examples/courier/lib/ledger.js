'use strict';
// The auditor's bookkeeping: per courier, the highest n seen without a gap for its latest boot.

class Ledger {
  constructor(log) {
    this.log = log;
    this.couriers = new Map(); // courier -> { boot, n, above: Set }
    this.dirty = new Set();
  }

  highest(courier) {
    return this.couriers.get(courier)?.n ?? 0;
  }

  record(id, fields) {
    const { courier, boot } = fields || {};
    const n = Number(fields?.n);
    if (!courier || !boot || !Number.isInteger(n) || n < 1) {
      this.log('audit.bad', { id, error: 'entry needs courier, boot and n (an integer from 1)' });
      return;
    }
    let s = this.couriers.get(courier);
    if (!s || s.boot !== boot) {
      this.log('audit.boot', { courier, boot, previous_n: s ? s.n : null });
      s = { boot, n: 0, above: new Set() };
      this.couriers.set(courier, s);
      this.dirty.add(courier);
    }
    if (n <= s.n || s.above.has(n)) {
      this.log('audit.duplicate', { courier, boot, n });
      return;
    }
    if (n === s.n + 1) {
      s.n = n;
      while (s.above.delete(s.n + 1)) s.n += 1;
      this.dirty.add(courier);
      return;
    }
    // Logged when a gap opens, not for every entry that arrives behind it.
    if (!s.above.size) this.log('audit.gap', { courier, boot, after: s.n, got: n });
    s.above.add(n);
  }
}

module.exports = { Ledger };
