'use strict';

// index.d.ts under `tsc --strict`: a usage file that must compile, with lines that must not.
// Runs when tsc is on PATH (Debian: apt-get install node-typescript); skipped otherwise.

const { it } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const tsc = spawnSync('tsc', ['--version'], { encoding: 'utf8' });
const available = tsc.status === 0;

it('index.d.ts compiles with tsc --strict and rejects wrong calls', { skip: available ? false : 'tsc is not installed' }, () => {
  const result = spawnSync('tsc', ['-p', path.join(__dirname, 'types')], { encoding: 'utf8' });
  assert.equal(result.status, 0, `${tsc.stdout.trim()}:\n${result.stdout}${result.stderr}`);
});
