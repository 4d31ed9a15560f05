'use strict';

// Bad input: each is a clear rejected promise, never a hang.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startDaemon, tempDir, CAR_WASH } = require('./helpers');
const { WPWithinClient, WPWithinClientError, MessageTooLargeError } = require('..');

/** Rejects if `promise` has not settled within `ms`: a hang fails the test instead of stalling it. */
function within(ms, promise, what = 'the call') {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
    }),
  ]);
}

function clientError(code, extra = () => {}) {
  return (error) => {
    assert.ok(error instanceof WPWithinClientError, `${error && error.name}: ${error && error.message}`);
    assert.equal(error.code, code, error.message);
    extra(error);
    return true;
  };
}

describe('wrong argument types', () => {
  const client = new WPWithinClient({ socketPath: '/nonexistent/never-connected.sock' });
  const cases = [
    ['selectService', () => client.selectService('serverId=1'), /params must be an object/],
    ['selectService', () => client.selectService([1, 2]), /params must be an object/],
    ['selectService', () => client.selectService({ serverId: 'x', serviceId: '1', priceId: 1, numberOfUnits: 1 }), /serviceId must be an integer/],
    ['selectService', () => client.selectService({ serverId: 'x', serviceId: 1, priceId: 1, numberOfUnits: 1.5 }), /numberOfUnits must be an integer/],
    ['selectService', () => client.selectService({ serverId: 'x', serviceId: 1, priceId: 1 }), /missing required parameter numberOfUnits/],
    ['selectService', () => client.selectService({ serverId: 'x', serviceId: 1, priceId: 1, numberOfUnits: 1, units: 2 }), /unknown parameter units/],
    ['makePayment', () => client.makePayment({ paymentReferenceId: 42 }), /paymentReferenceId must be a string/],
    ['beginServiceDelivery', () => client.beginServiceDelivery({ purchaseId: NaN, units: 1 }), /purchaseId must be an integer/],
    ['endServiceDelivery', () => client.endServiceDelivery({ purchaseId: 2 ** 60, unitsReceived: 1 }), /purchaseId must be an integer/],
    ['addService', () => client.addService({ service: 'car wash' }), /service must be an object/],
    ['addService', () => client.addService({ service: null }), /service must be an object, not null/],
    ['deviceDiscovery', () => client.deviceDiscovery({ timeoutMs: '100' }), /timeoutMs must be an integer/],
    ['searchForDevice', () => client.searchForDevice({ name: ['a'] }), /name must be a string/],
    ['subscribe', () => client.subscribe({ types: 'daemon.started' }), /types must be an array/],
    ['subscribe', () => client.subscribe({ types: [1] }), /types\[0\] must be a string/],
    ['subscribe', () => client.subscribe({ resumeFrom: -0.5 }), /resumeFrom must be an integer/],
    ['getDevice', () => client.getDevice({ verbose: true }), /unknown parameter verbose \(it takes none\)/],
    ['getDevice', () => client.getDevice(undefined, { timeoutMs: 'soon' }), /timeoutMs must be a finite number/],
    ['getDevice', () => client.getDevice(undefined, { retries: 3 }), /unknown option retries/],
    ['call', () => client.call(42), /method must be a non-empty string/],
    ['call', () => client.call('someFutureMethod', 'x'), /params must be an object/],
  ];
  for (const [method, call, message] of cases) {
    it(`${method}: ${message.source}`, async () => {
      const result = call();
      assert.ok(result instanceof Promise, 'a rejected promise, not a synchronous throw');
      await assert.rejects(within(1000, result), (error) => {
        assert.ok(error instanceof TypeError, `${error.name}: ${error.message}`);
        assert.match(error.message, message);
        return true;
      });
    });
  }

  it('nothing is sent: the client never tried to connect', () => {
    assert.equal(client.isConnected, false);
  });

  it('bad client options throw TypeError at construction', () => {
    assert.throws(() => new WPWithinClient({ socketPath: 3 }), TypeError);
    assert.throws(() => new WPWithinClient({ maxLineLength: 0 }), TypeError);
    assert.throws(() => new WPWithinClient({ reconnect: 'yes' }), TypeError);
  });
});

