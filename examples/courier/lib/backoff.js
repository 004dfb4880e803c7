'use strict';
// Delays for the Redis reconnect loop: base * 2^(attempt-1), capped, then +/- jitter.
// The value returned is both the one logged and the one slept, so a log is never a guess.
// It keeps microseconds: at whole milliseconds a 100 ms delay's jitter is hard to tell from
// rounding, and the timers round the sleep anyway.

function withJitter(ms, cfg, rand) {
  if (cfg.has('exact-backoff') || cfg.BACKOFF_JITTER_PCT === 0) return ms;
  const spread = (ms * cfg.BACKOFF_JITTER_PCT) / 100;
  return Math.max(0, Math.round((ms + (rand() * 2 - 1) * spread) * 1000) / 1000);
}

function redialDelay(attempt, cfg, rand = Math.random) {
  const exact = Math.min(cfg.BACKOFF_BASE_MS * 2 ** (attempt - 1), cfg.BACKOFF_CAP_MS);
  return withJitter(exact, cfg, rand);
}

// Once the breaker is open the loop stops growing and keeps knocking at the cap.
function breakerDelay(cfg, rand = Math.random) {
  return withJitter(cfg.BACKOFF_CAP_MS, cfg, rand);
}

// Database write retries: their own, shorter, unjittered scale (base, 2*base, 4*base ...).
function writeRetryDelay(retry, cfg) {
  return cfg.STORE_RETRY_BASE_MS * 2 ** (retry - 1);
}

module.exports = { redialDelay, breakerDelay, writeRetryDelay };
