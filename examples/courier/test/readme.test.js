'use strict';
// README.md is the interface the chaoslib profile is written from: it must match the code.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { EVENTS } = require('../lib/log');
const { NUMBERS, FLAWS, STRINGS } = require('../lib/config');

const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');

test('every event has a table row with its level and fields in order', () => {
  for (const [ev, [lvl, fields]] of Object.entries(EVENTS)) {
    const cells = fields.length ? fields.map((f) => `\`${f}\``).join(', ') : '(none)';
    assert.ok(readme.includes(`| \`${ev}\` | ${lvl} | ${cells} |`), `README row for ${ev}`);
  }
});

test('every example log line has the key order of its event', () => {
  const examples = readme.split('\n').filter((l) => l.startsWith('{"ts"') && l.includes('"ev"'));
  const shown = new Set();
  for (const line of examples) {
    const rec = JSON.parse(line);
    const spec = EVENTS[rec.ev];
    assert.ok(spec, `example of unknown event ${rec.ev}`);
    assert.deepEqual(Object.keys(rec), ['ts', 'lvl', 'svc', 'ev', ...spec[1]], `key order of the ${rec.ev} example`);
    assert.equal(rec.lvl, spec[0], `level of the ${rec.ev} example`);
    shown.add(rec.ev);
  }
  assert.deepEqual(Object.keys(EVENTS).filter((ev) => !shown.has(ev)), [], 'events without an example line');
});

test('every setting is documented with its default, and every flaw', () => {
  for (const [name, [fallback, min]] of Object.entries(NUMBERS)) {
    assert.match(readme, new RegExp(`\\| \`${name}\` \\| [a-z]+ \\| ${fallback} \\| ${min} \\|`), name);
  }
  for (const name of Object.keys(STRINGS)) assert.ok(readme.includes(`| \`${name}\` |`), name);
  for (const name of Object.keys(FLAWS)) assert.ok(readme.includes(`| \`${name}\` |`), name);
});
