'use strict';
// One JSON object per line on stdout. Every event has a fixed level and a fixed key order
// (ts, lvl, svc, ev, then the fields below in this order), so a regex can match a line.

// ev: [level, fields in order, meaning]
const EVENTS = Object.freeze({
  'dispatch.start': ['info', ['boot', 'parcels', 'flaws'], 'dispatch process started'],
  'dispatch.ready': ['info', ['parcels', 'pattern'], 'dispatch connected to Redis and listens to pulses'],
  'courier.start': ['info', ['courier', 'boot', 'flaws'], 'courier process started'],
  'courier.ready': ['info', ['courier', 'boot', 'channel'], 'courier subscribed to its orders; pulses start now'],
  'auditor.start': ['info', ['flaws'], 'auditor process started'],
  'auditor.ready': ['info', ['stream'], 'auditor connected and reads the stream'],
  'proc.stopping': ['info', ['signal'], 'SIGTERM or SIGINT received; shutting down'],
  'proc.stopped': ['info', ['ms'], 'shutdown finished; the process exits 0'],
  'proc.crash': ['error', ['error'], 'an unexpected error; the process exits 1'],

  'redis.connected': ['info', ['reconnects', 'attempts'], 'Redis connection (re)established; reconnects counts every success after a loss, attempts the failures before this one'],
  'redis.disconnected': ['warn', ['reason'], 'the Redis connection was lost; reconnecting starts at once'],
  'redis.retry': ['warn', ['attempt', 'wait_ms', 'error'], 'a connection attempt failed; the next one follows after wait_ms (the delay actually used)'],
  'redis.breaker_open': ['error', ['failures'], 'BREAKER_AFTER consecutive failures; retries go on at BACKOFF_CAP_MS'],
  'redis.breaker_closed': ['info', ['failures'], 'a connection succeeded while the breaker was open'],
  'redis.subscribed': ['info', ['mode', 'target', 'reconnects'], 'a (P)SUBSCRIBE was (re-)established; reconnects > 0 means after a reconnect'],
  'redis.gave_up': ['error', ['reason'], 'flaw no-redial: the process will not reconnect to Redis again'],

  'alarm.raised': ['error', ['alarm', 'text'], 'an alarm line was appended to FLEET_ALARM_FILE'],
  'alarm.suppressed': ['info', ['alarm', 'quiet_left_ms'], 'the same alarm was written less than ALARM_QUIET_MS ago; not written'],
  'alarm.write_failed': ['error', ['alarm', 'error'], 'the alarm file could not be written'],

  'courier.joined': ['info', ['courier', 'boot', 'parcels'], 'first pulse of a courier (parcels: how many it holds)'],
  'courier.lost': ['warn', ['courier', 'silent_ms', 'parcels'], 'no pulse for DEADLINE_MS (parcels: how many dispatch had given it)'],
  'courier.back': ['info', ['courier', 'boot'], 'a lost courier pulses again'],
  'courier.restarted': ['warn', ['courier', 'old_boot', 'new_boot'], 'a known courier pulses with a new boot'],
  'courier.resynced': ['info', ['courier', 'parcels'], 'after a restart, all its parcels were re-sent (parcels: the count)'],
  'parcel.assigned': ['info', ['parcel', 'to'], 'an unowned parcel was given to the least loaded live courier'],
  'parcel.adopted': ['info', ['parcel', 'to'], 'an unowned parcel already pulsed by a live courier was left with it'],
  'parcel.reassigned': ['info', ['parcel', 'from', 'to'], 'a parcel of a lost courier was moved to a live one'],
  'parcel.stranded': ['warn', ['parcel', 'from'], 'no live courier to take a parcel (logged once until it is placed)'],
  'parcel.resent': ['info', ['courier', 'count', 'parcels'], 'a courier\'s pulse lacks parcels it was given; the take orders are sent again'],
  'zombie.found': ['warn', ['courier', 'parcels'], 'a courier pulsed parcels it does not own for ORPHAN_GRACE_MS'],
  'zombie.drop': ['info', ['courier', 'parcel', 'owner'], 'a drop order was sent for one zombie parcel (owner: its real owner or null)'],
  'pulse.bad': ['warn', ['channel', 'error'], 'a pulse that is not the documented JSON'],
  'watch.tick': ['info', ['couriers', 'live', 'lost', 'parcels', 'placed', 'unplaced'], 'the watch loop ran (every WATCH_MS)'],
  'fleet.blind': ['error', ['couriers', 'lost'], 'couriers are known and every one is lost'],
  'store.probe_failed': ['warn', ['attempt', 'threshold', 'error'], 'a PostgreSQL probe failed (attempt: consecutive failures)'],
  'store.unreachable': ['error', ['failures'], 'STORE_ALARM_AFTER consecutive probes failed'],
  'store.recovered': ['info', ['failed_probes', 'down_ms'], 'a probe succeeded after failures'],

  'order.take': ['info', ['parcel', 'why', 'held'], 'a take order was applied (idempotent; held: parcels now held)'],
  'order.drop': ['info', ['parcel', 'why', 'held'], 'a drop order was applied; the parcel is no longer scanned'],
  'order.bad': ['warn', ['raw', 'error'], 'an order that is not the documented JSON'],
  'scan.unsent': ['warn', ['n', 'error'], 'XADD of scan event n failed; the same n is used next round'],
  'courier.degraded': ['warn', ['error'], 'a database write attempt failed; health is "degraded" until a write succeeds'],
  'courier.healthy': ['info', [], 'a database write succeeded after the courier was degraded'],
  'store.schema_ready': ['info', ['table'], 'the parcel_scans table exists'],
  'store.write_retry': ['warn', ['round', 'attempt', 'of', 'wait_ms', 'error'], 'write attempt failed; retrying after wait_ms'],
  'store.write_recovered': ['info', ['round', 'attempts'], 'a write succeeded after a retry'],
  'store.write_landed_late': ['warn', ['round', 'attempts'], 'a retry found the rows already there: an attempt that timed out had committed'],
  'store.write_gave_up': ['error', ['round', 'attempts', 'rows', 'error'], 'every attempt failed; the round\'s rows are not written'],

  'audit.boot': ['info', ['courier', 'boot', 'previous_n'], 'first scan event of a new boot of a courier; its count starts again'],
  'audit.gap': ['warn', ['courier', 'boot', 'after', 'got'], 'scan event got arrived while after was the highest gap-free n'],
  'audit.duplicate': ['warn', ['courier', 'boot', 'n'], 'a scan event n seen twice'],
  'audit.bad': ['warn', ['id', 'error'], 'a stream entry without the documented fields'],
});

function describe(err) {
  if (!err) return 'unknown error';
  if (err.errors && err.errors.length) return describe(err.errors[0]);
  const text = err.message || err.code || String(err);
  return err.code && !text.includes(err.code) ? `${err.code}: ${text}` : text;
}

function makeLog(svc, out = process.stdout) {
  return function log(ev, fields = {}) {
    const spec = EVENTS[ev];
    if (!spec) throw new Error(`log event ${ev} is not in the catalogue`);
    const [lvl, keys] = spec;
    const extra = Object.keys(fields).filter((k) => !keys.includes(k));
    if (extra.length) throw new Error(`log event ${ev} has no field ${extra.join(', ')}`);
    const rec = { ts: new Date().toISOString(), lvl, svc, ev };
    for (const k of keys) rec[k] = fields[k] === undefined ? null : fields[k];
    out.write(`${JSON.stringify(rec)}\n`);
  };
}

module.exports = { EVENTS, makeLog, describe };
