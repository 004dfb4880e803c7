'use strict';
// Timers that can be cut short on shutdown, and a deadline for any promise.

class TimeoutError extends Error {}

// A sleep that close() can end early, so shutdown never waits out a long backoff.
class Sleeper {
  constructor() {
    this.pending = new Set();
  }

  sleep(ms) {
    return new Promise((resolve) => {
      const entry = { resolve };
      entry.timer = setTimeout(() => {
        this.pending.delete(entry);
        resolve();
      }, ms);
      this.pending.add(entry);
    });
  }

  wakeAll() {
    for (const entry of this.pending) {
      clearTimeout(entry.timer);
      entry.resolve();
    }
    this.pending.clear();
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what} took longer than ${ms} ms`)), ms);
  });
  // The loser of the race may settle later; it must not become an unhandled rejection.
  promise.catch(() => {});
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

module.exports = { Sleeper, withTimeout, TimeoutError };
