'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { Roster } = require('../lib/roster');
const { cfg } = require('./helpers');

const evs = (actions, ev) => actions.logs.filter(([e]) => e === ev).map(([, f]) => f);
const pulse = (courier, boot, parcels = []) => ({ courier, boot, parcels });

function fleetOfTwo(settings = cfg()) {
  const r = new Roster(settings, 0);
  r.listening(0);
  r.pulse(pulse('north', 'n1'), 100);
  r.pulse(pulse('south', 's1'), 100);
  const placed = r.sweep(1000);
  return { r, placed };
}

test('after the boot grace every parcel goes to exactly one courier, balanced', () => {
  const r = new Roster(cfg(), 0);
  r.listening(0);
  r.pulse(pulse('north', 'n1'), 100);
  r.pulse(pulse('south', 's1'), 100);
  assert.equal(r.sweep(999).orders.length, 0, 'nothing is assigned inside the boot grace');
  const out = r.sweep(1000);
  assert.deepEqual(out.orders.map((o) => `${o.courier}:${o.parcel}:${o.why}`), [
    'north:PX-0001:assign', 'south:PX-0002:assign', 'north:PX-0003:assign', 'south:PX-0004:assign',
  ]);
  assert.equal(evs(out, 'parcel.assigned').length, 4);
});

test('a courier silent past the deadline is lost and its parcels move to a live one', () => {
  const { r } = fleetOfTwo();
  r.pulse(pulse('south', 's1', ['PX-0002', 'PX-0004']), 2000);
  assert.equal(evs(r.sweep(3100), 'courier.lost').length, 0, 'north was heard at 100: 3000 ms silence is not yet past the deadline');
  const out = r.sweep(3101);
  assert.deepEqual(evs(out, 'courier.lost'), [{ courier: 'north', silent_ms: 3001, parcels: 2 }]);
  assert.deepEqual(evs(out, 'parcel.reassigned'), [
    { parcel: 'PX-0001', from: 'north', to: 'south' }, { parcel: 'PX-0003', from: 'north', to: 'south' },
  ]);
  assert.deepEqual(r.parcelsOf('south'), ['PX-0001', 'PX-0002', 'PX-0003', 'PX-0004']);
});

test('keep-lost-parcels: a lost courier keeps its parcels', () => {
  const { r } = fleetOfTwo(cfg({ FLEET_FLAWS: 'keep-lost-parcels' }));
  r.pulse(pulse('south', 's1', ['PX-0002', 'PX-0004']), 3000);
  const out = r.sweep(3200);
  assert.equal(evs(out, 'courier.lost').length, 1);
  assert.equal(evs(out, 'parcel.reassigned').length, 0);
  assert.deepEqual(r.parcelsOf('north'), ['PX-0001', 'PX-0003']);
});

test('silence while dispatch itself cannot hear Redis does not count', () => {
  const { r } = fleetOfTwo();
  r.deaf();
  assert.equal(evs(r.sweep(10000), 'courier.lost').length, 0);
  r.listening(10000);
  assert.equal(evs(r.sweep(12000), 'courier.lost').length, 0, 'only 2000 ms of listening');
  assert.equal(evs(r.sweep(13001), 'courier.lost').length, 2);
});

test('a new boot is one restart line and one resync of every parcel the courier owns', () => {
  const { r } = fleetOfTwo();
  const out = r.pulse(pulse('north', 'n2'), 2000);
  assert.deepEqual(evs(out, 'courier.restarted'), [{ courier: 'north', old_boot: 'n1', new_boot: 'n2' }]);
  assert.deepEqual(evs(out, 'courier.resynced'), [{ courier: 'north', parcels: 2 }]);
  assert.deepEqual(out.orders.map((o) => `${o.op}:${o.parcel}:${o.why}`), ['take:PX-0001:resync', 'take:PX-0003:resync']);
  const later = r.pulse(pulse('north', 'n2', ['PX-0001', 'PX-0003']), 2250);
  assert.equal(evs(later, 'courier.restarted').length, 0, 'the same boot again is no restart');
});

test('restart-blind: a new boot is not noticed', () => {
  const { r } = fleetOfTwo(cfg({ FLEET_FLAWS: 'restart-blind' }));
  assert.equal(evs(r.pulse(pulse('north', 'n2'), 2000), 'courier.restarted').length, 0);
});

