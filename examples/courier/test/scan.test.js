'use strict';
// The scan write against a real redis-server (skipped when none is on PATH).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { createClient } = require('redis');
const { RedisServer, tempDir } = require('../check/servers');
const wire = require('../lib/wire');
const { hasRedis } = require('./helpers');

test('a scan sent again with the same n (its reply was lost) is written once', { skip: !hasRedis && 'no redis-server' }, async (t) => {
  const dir = tempDir();
  const server = new RedisServer(dir);
  await server.start();
  const client = createClient({ url: server.url, socket: { reconnectStrategy: false } });
  client.on('error', () => {});
  await client.connect();
  t.after(async () => {
    await client.disconnect();
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const send = (courier, boot, n) => client.eval(wire.SEND_SCAN, {
    keys: [wire.SCAN_STREAM, wire.SCAN_LAST],
    arguments: wire.scanArguments({ courier, boot, n }),
  });
  const wrote = [];
  for (const [courier, boot, n] of [['north', 'b1', 1], ['north', 'b1', 2], ['north', 'b1', 2],
    ['north', 'b1', 1], ['south', 'b1', 1], ['north', 'b2', 1], ['north', 'b1', 3]]) {
    wrote.push(await send(courier, boot, n));
  }
  assert.deepEqual(wrote, [1, 1, 0, 0, 1, 1, 1]);
  const entries = (await client.xRange(wire.SCAN_STREAM, '-', '+')).map((e) => ({ ...e.message }));
  assert.deepEqual(entries, [
    { courier: 'north', boot: 'b1', n: '1' },
    { courier: 'north', boot: 'b1', n: '2' },
    { courier: 'south', boot: 'b1', n: '1' },
    { courier: 'north', boot: 'b2', n: '1' },
    { courier: 'north', boot: 'b1', n: '3' },
  ]);
});
