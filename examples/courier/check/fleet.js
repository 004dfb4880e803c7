'use strict';
// The processes under check, their parsed log lines, and a pulse observer on Redis.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const { createClient } = require('redis');
const { waitUntil, exited } = require('./servers');

const ROOT = path.resolve(__dirname, '..');

class Proc {
  constructor(name, script, args, env, dir) {
    this.name = name;
    this.lines = [];
    this.child = spawn(process.execPath, [path.join(ROOT, script), ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const raw = fs.createWriteStream(path.join(dir, `${name}.log`), { flags: 'a' });
    readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
      raw.write(`${line}\n`);
      try {
        this.lines.push({ at: Date.now(), ...JSON.parse(line) });
      } catch {
        this.lines.push({ at: Date.now(), ev: 'not-json', line });
      }
    });
    this.stderr = '';
    this.child.stderr.on('data', (d) => { this.stderr += d; });
  }

  events(ev, since = 0) {
    return this.lines.filter((l) => l.ev === ev && l.at >= since);
  }

  waitFor(ev, pred = () => true, timeoutMs = 10000, since = 0) {
    return waitUntil(`${this.name} ${ev}`, () => this.lines.find((l) => l.ev === ev && l.at >= since && pred(l)), timeoutMs, 20);
  }

  async stop(signal = 'SIGTERM') {
    this.child.kill(signal);
    await exited(this.child);
  }
}

class Fleet {
  constructor(dir, env) {
    this.dir = dir;
    this.env = env;
    this.procs = new Map();
  }

  start(name, extraEnv = {}) {
    const [script, args] = name === 'dispatch' || name === 'auditor' ? [`${name}.js`, []] : ['courier.js', ['--id', name]];
    const proc = new Proc(name, script, args, { ...process.env, ...this.env, ...extraEnv }, this.dir);
    this.procs.set(name, proc);
    return proc;
  }

  get(name) {
    return this.procs.get(name);
  }

  async stopAll() {
    await Promise.all([...this.procs.values()].map((p) => p.stop().catch(() => {})));
  }
}

// Listens to every pulse like dispatch does, and sends orders like a test harness would.
class Observer {
  constructor(url) {
    this.url = url;
    this.latest = new Map();
    this.count = 0;
  }

  async start() {
    const opts = { url: this.url, socket: { reconnectStrategy: (n) => Math.min(50 * (n + 1), 200) } };
    this.sub = createClient(opts);
    this.cmd = createClient(opts);
    for (const c of [this.sub, this.cmd]) c.on('error', () => {});
    await Promise.all([this.sub.connect(), this.cmd.connect()]);
    await this.sub.pSubscribe('fleet.pulse.*', (message) => {
      const p = JSON.parse(message);
      this.count += 1;
      this.latest.set(p.who.courier, { ...p, received: Date.now() });
    });
  }

  parcels(courier) {
    return this.latest.get(courier)?.load.parcels ?? [];
  }

  order(courier, op, parcel) {
    return this.cmd.publish(`fleet.orders.${courier}`, JSON.stringify({ op, parcel }));
  }

  async close() {
    await Promise.all([this.sub, this.cmd].map((c) => c?.disconnect().catch(() => {})));
  }
}

module.exports = { Fleet, Observer };
