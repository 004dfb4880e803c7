'use strict';
// The wire contract: channel and key names, and the JSON of pulses and orders.

const PULSE_PATTERN = 'fleet.pulse.*';
const SCAN_STREAM = 'fleet.scans';
const SCAN_LAST = 'fleet.scans.last'; // hash: "<courier>:<boot>" -> the highest n on the stream
// A scan whose reply was lost (Redis restarted between the XADD and its answer) is sent again
// with the same n next round; checking the boot's last n in the same script makes that resend a
// no-op, not a duplicate. Returns 1 if it wrote, 0 if that n was already there.
const SEND_SCAN = `
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if tonumber(ARGV[2]) <= last then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
return 1`;
const scanArguments = ({ courier, boot, n }) =>
  [`${courier}:${boot}`, String(n), 'courier', courier, 'boot', boot, 'n', String(n)];
const pulseChannel = (courier) => `fleet.pulse.${courier}`;
const orderChannel = (courier) => `fleet.orders.${courier}`;
const auditKey = (courier) => `fleet.audit.${courier}`;
const parcelId = (i) => `PX-${String(i).padStart(4, '0')}`;
const catalogue = (count) => Array.from({ length: count }, (_, i) => parcelId(i + 1));

function buildPulse({ courier, boot, parcels, health, since, counters }) {
  return JSON.stringify({
    who: { courier, boot },
    load: { parcels: [...parcels].sort() },
    health,
    since,
    at: new Date().toISOString(),
    counters,
  });
}

class WireError extends Error {}

function parseJson(raw, what) {
  try {
    return JSON.parse(raw);
  } catch {
    throw new WireError(`${what} is not JSON`);
  }
}

const isText = (v) => typeof v === 'string' && v.length > 0;

// Only the fields dispatch acts on are checked; counters are for observers.
function parsePulse(raw) {
  const p = parseJson(raw, 'pulse');
  if (!p || !p.who || !isText(p.who.courier) || !isText(p.who.boot)) {
    throw new WireError('pulse lacks who.courier or who.boot');
  }
  if (!p.load || !Array.isArray(p.load.parcels) || !p.load.parcels.every(isText)) {
    throw new WireError('pulse lacks load.parcels (an array of parcel ids)');
  }
  return { courier: p.who.courier, boot: p.who.boot, parcels: p.load.parcels, health: p.health };
}

const OPS = Object.freeze(['take', 'drop']);

function buildOrder(op, parcel, why) {
  return JSON.stringify({ op, parcel, why });
}

function parseOrder(raw) {
  const o = parseJson(raw, 'order');
  if (!o || !OPS.includes(o.op)) throw new WireError(`order op must be one of ${OPS.join(', ')}`);
  if (!isText(o.parcel)) throw new WireError('order lacks parcel');
  return { op: o.op, parcel: o.parcel, why: isText(o.why) ? o.why : null };
}

module.exports = {
  PULSE_PATTERN,
  SCAN_STREAM,
  SCAN_LAST,
  SEND_SCAN,
  scanArguments,
  pulseChannel,
  orderChannel,
  auditKey,
  parcelId,
  catalogue,
  buildPulse,
  parsePulse,
  buildOrder,
  parseOrder,
  WireError,
};