describe('cannot reach the daemon', () => {
  let dir;
  before(() => {
    dir = tempDir();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('socket missing: noSuchSocket naming the path', async () => {
    const socketPath = path.join(dir, 'absent.sock');
    const client = new WPWithinClient({ socketPath });
    await assert.rejects(
      within(2000, client.getDevice()),
      clientError('noSuchSocket', (error) => {
        assert.equal(error.socketPath, socketPath);
        assert.ok(error.message.includes(socketPath));
        assert.match(error.message, /is wpwithind running/);
        assert.equal(error.isConnectFailure, true);
      }),
    );
    await assert.rejects(within(2000, WPWithinClient.connect({ socketPath: path.join(dir, 'no', 'dir.sock') })), clientError('noSuchSocket'));
  });

  it('not a socket: notASocket', async () => {
    const file = path.join(dir, 'plain-file');
    fs.writeFileSync(file, 'x');
    await assert.rejects(within(2000, WPWithinClient.connect({ socketPath: file })), clientError('notASocket'));
  });

  it('path too long for sockaddr_un: pathTooLong', async () => {
    await assert.rejects(within(2000, WPWithinClient.connect({ socketPath: `/tmp/${'x'.repeat(120)}.sock` })), clientError('pathTooLong'));
  });

  it('no default socket: /run/wpwithin.sock or $WPWITHIN_SOCKET is named', async () => {
    const client = new WPWithinClient({ socketPath: path.join(dir, 'also-absent.sock') });
    await assert.rejects(within(2000, client.connect()), /also-absent\.sock: no such socket/);
  });
});

describe('a real daemon that goes away', { timeout: 60000 }, () => {
  let daemon;
  before(async () => {
    // A small request limit, for the messageTooLarge case.
    daemon = await startDaemon({ env: { WPWITHIND_MAX_LINE_BYTES: '4096', WPWITHIND_STORE_SYNCHRONOUS: 'normal' } });
  });
  after(() => daemon && daemon.remove());

  it('killed mid-call: the call rejects with connectionClosed; a stale socket is connectionRefused; after the restart the same client works', async () => {
    const client = await WPWithinClient.connect({ socketPath: daemon.socketPath });
    const before = await client.getDevice();
    // `within` attaches its handlers now: the rejection comes while the test awaits the kill.
    const pending = within(3000, client.deviceDiscovery({ timeoutMs: 10000 }));
    pending.catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 200));
    await daemon.stop('SIGKILL');
    await assert.rejects(pending, clientError('connectionClosed'));
    assert.ok(fs.existsSync(daemon.socketPath), 'SIGKILL leaves the socket file behind');
    await assert.rejects(
      within(2000, client.getDevice()),
      clientError('connectionRefused', (error) => assert.match(error.message, /stale socket, daemon not running/)),
    );
    await daemon.start();
    const after = await within(5000, client.getDevice());
    assert.equal(after.serverId, before.serverId, 'the same state dir keeps the serverId');
    await client.close();
  });

  it('restarted (SIGTERM) mid-call: the call settles, never hangs, and the client reconnects', async () => {
    const client = await WPWithinClient.connect({ socketPath: daemon.socketPath });
    const pending = client.deviceDiscovery({ timeoutMs: 1500 }).then(
      (devices) => ({ devices }),
      (error) => ({ error }),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stopped = daemon.stop('SIGTERM');
    const outcome = await within(12000, pending);
    // A graceful stop answers the calls in flight (or refuses them with a typed error) before closing.
    if (outcome.error) assert.ok(outcome.error instanceof Error && outcome.error.code !== undefined, String(outcome.error));
    else assert.ok(Array.isArray(outcome.devices));
    assert.equal(await stopped, 0);
    await assert.rejects(within(2000, client.getStatus()), clientError('noSuchSocket'));
    await daemon.start();
    assert.equal((await within(5000, client.getStatus())).ready, true);
    await client.close();
  });

  it('a response line longer than maxLineLength: lineTooLong, the connection closes, the next call reconnects', async () => {
    const client = new WPWithinClient({ socketPath: daemon.socketPath, maxLineLength: 1024 });
    await assert.rejects(
      within(3000, client.discover()),
      clientError('lineTooLong', (error) => assert.match(error.message, /longer than 1024 bytes/)),
    );
    const device = await within(3000, client.getDevice());
    assert.equal(typeof device.serverId, 'string');
    await client.close();
  });

  it('a request longer than the daemon accepts: MessageTooLargeError with data.maxLineBytes', async () => {
    const client = await WPWithinClient.connect({ socketPath: daemon.socketPath });
    const service = { ...CAR_WASH, id: 77, description: 'x'.repeat(8000) };
    await assert.rejects(within(3000, client.addService({ service })), (error) => {
      assert.ok(error instanceof MessageTooLargeError, `${error.name}: ${error.message}`);
      assert.equal(error.code, -32001);
      assert.equal(error.data.maxLineBytes, 4096);
      return true;
    });
    assert.equal((await within(3000, client.getStatus())).ready, true);
    await client.close();
  });

  it('a call past its timeoutMs or aborted: rejected, and the connection stays usable', async () => {
    const client = await WPWithinClient.connect({ socketPath: daemon.socketPath });
    await assert.rejects(within(3000, client.deviceDiscovery({ timeoutMs: 2000 }, { timeoutMs: 100 })), clientError('timeout'));
    const controller = new AbortController();
    const aborted = client.deviceDiscovery({ timeoutMs: 2000 }, { signal: controller.signal });
    controller.abort();
    await assert.rejects(within(1000, aborted), clientError('aborted'));
    assert.equal((await client.getDevice()).name, 'wpwithind');
    await client.close();
  });

  it('closed by the application: waiting and later calls reject with notConnected', async () => {
    const client = await WPWithinClient.connect({ socketPath: daemon.socketPath });
    const pending = within(1000, client.deviceDiscovery({ timeoutMs: 2000 }));
    pending.catch(() => {});
    await client.close();
    await assert.rejects(pending, clientError('notConnected'));
    await assert.rejects(within(1000, client.getDevice()), clientError('notConnected'));
    await client.close(); // twice is fine
  });

  it('with reconnect off, a dropped connection stays dropped', async () => {
    const client = await WPWithinClient.connect({ socketPath: daemon.socketPath, reconnect: false });
    const disconnected = new Promise((resolve) => client.once('disconnect', resolve));
    const other = new WPWithinClient({ socketPath: daemon.socketPath, maxLineLength: 1024 });
    await other.discover().catch(() => {});
    await other.close();
    await daemon.stop();
    await within(3000, disconnected);
    await daemon.start();
    await assert.rejects(within(1000, client.getDevice()), clientError('connectionClosed'));
    await client.close();
  });
});
