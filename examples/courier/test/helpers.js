'use strict';
const { execFileSync } = require('node:child_process');
const { load } = require('../lib/config');

// Settings as the processes read them, from an env of strings.
function cfg(overrides = {}) {
  const env = { PARCELS: '4', DEADLINE_MS: '3000', BOOT_GRACE_MS: '1000', RESEND_DEBOUNCE_MS: '1000', ORPHAN_GRACE_MS: '1000' };
  for (const [k, v] of Object.entries(overrides)) env[k] = String(v);
  return load(env);
}

// The tests against a real server skip themselves when none is on PATH.
const hasRedis = (() => {
  try {
    execFileSync('redis-server', ['--version']);
    return true;
  } catch {
    return false;
  }
})();

module.exports = { cfg, hasRedis };
