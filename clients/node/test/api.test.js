'use strict';

// The client's method layer against the daemon's own rpc.discover: a method added to the daemon and
// missing from the client (or from index.d.ts) fails here.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { startDaemon, REPO } = require('./helpers');
const client = require('..');
const { WPWithinClient, METHODS, CODES, CODE_NAMES, ERROR_CLASSES, WPWithinError, resolveSocketPath } = client;

const PACKAGE = path.resolve(__dirname, '..');

/** The method names declared in index.d.ts's WPWithinMethods interface. */
function declaredMethods() {
  const dts = fs.readFileSync(path.join(PACKAGE, 'index.d.ts'), 'utf8');
  const body = dts.match(/export interface WPWithinMethods \{([\s\S]*?)\n\}/);
  assert.ok(body, 'index.d.ts declares interface WPWithinMethods');
  return [...body[1].matchAll(/^ {2}(\w+)\(params/gm)].map((match) => match[1]);
}

/** The parameter names (with ? when optional) of a `XParams` interface in index.d.ts. */
function declaredParams(typeName) {
  const dts = fs.readFileSync(path.join(PACKAGE, 'index.d.ts'), 'utf8');
  const body = dts.match(new RegExp(`export interface ${typeName} \\{([\\s\\S]*?)\\n\\}`));
  if (!body) return [];
  return [...body[1].matchAll(/^ {2}(\w+)(\??):/gm)].map((match) => match[1] + match[2]);
}

describe('the method layer matches the live daemon', () => {
  let daemon;
  let live;

  before(async () => {
    daemon = await startDaemon();
    const c = await WPWithinClient.connect({ socketPath: daemon.socketPath });
    live = await c.discover();
    await c.close();
  });
  after(() => daemon && daemon.remove());

  it('has every method of rpc.discover, and no other', () => {
    assert.deepEqual(
      METHODS.map((m) => m.name).sort(),
      live.methods.map((m) => m.name).sort(),
      'the client is out of date with the daemon: run node clients/node/scripts/generate.js --socket PATH',
    );
  });

  it('takes the same params (names, required, schema) as the daemon', () => {
    for (const method of live.methods) {
      const ours = METHODS.find((m) => m.name === method.name);
      const theirs = (method.params || []).map((p) => ({ name: p.name, required: Boolean(p.required), schema: p.schema }));
      assert.deepEqual(
        ours.params.map((p) => ({ name: p.name, required: p.required, schema: p.schema })),
        theirs,
        `${method.name}: params differ from the daemon's`,
      );
      assert.deepEqual(ours.errors, (method.errors || []).map((e) => e.code), `${method.name}: error codes differ`);
    }
  });

  it('offers each method as a function on the client', () => {
    const instance = new WPWithinClient({ socketPath: daemon.socketPath });
    for (const method of live.methods) {
      const ours = METHODS.find((m) => m.name === method.name);
      assert.equal(typeof instance[ours.jsName], 'function', `client.${ours.jsName} (${method.name})`);
    }
  });

  it('declares each method, and its params, in index.d.ts', () => {
    const declared = declaredMethods();
    const expected = live.methods.map((m) => METHODS.find((ours) => ours.name === m.name)?.jsName ?? m.name);
    assert.deepEqual(declared.sort(), expected.sort(), 'index.d.ts is out of date: run node clients/node/scripts/generate.js');
    for (const method of live.methods) {
      if (!method.params.length) continue;
      const typeName = `${method.name.replace(/^rpc\./, '').replace(/^\w/, (c) => c.toUpperCase())}Params`;
      assert.deepEqual(
        declaredParams(typeName).sort(),
        method.params.map((p) => p.name + (p.required ? '' : '?')).sort(),
        `index.d.ts ${typeName}`,
      );
    }
  });

  it('knows every error code the daemon lists', () => {
    for (const method of live.methods) {
      for (const error of method.errors || []) {
        assert.equal(CODE_NAMES[error.code], error.message, `code ${error.code}`);
        assert.ok(ERROR_CLASSES[error.code], `an error class for ${error.code}`);
      }
    }
  });
});

describe('generated files', () => {
  it('are what scripts/generate.js makes from the committed openrpc.json', () => {
    execFileSync(process.execPath, [path.join(PACKAGE, 'scripts', 'generate.js'), '--check'], { stdio: 'pipe' });
  });

  it('index.d.ts declares every error class and client export', () => {
    const dts = fs.readFileSync(path.join(PACKAGE, 'index.d.ts'), 'utf8');
    for (const name of Object.keys(client)) {
      assert.match(dts, new RegExp(`export declare (class|const|function) ${name}\\b`), `index.d.ts declares ${name}`);
    }
  });

  it('has one error class per code of docs/rpc.md', () => {
    const doc = fs.readFileSync(path.join(REPO, 'docs', 'rpc.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| (-32\d{3}) \| (\w+) \|/gm)].map((m) => [Number(m[1]), m[2]]);
    assert.ok(rows.length >= 30, 'the error table of docs/rpc.md');
    assert.deepEqual(Object.fromEntries(rows), Object.fromEntries(Object.entries(CODES).map(([name, code]) => [code, name])));
    for (const [code, name] of rows) {
      const error = WPWithinError.fromObject({ code, message: 'm', data: { x: 1 } });
      assert.ok(error instanceof WPWithinError && error instanceof ERROR_CLASSES[code]);
      assert.equal(error.codeName, name);
      assert.deepEqual(error.data, { x: 1 });
    }
  });
});

describe('socket path', () => {
  it('is the argument, else WPWITHIN_SOCKET, else /run/wpwithin.sock', () => {
    assert.equal(resolveSocketPath('/tmp/a.sock', { WPWITHIN_SOCKET: '/tmp/b.sock' }), '/tmp/a.sock');
    assert.equal(resolveSocketPath(undefined, { WPWITHIN_SOCKET: '/tmp/b.sock' }), '/tmp/b.sock');
    assert.equal(resolveSocketPath(undefined, {}), '/run/wpwithin.sock');
    const saved = process.env.WPWITHIN_SOCKET;
    try {
      process.env.WPWITHIN_SOCKET = '/tmp/from-env.sock';
      assert.equal(new WPWithinClient().socketPath, '/tmp/from-env.sock');
      delete process.env.WPWITHIN_SOCKET;
      assert.equal(new WPWithinClient().socketPath, '/run/wpwithin.sock');
    } finally {
      if (saved === undefined) delete process.env.WPWITHIN_SOCKET;
      else process.env.WPWITHIN_SOCKET = saved;
    }
  });
});
