'use strict';
// Every setting comes from the environment, in milliseconds (counts are plain integers).
// The defaults are the chaos guide's real timings; tests shrink them through env.

const FLAWS = Object.freeze({
  'no-redial': 'after the first Redis loss the process gives up on Redis for good (it stays up, deaf and mute)',
  'exact-backoff': 'no jitter: Redis retry delays are exact powers of two times the base',
  'keep-lost-parcels': 'dispatch never moves the parcels of a lost courier',
  'restart-blind': 'dispatch never notices a new boot: no restart line, no resync',
  'restart-every-pulse': 'dispatch keeps the first boot it saw, so every later pulse of a restarted courier reads as a restart',
  'keep-zombies': 'dispatch never tells a courier to drop a parcel it does not own',
  'single-write': 'a failed database write is given up at once, never retried',
  'silent-alarms': 'no alarm is ever written to the alarm file',
  'alarm-flood': 'alarms are not rate limited: every raise is written',
  'deaf-after-redial': 'after a Redis reconnect a courier does not subscribe to its order channel again (its pulses go on)',
  'no-store-probe': 'dispatch never probes PostgreSQL',
});

// name: [default, minimum, what it is]
const NUMBERS = Object.freeze({
  PULSE_MS: [10000, 1, 'interval between two pulses of a courier'],
  DEADLINE_MS: [60000, 1, 'silence after which dispatch declares a courier lost'],
  SWEEP_MS: [1000, 1, 'how often dispatch checks deadlines, unowned parcels and zombies'],
  WATCH_MS: [30000, 1, 'how often the watch loop checks that some courier is alive'],
  BOOT_GRACE_MS: [20000, 0, 'dispatch waits this long after start before it assigns parcels'],
  RESEND_DEBOUNCE_MS: [5000, 0, 'minimum gap between two resends of parcels to one courier'],
  ORPHAN_GRACE_MS: [20000, 0, 'how long a courier must keep pulsing a parcel it does not own before it is told to drop it'],
  BACKOFF_BASE_MS: [1000, 1, 'first Redis retry delay; doubles each attempt'],
  BACKOFF_CAP_MS: [60000, 1, 'largest Redis retry delay'],
  BACKOFF_JITTER_PCT: [10, 0, 'Redis retry delay jitter, plus or minus this percentage'],
  BREAKER_AFTER: [10, 1, 'consecutive failed Redis attempts after which the breaker opens'],
  REDIS_TIMEOUT_MS: [2000, 1, 'Redis connect and PING timeout'],
  REDIS_PING_MS: [2000, 1, 'interval of the PING that notices a silent Redis connection'],
  STORE_PROBE_MS: [30000, 1, 'interval of the dispatch PostgreSQL probe'],
  STORE_PROBE_TIMEOUT_MS: [5000, 1, 'timeout of one probe (connect and SELECT 1)'],
  STORE_ALARM_AFTER: [3, 1, 'consecutive failed probes that raise store-unreachable'],
  STORE_WRITE_TIMEOUT_MS: [5000, 1, 'a write attempt taking longer than this fails (also the server statement_timeout)'],
  STORE_WRITE_ATTEMPTS: [4, 1, 'attempts per write, the first included'],
  STORE_RETRY_BASE_MS: [250, 0, 'first write retry delay; doubles each retry'],
  ALARM_QUIET_MS: [300000, 0, 'after an alarm is written, the same alarm name is suppressed this long (per process)'],
  SCAN_MS: [1000, 1, 'interval of a courier scan round'],
  PARCELS: [12, 0, 'number of parcels dispatch creates (PX-0001 ...)'],
});

const STRINGS = Object.freeze({
  FLEET_REDIS_URL: ['redis://127.0.0.1:6379', 'Redis URL'],
  FLEET_STORE_URL: ['postgresql://postgres@127.0.0.1:5432/postgres', 'PostgreSQL URL'],
  FLEET_ALARM_FILE: ['fleet-alarms.jsonl', 'alarm file (JSON lines, appended)'],
  FLEET_FLAWS: ['', 'comma-separated flaw names, each removing one behaviour'],
  COURIER_ID: ['', 'courier id (courier.js only; --id wins)'],
});

class ConfigError extends Error {}

function readNumber(env, name) {
  const [fallback, min] = NUMBERS[name];
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  // A converter may write 250 ms as "250.0"; a fraction of a millisecond is a unit mistake.
  if (!/^\d+(\.0*)?$/.test(raw.trim())) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)} is not accepted: give a whole number (milliseconds or a count), e.g. ${fallback}`);
  }
  const value = Number(raw.trim());
  if (value < min) throw new ConfigError(`${name}=${value} is too small: the least accepted value is ${min}`);
  if (name === 'BACKOFF_JITTER_PCT' && value > 100) {
    throw new ConfigError(`BACKOFF_JITTER_PCT=${value} is too large: accepted 0 to 100`);
  }
  return value;
}

function readFlaws(raw) {
  const names = (raw || '').split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !Object.hasOwn(FLAWS, n));
  if (unknown.length) {
    throw new ConfigError(`FLEET_FLAWS has unknown names ${unknown.join(', ')}; accepted: ${Object.keys(FLAWS).join(', ')}`);
  }
  return Object.freeze([...new Set(names)]);
}

function courierId(argv, env) {
  const at = argv.indexOf('--id');
  const id = at >= 0 ? argv[at + 1] : env.COURIER_ID;
  if (!id) throw new ConfigError('a courier needs an id: node courier.js --id north (or COURIER_ID=north)');
  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(id)) {
    throw new ConfigError(`courier id ${JSON.stringify(id)} is not accepted: lower-case letters, digits, '_' and '-', starting with a letter or digit`);
  }
  return id;
}

function load(env = process.env) {
  const cfg = {};
  for (const name of Object.keys(NUMBERS)) cfg[name] = readNumber(env, name);
  for (const [name, [fallback]] of Object.entries(STRINGS)) cfg[name] = env[name] || fallback;
  if (cfg.BACKOFF_CAP_MS < cfg.BACKOFF_BASE_MS) {
    throw new ConfigError(`BACKOFF_CAP_MS=${cfg.BACKOFF_CAP_MS} is below BACKOFF_BASE_MS=${cfg.BACKOFF_BASE_MS}: the cap must be at least the base`);
  }
  cfg.flaws = readFlaws(env.FLEET_FLAWS);
  cfg.has = (flaw) => cfg.flaws.includes(flaw);
  return Object.freeze(cfg);
}

// Bad input ends the process before anything starts: exit 2 with what was wrong.
function loadOrExit(env = process.env) {
  try {
    return load(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`config error: ${err.message}\n`);
    process.exit(2);
  }
}

module.exports = { FLAWS, NUMBERS, STRINGS, ConfigError, load, loadOrExit, courierId };
