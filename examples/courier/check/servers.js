'use strict';
// Real redis-server and PostgreSQL for the live check, on free ports in a temp directory.
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const pg = require('pg');
const { createClient } = require('redis');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitUntil(what, fn, timeoutMs, stepMs = 50) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${last.message})` : ''}`);
}

function exited(child) {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', resolve));
}

class RedisServer {
  constructor(dir) {
    this.dir = dir;
    this.child = null;
  }

  async start() {
    this.port ??= await freePort();
    this.url = `redis://127.0.0.1:${this.port}`;
    const log = fs.openSync(path.join(this.dir, 'redis.log'), 'a');
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      cwd: this.dir, stdio: ['ignore', log, log],
    });
    await waitUntil('redis ready', async () => {
      const c = createClient({ url: this.url, socket: { reconnectStrategy: false } });
      c.on('error', () => {});
      try {
        await c.connect();
        return (await c.ping()) === 'PONG';
      } finally {
        await c.disconnect().catch(() => {});
      }
    }, 10000);
  }

  async stop() {
    if (!this.child) return;
    const child = this.child;
    this.child = null;
    child.kill('SIGKILL');
    await exited(child);
  }
}

function pgBindir() {
  try {
    return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
  } catch {
    const root = '/usr/lib/postgresql';
    const versions = fs.existsSync(root) ? fs.readdirSync(root).sort() : [];
    if (!versions.length) throw new Error('no PostgreSQL binaries (pg_config or /usr/lib/postgresql/*/bin)');
    return path.join(root, versions.at(-1), 'bin');
  }
}

class PostgresServer {
  constructor(dir) {
    this.dir = dir;
    this.data = path.join(dir, 'pgdata');
    this.sockets = path.join(dir, 'pgsock');
    this.bindir = pgBindir();
    this.child = null;
    // PostgreSQL refuses to run as root: run it as the postgres account.
    this.ids = process.getuid() === 0 ? { uid: Number(execFileSync('id', ['-u', 'postgres'])), gid: Number(execFileSync('id', ['-g', 'postgres'])) } : {};
  }

  async start() {
    if (!fs.existsSync(this.data)) {
      for (const d of [this.data, this.sockets]) {
        fs.mkdirSync(d, { mode: 0o700 });
        if (this.ids.uid !== undefined) fs.chownSync(d, this.ids.uid, this.ids.gid);
      }
      execFileSync(path.join(this.bindir, 'initdb'), ['-D', this.data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8'], { ...this.ids, stdio: 'ignore' });
    }
    this.port ??= await freePort();
    this.url = `postgresql://postgres@127.0.0.1:${this.port}/postgres`;
    const log = fs.openSync(path.join(this.dir, 'pg.log'), 'a');
    this.child = spawn(path.join(this.bindir, 'postgres'), ['-D', this.data, '-p', String(this.port), '-k', this.sockets,
      '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'], { ...this.ids, stdio: ['ignore', log, log] });
    await waitUntil('postgres ready', () => this.query('SELECT 1').then(() => true), 20000, 100);
  }

  async query(sql, values) {
    const c = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 2000 });
    c.on('error', () => {});
    await c.connect();
    try {
      return await c.query(sql, values);
    } finally {
      await c.end().catch(() => {});
    }
  }

  async stop() {
    if (!this.child) return;
    const child = this.child;
    this.child = null;
    child.kill('SIGINT'); // fast shutdown: clients are cut at once
    await exited(child);
  }
}

function tempDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'courier-check-'));
  fs.chmodSync(dir, 0o755); // the postgres account must reach its data directory and socket
  return dir;
}

module.exports = { RedisServer, PostgresServer, tempDir, waitUntil, freePort, exited };
