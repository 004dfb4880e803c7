'use strict';
// PostgreSQL: the dispatch probe, and the courier's scan writes with retries.
const pg = require('pg');
const { writeRetryDelay } = require('./backoff');
const { describe } = require('./log');
const { Sleeper, withTimeout, TimeoutError } = require('./time');

const TABLE = 'parcel_scans';

// Two couriers may create the table at once; CREATE ... IF NOT EXISTS alone can then fail
// on the catalog's unique index, so creation is serialised by an advisory lock.
const SCHEMA = [
  'BEGIN',
  'SELECT pg_advisory_xact_lock(7130417)',
  `CREATE TABLE IF NOT EXISTS ${TABLE} (parcel text NOT NULL, courier text NOT NULL, boot text NOT NULL,
     scanned_at timestamptz NOT NULL, n int NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS ${TABLE}_boot_n ON ${TABLE} (boot, n)`,
  'COMMIT',
];

// One statement per round, so a round lands whole or not at all. The NOT EXISTS makes a
// retry after a timeout harmless: if the timed-out attempt committed, nothing is added.
const INSERT = `INSERT INTO ${TABLE} (parcel, courier, boot, scanned_at, n)
  SELECT p, $2, $3, $4, $5 FROM unnest($1::text[]) AS p
  WHERE NOT EXISTS (SELECT 1 FROM ${TABLE} WHERE boot = $3 AND n = $5)`;

// A blackholed socket would keep end() waiting; cut it.
function destroy(client) {
  try {
    client.connection?.stream?.destroy();
  } catch {
    // already gone
  }
}

async function probe(cfg) {
  const client = new pg.Client({
    connectionString: cfg.FLEET_STORE_URL,
    connectionTimeoutMillis: cfg.STORE_PROBE_TIMEOUT_MS,
  });
  client.on('error', () => {});
  const work = client.connect().then(() => client.query('SELECT 1'));
  try {
    await withTimeout(work, cfg.STORE_PROBE_TIMEOUT_MS, 'probe');
  } catch (err) {
    destroy(client);
    throw err;
  }
  // A polite goodbye keeps the server log free of a reset connection every probe.
  await withTimeout(client.end(), cfg.STORE_PROBE_TIMEOUT_MS, 'probe end').catch(() => destroy(client));
}

class Writer {
  constructor(cfg, log, { courier, boot }) {
    this.cfg = cfg;
    this.log = log;
    this.courier = courier;
    this.boot = boot;
    this.counters = { ok: 0, retried_ok: 0, failed: 0, retries: 0, timed_out: 0, landed_late: 0, failed_unsure: 0 };
    this.healthy = true;
    this.schemaReady = false;
    this.sleeper = new Sleeper();
    this.closed = false;
    this.pool = new pg.Pool({
      connectionString: cfg.FLEET_STORE_URL,
      max: 2,
      connectionTimeoutMillis: cfg.STORE_WRITE_TIMEOUT_MS,
      statement_timeout: cfg.STORE_WRITE_TIMEOUT_MS,
      idleTimeoutMillis: 10000,
    });
    // A connection the server ends (restart, shutdown, pg_terminate_backend) emits 'error'.
    // pg-pool listens only while the connection is idle in the pool; one the courier has
    // checked out would crash the process. The query in flight fails anyway, and is retried.
    this.pool.on('error', () => {});
    this.pool.on('connect', (client) => client.on('error', () => {}));
  }

  health() {
    return this.healthy ? 'ok' : 'degraded';
  }

  async attempt(round, parcels, at) {
    const held = { client: null, abandoned: false };
    const work = this.pool.connect().then(async (client) => {
      if (held.abandoned) {
        client.release(true);
        destroy(client);
        throw new Error('abandoned');
      }
      held.client = client;
      if (!this.schemaReady) {
        for (const sql of SCHEMA) await client.query(sql);
        this.schemaReady = true;
        this.log('store.schema_ready', { table: TABLE });
      }
      const res = await client.query(INSERT, [parcels, this.courier, this.boot, at, round]);
      return res.rowCount;
    });
    try {
      const inserted = await withTimeout(work, this.cfg.STORE_WRITE_TIMEOUT_MS, 'write');
      held.client.release();
      return inserted;
    } catch (err) {
      held.abandoned = true;
      if (held.client) {
        held.client.release(err instanceof Error ? err : new Error(String(err)));
        destroy(held.client);
      }
      throw err;
    }
  }

  setHealth(ok, err) {
    if (ok && !this.healthy) this.log('courier.healthy', {});
    if (!ok && this.healthy) this.log('courier.degraded', { error: describe(err) });
    this.healthy = ok;
  }

  // Writes one row per parcel for this round; true when the rows are in the table.
  async writeRound(round, parcels, at) {
    const of = this.cfg.has('single-write') ? 1 : this.cfg.STORE_WRITE_ATTEMPTS;
    let unsure = false;
    for (let attempt = 1; ; attempt += 1) {
      try {
        const inserted = await this.attempt(round, parcels, at);
        if (inserted === 0) {
          this.counters.landed_late += 1;
          this.log('store.write_landed_late', { round, attempts: attempt });
        }
        if (attempt === 1) this.counters.ok += 1;
        else {
          this.counters.retried_ok += 1;
          this.log('store.write_recovered', { round, attempts: attempt });
        }
        this.setHealth(true);
        return true;
      } catch (err) {
        if (err.code === '42P01') this.schemaReady = false; // someone dropped the table: create it again
        if (err instanceof TimeoutError) {
          this.counters.timed_out += 1;
          unsure = true;
        }
        this.setHealth(false, err);
        if (attempt >= of || this.closed) {
          this.counters.failed += 1;
          // A timed-out attempt may have committed after all: say so instead of guessing.
          if (unsure) this.counters.failed_unsure += 1;
          this.log('store.write_gave_up', { round, attempts: attempt, rows: parcels.length, error: describe(err) });
          return false;
        }
        const wait = writeRetryDelay(attempt, this.cfg);
        this.counters.retries += 1;
        this.log('store.write_retry', { round, attempt, of, wait_ms: wait, error: describe(err) });
        await this.sleeper.sleep(wait);
      }
    }
  }

  async close() {
    this.closed = true;
    this.sleeper.wakeAll();
    await withTimeout(this.pool.end(), 1000, 'pool end').catch(() => {});
  }
}

module.exports = { probe, Writer, TABLE };
