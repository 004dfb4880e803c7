'use strict';
// The Redis link against a real redis-server (skipped when none is on PATH).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { once } = require('node:events');
const { createClient } = require('redis');
const { RedisLink } = require('../lib/link');
const { RedisServer, tempDir, waitUntil } = require('../check/servers');
const { cfg, hasRedis } = require('./helpers');

function quietAlarms() {
  return { raise: () => false };
}

test('close() with a command still in flight ends quietly: no reply lands in an emptied queue', { skip: !hasRedis && 'no redis-server' }, async (t) => {
  const dir = tempDir();
  const server = new RedisServer(dir);
  await server.start();
  t.after(async () => {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const crashes = [];
  const onCrash = (err) => crashes.push(err);
  process.on('uncaughtException', onCrash);
  t.after(() => process.off('uncaughtException', onCrash));
  const lines = [];
  const link = new RedisLink({ cfg: cfg({ FLEET_REDIS_URL: server.url, REDIS_PING_MS: 60000 }), log: (ev, f) => lines.push([ev, f]), alarms: quietAlarms() });
  link.start();
  await once(link, 'up');
  // A reply that arrives ~200 ms from now, after close() has already returned.
  const pending = link.cmd.blPop('courier-test-never', 0.2).catch(() => 'rejected');
  await link.close();
  assert.equal(await pending, 'rejected', 'close() fails what was in flight');
  const probe = createClient({ url: server.url, socket: { reconnectStrategy: false } });
  probe.on('error', () => {});
  await probe.connect();
  await waitUntil('the blocked command timed out on the server', async () => /blocked_clients:0/.test(await probe.info('clients')), 3000);
  await probe.disconnect();
  await new Promise((r) => setTimeout(r, 50)); // let any late reply reach the closed client
  assert.deepEqual(crashes.map((e) => e.message), []);
  assert.deepEqual(lines.map(([ev]) => ev), ['redis.connected']);
});

test('a lost server is retried with growing delays and the subscription comes back', { skip: !hasRedis && 'no redis-server' }, async (t) => {
  const dir = tempDir();
  const server = new RedisServer(dir);
  await server.start();
  t.after(async () => {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const lines = [];
  const link = new RedisLink({ cfg: cfg({ FLEET_REDIS_URL: server.url, BACKOFF_BASE_MS: 50, BACKOFF_CAP_MS: 400, REDIS_TIMEOUT_MS: 300 }),
    log: (ev, f) => lines.push([ev, f]), alarms: quietAlarms() });
  const got = [];
  link.subscribe('courier-test', (m) => got.push(m));
  link.start();
  t.after(() => link.close());
  await once(link, 'up');
  await server.stop();
  await waitUntil('three retries', () => lines.filter(([ev]) => ev === 'redis.retry').length >= 3, 5000, 10);
  await server.start();
  await waitUntil('resubscribed', () => lines.some(([ev, f]) => ev === 'redis.subscribed' && f.reconnects === 1), 5000, 10);
  const waits = lines.filter(([ev]) => ev === 'redis.retry').map(([, f]) => f.wait_ms);
  for (let i = 1; i < Math.min(waits.length, 4); i += 1) assert.ok(waits[i] > waits[i - 1], `delays grow: ${waits}`);
  assert.ok(lines.some(([ev]) => ev === 'redis.disconnected'));
  assert.deepEqual(lines.filter(([ev]) => ev === 'redis.connected').map(([, f]) => f.reconnects), [0, 1]);
  await link.cmd.publish('courier-test', 'hello');
  await waitUntil('message after the reconnect', () => got.includes('hello'), 2000, 10);
});
