'use strict';

// examples/node: the car-wash producer and the consumer as child processes against real daemons.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');
const { startThings, track, REPO } = require('./helpers');

const EXAMPLES = path.join(REPO, 'examples', 'node');

/** Runs an example; `lines` is everything it printed so far; `exited` resolves {code, signal, stdout, stderr}. */
function run(script, args) {
  const child = track(spawn(process.execPath, [path.join(EXAMPLES, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const lines = [];
  const waiters = [];
  let stderr = '';
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.pattern.test(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal, stdout: lines.join('\n'), stderr }));
  });
  const waitFor = (pattern, timeoutMs = 20000) => {
    const found = lines.find((line) => pattern.test(line));
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${script} did not print ${pattern} in ${timeoutMs} ms:\n${lines.join('\n')}\n${stderr}`)), timeoutMs);
      waiters.push({ pattern, resolve: (line) => (clearTimeout(timer), resolve(line)) });
      exited.then(() => reject(new Error(`${script} exited before printing ${pattern}:\n${lines.join('\n')}\n${stderr}`)));
    });
  };
  return { child, lines, exited, waitFor };
}

describe('examples/node', { timeout: 60000 }, () => {
  let things;
  before(async () => {
    things = await startThings();
  });
  after(() => things?.stop());

  it('carwash-producer sells and consumer buys 3 washes in two sessions; both exit 0', async () => {
    const producer = run('carwash-producer.js', ['--socket', things.producer.socketPath, '--deliveries', '2']);
    await producer.waitFor(/^broadcasting/);
    const consumer = run('consumer.js', ['--socket', things.consumer.socketPath, '--timeout-ms', '20000']);
    const c = await consumer.exited;
    assert.equal(c.code, 0, `consumer:\n${c.stdout}\n${c.stderr}`);
    const p = await producer.exited;
    assert.equal(p.code, 0, `producer:\n${p.stdout}\n${p.stderr}`);

    // Every phase, in order.
    const phases = c.stdout.split('\n').map((line) => line.split(':')[0]);
    assert.deepEqual([...new Set(phases)], ['discover', 'services', 'prices', 'select', 'pay', 'deliver', 'done']);
    assert.match(c.stdout, /^services: #1 RoboWash: Car washed by robot$/m);
    assert.match(c.stdout, /^prices: #1 Car wash: 5\.00 GBP per Single wash$/m);
    assert.match(c.stdout, /^select: 3 × RoboWash for 15\.00 GBP/m);
    assert.match(c.stdout, /^pay: purchase \d+: 3 units, 15\.00 GBP paid$/m);
    assert.match(c.stdout, /^deliver: session 1 begun: 2 units$/m);
    assert.match(c.stdout, /^deliver: session 1 ended: 2 received, 1 remaining$/m);
    assert.match(c.stdout, /^deliver: session 2 begun: 1 units$/m);
    assert.match(c.stdout, /^deliver: session 2 ended: 1 received, 0 remaining$/m);
    assert.match(c.stdout, /^done: 3 of 3 units used$/m);
    assert.equal(c.stderr, '');

    assert.match(p.stdout, /^service 1 added: RoboWash, 5\.00 GBP per wash$/m);
    assert.match(p.stdout, /^payment: 15\.00 GBP for 3 washes /m);
    const deliveries = p.stdout.split('\n').filter((line) => line.startsWith('delivery '));
    assert.deepEqual(
      deliveries.map((line) => line.split(':')[0]),
      ['delivery begun', 'delivery ended', 'delivery begun', 'delivery ended'],
    );
    assert.match(deliveries[0], /^delivery begun: 2 of 2 washes/);
    assert.match(deliveries[3], /^delivery ended: 1 washes done, 3 of 3 used/);
    assert.match(p.stdout, /^stopped after 2 deliveries$/m);
    assert.equal(p.stderr, '');
  });

  it('carwash-producer stops cleanly on SIGINT; a second run finds its service already there', async () => {
    const producer = run('carwash-producer.js', ['--socket', things.producer.socketPath]);
    await producer.waitFor(/^broadcasting/);
    assert.match(producer.lines.join('\n'), /^service 1 is already in the catalog$/m);
    producer.child.kill('SIGINT');
    const p = await producer.exited;
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /^stopped on SIGINT after 0 deliveries$/m);
  });

  it('both exit 1 with a clear message when the daemon is not there', async () => {
    for (const script of ['carwash-producer.js', 'consumer.js']) {
      const result = await run(script, ['--socket', path.join(things.dir, 'absent.sock')]).exited;
      assert.equal(result.code, 1, script);
      assert.match(result.stderr, /absent\.sock: no such socket \(is wpwithind running\?\)/);
    }
  });
});
