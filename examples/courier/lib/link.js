'use strict';
// The Redis link: two connections (cmd for commands, aux for subscriptions or blocking reads)
// that live and die together, driven by our own reconnect loop. node-redis's built-in
// reconnect is off, so every delay we log is the delay we slept, and every subscription
// after a reconnect is one we made on purpose.
const { EventEmitter } = require('node:events');
const { createClient } = require('redis');
const { redialDelay, breakerDelay } = require('./backoff');
const { describe } = require('./log');
const { Sleeper, withTimeout } = require('./time');

class RedisLink extends EventEmitter {
  // resubscribe=false: subscriptions are made on the first connection only (flaw deaf-after-redial).
  constructor({ cfg, log, alarms, resubscribe = true, rand = Math.random }) {
    super();
    this.cfg = cfg;
    this.log = log;
    this.alarms = alarms;
    this.resubscribe = resubscribe;
    this.rand = rand;
    this.subs = [];
    this.cmd = null;
    this.aux = null;
    this.up = false;
    this.closed = false;
    this.gaveUp = false;
    this.reconnects = 0;
    this.sleeper = new Sleeper();
    this.loseNow = null;
    this.done = null;
    this.generation = 0;
  }

  subscribe(channel, handler) {
    this.subs.push({ mode: 'subscribe', target: channel, handler });
  }

  psubscribe(pattern, handler) {
    this.subs.push({ mode: 'psubscribe', target: pattern, handler });
  }

  start() {
    this.done = this.run().catch((err) => {
      this.log('proc.crash', { error: `redis link: ${describe(err)}` });
      process.exit(1);
    });
  }

  async run() {
    let attempts = 0;
    let everUp = false;
    let breakerOpen = false;
    while (!this.closed) {
      try {
        await this.open();
      } catch (err) {
        await this.teardown();
        if (this.closed) return;
        attempts += 1;
        if (attempts === 1 && !everUp) this.raiseAlarm(describe(err));
        if (!breakerOpen && attempts >= this.cfg.BREAKER_AFTER) {
          breakerOpen = true;
          this.log('redis.breaker_open', { failures: attempts });
        }
        const wait = breakerOpen ? breakerDelay(this.cfg, this.rand) : redialDelay(attempts, this.cfg, this.rand);
        this.log('redis.retry', { attempt: attempts, wait_ms: wait, error: describe(err) });
        await this.sleeper.sleep(wait);
        continue;
      }
      if (breakerOpen) this.log('redis.breaker_closed', { failures: attempts });
      if (everUp) this.reconnects += 1;
      this.log('redis.connected', { reconnects: this.reconnects, attempts });
      const again = everUp;
      everUp = true;
      attempts = 0;
      breakerOpen = false;
      const reason = await this.serve(again);
      await this.teardown();
      if (this.closed) return;
      this.log('redis.disconnected', { reason });
      this.emit('down');
      this.raiseAlarm(reason);
      if (this.cfg.has('no-redial')) {
        this.gaveUp = true;
        this.log('redis.gave_up', { reason: 'flaw no-redial' });
        // Deaf and mute, but up: without a pending timer a process with nothing else to do
        // (the auditor) would exit on its own.
        this.keepAlive = setInterval(() => {}, 2 ** 30);
        return;
      }
    }
  }

  raiseAlarm(reason) {
    this.alarms.raise('cache-unreachable', `Redis at ${this.cfg.FLEET_REDIS_URL} unreachable: ${reason}`);
  }

  async open() {
    const options = {
      url: this.cfg.FLEET_REDIS_URL,
      disableOfflineQueue: true,
      socket: { connectTimeout: this.cfg.REDIS_TIMEOUT_MS, reconnectStrategy: false },
    };
    const t = this.cfg.REDIS_TIMEOUT_MS;
    const generation = ++this.generation;
    this.cmd = createClient(options);
    this.aux = createClient(options);
    for (const client of [this.cmd, this.aux]) {
      // Before serve() sets loseNow these are failures open() already sees as rejections, and
      // a torn-down client of an older generation must not end the connection that replaced it.
      client.on('error', (err) => {
        if (generation === this.generation) this.loseNow?.(describe(err));
      });
    }
    await withTimeout(this.cmd.connect(), t, 'connect');
    // A blackholed path accepts TCP and then says nothing: only a reply proves Redis is there.
    await withTimeout(this.cmd.ping(), t, 'PING');
    await withTimeout(this.aux.connect(), t, 'connect');
  }

  // Subscribe, report up, then wait for the first sign of loss; returns its reason.
  async serve(again) {
    const lost = new Promise((resolve) => {
      this.loseNow = (reason) => {
        this.loseNow = null;
        resolve(reason);
      };
    });
    try {
      if (!again || this.resubscribe) await this.subscribeAll();
    } catch (err) {
      this.loseNow?.(`subscribe: ${describe(err)}`);
      return lost;
    }
    this.up = true;
    this.emit('up', { again });
    const ping = setInterval(() => this.ping(), this.cfg.REDIS_PING_MS);
    const reason = await lost;
    clearInterval(ping);
    this.up = false;
    return reason;
  }

  async subscribeAll() {
    for (const { mode, target, handler } of this.subs) {
      const listen = mode === 'subscribe' ? this.aux.subscribe.bind(this.aux) : this.aux.pSubscribe.bind(this.aux);
      await withTimeout(listen(target, (message, channel) => handler(message, channel)), this.cfg.REDIS_TIMEOUT_MS, mode);
      this.log('redis.subscribed', { mode, target, reconnects: this.reconnects });
    }
  }

  async ping() {
    if (this.pinging || !this.cmd) return;
    this.pinging = true;
    try {
      await withTimeout(this.cmd.ping(), this.cfg.REDIS_TIMEOUT_MS, 'PING');
    } catch (err) {
      this.loseNow?.(describe(err));
    } finally {
      this.pinging = false;
    }
  }

  async teardown() {
    const clients = [this.cmd, this.aux].filter(Boolean);
    this.cmd = null;
    this.aux = null;
    await Promise.all(clients.map((c) => Promise.resolve().then(() => c.disconnect()).catch(() => {})));
  }

  // No QUIT: node-redis marks a quitting client closed, so the disconnect() that follows can
  // no longer destroy its socket, and a late reply then lands in an emptied queue and throws.
  async close() {
    this.closed = true;
    clearInterval(this.keepAlive);
    this.sleeper.wakeAll();
    this.loseNow?.('closing');
    await this.teardown();
    if (this.done) await this.done;
  }
}

module.exports = { RedisLink };
