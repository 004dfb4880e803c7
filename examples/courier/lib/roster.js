'use strict';
// Dispatch's rules as pure logic: pulses and clock ticks in, log lines and orders out.
// No I/O here, so each rule (lost, reassign, restart, zombie) is tested on its own.
const { catalogue } = require('./wire');

class Actions {
  constructor() {
    this.logs = [];
    this.orders = [];
  }

  log(ev, fields) {
    this.logs.push([ev, fields]);
  }

  order(courier, op, parcel, why) {
    this.orders.push({ courier, op, parcel, why });
  }
}

class Roster {
  constructor(cfg, now) {
    this.cfg = cfg;
    this.startedAt = now;
    this.parcels = catalogue(cfg.PARCELS);
    this.known = new Set(this.parcels);
    this.owner = new Map(); // parcel -> courier id
    this.assignedAt = new Map();
    this.stranded = new Set();
    this.couriers = new Map();
    // Silence only counts while dispatch itself could hear: a Redis outage on our side is
    // no evidence that couriers died.
    this.listeningSince = null;
  }

  listening(now) {
    this.listeningSince = now;
  }

  deaf() {
    this.listeningSince = null;
  }

  parcelsOf(courier) {
    return this.parcels.filter((p) => this.owner.get(p) === courier);
  }

  live() {
    return [...this.couriers.values()].filter((c) => !c.lost);
  }

  pulse({ courier, boot, parcels }, now) {
    const out = new Actions();
    const reported = new Set(parcels);
    const c = this.couriers.get(courier);
    if (!c) {
      this.couriers.set(courier, {
        id: courier, boot, lastPulse: now, reported, lost: false, resentAt: -Infinity, zombieSince: new Map(),
      });
      out.log('courier.joined', { courier, boot, parcels: reported.size });
      return out;
    }
    c.lastPulse = now;
    c.reported = reported;
    if (c.lost) {
      c.lost = false;
      out.log('courier.back', { courier, boot });
    }
    if (boot !== c.boot && !this.cfg.has('restart-blind')) {
      out.log('courier.restarted', { courier, old_boot: c.boot, new_boot: boot });
      if (!this.cfg.has('restart-every-pulse')) c.boot = boot;
      c.zombieSince = new Map();
      if (now - c.resentAt >= this.cfg.RESEND_DEBOUNCE_MS) {
        const mine = this.parcelsOf(courier);
        for (const p of mine) out.order(courier, 'take', p, 'resync');
        c.resentAt = now;
        out.log('courier.resynced', { courier, parcels: mine.length });
      }
      return out;
    }
    this.resendMissing(c, now, out);
    return out;
  }

  // Orders are pub/sub: one sent while a courier was not listening is gone. Its pulse tells.
  resendMissing(c, now, out) {
    const debounce = this.cfg.RESEND_DEBOUNCE_MS;
    const missing = this.parcelsOf(c.id).filter(
      (p) => !c.reported.has(p) && now - (this.assignedAt.get(p) ?? -Infinity) >= debounce,
    );
    if (!missing.length || now - c.resentAt < debounce) return;
    c.resentAt = now;
    for (const p of missing) out.order(c.id, 'take', p, 'resend');
    out.log('parcel.resent', { courier: c.id, count: missing.length, parcels: missing });
  }

  sweep(now) {
    const out = new Actions();
    this.findLost(now, out);
    if (now - this.startedAt >= this.cfg.BOOT_GRACE_MS) this.place(now, out);
    if (!this.cfg.has('keep-zombies')) this.findZombies(now, out);
    return out;
  }

  findLost(now, out) {
    if (this.listeningSince === null) return;
    for (const c of this.couriers.values()) {
      const silent = now - Math.max(c.lastPulse, this.listeningSince);
      if (c.lost || silent <= this.cfg.DEADLINE_MS) continue;
      c.lost = true;
      out.log('courier.lost', { courier: c.id, silent_ms: silent, parcels: this.parcelsOf(c.id).length });
    }
  }

  leastLoaded() {
    const load = (c) => this.parcelsOf(c.id).length;
    const live = this.live().sort((a, b) => load(a) - load(b) || a.id.localeCompare(b.id));
    return live[0]?.id ?? null;
  }

  place(now, out) {
    for (const parcel of this.parcels) {
      const from = this.owner.get(parcel) ?? null;
      const ownerCourier = from && this.couriers.get(from);
      if (ownerCourier && !ownerCourier.lost) {
        this.stranded.delete(parcel);
        continue;
      }
      if (from && this.cfg.has('keep-lost-parcels')) continue;
      if (!from) {
        // After a dispatch restart the couriers still hold what the last dispatch gave them.
        const holder = this.live().filter((c) => c.reported.has(parcel)).sort((a, b) => a.id.localeCompare(b.id))[0];
        if (holder) {
          this.owner.set(parcel, holder.id);
          this.assignedAt.set(parcel, now);
          out.log('parcel.adopted', { parcel, to: holder.id });
          continue;
        }
      }
      const to = this.leastLoaded();
      if (!to) {
        if (!this.stranded.has(parcel)) out.log('parcel.stranded', { parcel, from });
        this.stranded.add(parcel);
        continue;
      }
      this.stranded.delete(parcel);
      this.owner.set(parcel, to);
      this.assignedAt.set(parcel, now);
      out.order(to, 'take', parcel, from ? 'reassign' : 'assign');
      if (from) out.log('parcel.reassigned', { parcel, from, to });
      else out.log('parcel.assigned', { parcel, to });
    }
  }

  // A zombie: a parcel a live courier pulses that is someone else's, or no parcel of ours.
  // Unowned catalogue parcels are left to place(), which adopts them.
  findZombies(now, out) {
    for (const c of this.live()) {
      const zombies = [...c.reported].filter((p) => !this.known.has(p) || (this.owner.has(p) && this.owner.get(p) !== c.id));
      for (const p of c.zombieSince.keys()) if (!zombies.includes(p)) c.zombieSince.delete(p);
      const ripe = [];
      for (const p of zombies.sort()) {
        if (!c.zombieSince.has(p)) c.zombieSince.set(p, now);
        if (now - c.zombieSince.get(p) >= this.cfg.ORPHAN_GRACE_MS) ripe.push(p);
      }
      if (!ripe.length) continue;
      out.log('zombie.found', { courier: c.id, parcels: ripe });
      for (const p of ripe) {
        c.zombieSince.delete(p);
        out.order(c.id, 'drop', p, 'zombie');
        out.log('zombie.drop', { courier: c.id, parcel: p, owner: this.owner.get(p) ?? null });
      }
    }
  }

  watch() {
    const couriers = this.couriers.size;
    const live = this.live().length;
    const placed = this.parcels.filter((p) => {
      const c = this.couriers.get(this.owner.get(p));
      return c && !c.lost;
    }).length;
    return {
      couriers, live, lost: couriers - live, parcels: this.parcels.length, placed, unplaced: this.parcels.length - placed,
    };
  }
}

module.exports = { Roster, Actions };
