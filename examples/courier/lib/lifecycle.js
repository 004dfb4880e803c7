'use strict';
// Clean shutdown on SIGTERM/SIGINT, and a visible exit on anything unexpected.
const { describe } = require('./log');

const FORCE_EXIT_MS = 3000;

function onStop(log, stop) {
  let stopping = false;
  const handler = async (signal) => {
    if (stopping) return;
    stopping = true;
    const t0 = Date.now();
    log('proc.stopping', { signal });
    // A stop that hangs on a blackholed socket must not keep the process alive.
    const force = setTimeout(() => {
      log('proc.stopped', { ms: Date.now() - t0 });
      process.exit(0);
    }, FORCE_EXIT_MS);
    try {
      await stop();
    } catch (err) {
      log('proc.crash', { error: `while stopping: ${describe(err)}` });
    }
    clearTimeout(force);
    log('proc.stopped', { ms: Date.now() - t0 });
    process.exit(0);
  };
  process.on('SIGTERM', () => handler('SIGTERM'));
  process.on('SIGINT', () => handler('SIGINT'));
  const crash = (err) => {
    log('proc.crash', { error: describe(err) });
    process.exit(1);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
}

// setInterval that never overlaps itself: the next run starts `ms` after the previous began,
// or right after it ended if it overran.
function every(ms, fn, sleeper, isClosed) {
  return (async () => {
    while (!isClosed()) {
      const t0 = Date.now();
      await fn();
      if (isClosed()) return;
      await sleeper.sleep(Math.max(0, ms - (Date.now() - t0)));
    }
  })();
}

module.exports = { onStop, every };