test('restart-every-pulse: every later pulse reads as a restart, resyncs stay debounced', () => {
  const { r } = fleetOfTwo(cfg({ FLEET_FLAWS: 'restart-every-pulse' }));
  const outs = [2000, 2250, 2500, 3000].map((t) => r.pulse(pulse('north', 'n2', ['PX-0001', 'PX-0003']), t));
  assert.equal(outs.flatMap((o) => evs(o, 'courier.restarted')).length, 4);
  assert.equal(outs.flatMap((o) => evs(o, 'courier.resynced')).length, 2, 'at 2000 and again at 3000');
});

test('parcels missing from a pulse are resent once the debounce has passed', () => {
  const { r } = fleetOfTwo();
  assert.equal(r.pulse(pulse('north', 'n1', []), 1500).orders.length, 0, 'assigned at 1000: too fresh');
  const out = r.pulse(pulse('north', 'n1', ['PX-0001']), 2000);
  assert.deepEqual(evs(out, 'parcel.resent'), [{ courier: 'north', count: 1, parcels: ['PX-0003'] }]);
  assert.equal(r.pulse(pulse('north', 'n1', ['PX-0001']), 2500).orders.length, 0, 'debounced');
});

test('a parcel pulsed by a courier that does not own it is dropped after the grace', () => {
  const { r } = fleetOfTwo();
  r.pulse(pulse('north', 'n1', ['PX-0001', 'PX-0003', 'PX-0002', 'PX-9999']), 2000);
  r.pulse(pulse('south', 's1', ['PX-0002', 'PX-0004']), 2000);
  assert.equal(evs(r.sweep(2000), 'zombie.found').length, 0, 'first seen now: inside the grace');
  const out = r.sweep(3000);
  assert.deepEqual(evs(out, 'zombie.found'), [{ courier: 'north', parcels: ['PX-0002', 'PX-9999'] }]);
  assert.deepEqual(evs(out, 'zombie.drop'), [
    { courier: 'north', parcel: 'PX-0002', owner: 'south' }, { courier: 'north', parcel: 'PX-9999', owner: null },
  ]);
  assert.deepEqual(out.orders.map((o) => `${o.courier}:${o.op}:${o.parcel}`), ['north:drop:PX-0002', 'north:drop:PX-9999']);
});

test('keep-zombies: nothing is dropped', () => {
  const { r } = fleetOfTwo(cfg({ FLEET_FLAWS: 'keep-zombies' }));
  r.pulse(pulse('north', 'n1', ['PX-0002']), 2000);
  r.sweep(2000);
  const out = r.sweep(4000);
  assert.equal(evs(out, 'zombie.found').length, 0);
  assert.equal(out.orders.filter((o) => o.op === 'drop').length, 0);
});

test('after a dispatch restart the parcels couriers already hold are adopted, not moved', () => {
  const r = new Roster(cfg(), 0);
  r.listening(0);
  r.pulse(pulse('north', 'n1', ['PX-0001', 'PX-0002', 'PX-0003']), 100);
  r.pulse(pulse('south', 's1', []), 100);
  const out = r.sweep(1000);
  assert.equal(evs(out, 'parcel.adopted').length, 3);
  assert.deepEqual(out.orders.map((o) => `${o.courier}:${o.parcel}`), ['south:PX-0004']);
});

test('the watch sees a blind fleet only when couriers are known and all are lost', () => {
  const r = new Roster(cfg(), 0);
  r.listening(0);
  assert.equal(r.watch().couriers, 0);
  r.pulse(pulse('north', 'n1'), 100);
  r.sweep(1000);
  assert.deepEqual(r.watch(), { couriers: 1, live: 1, lost: 0, parcels: 4, placed: 4, unplaced: 0 });
  const out = r.sweep(3101);
  assert.equal(evs(out, 'parcel.stranded').length, 4);
  assert.equal(evs(r.sweep(3500), 'parcel.stranded').length, 0, 'stranded is logged once');
  assert.deepEqual(r.watch(), { couriers: 1, live: 0, lost: 1, parcels: 4, placed: 0, unplaced: 4 });
});
