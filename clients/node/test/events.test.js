'use strict';

// Events through the client: resume after the daemon restarts, subscriptionLost, replay, replacement.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const net = require('node:net');
const { randomUUID } = require('node:crypto');
const { setTimeout: sleep } = require('node:timers/promises');
const { startDaemon, collect, CAR_WASH } = require('./helpers');
const { WPWithinClient, Subscription } = require('..');

/** Every event in the daemon's journal, read with a raw `subscribe {resumeFrom: 0}` on a fresh connection. */
function journal(socketPath) {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path: socketPath });
    const events = [];
    let lastSeq = null;
    let buffer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`journal: ${events.length} events, lastSeq ${lastSeq}`));
    }, 5000);
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf('\n')) !== -1) {
        const message = JSON.parse(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
        if (message.id === 1) lastSeq = message.result.lastSeq;
        else if (message.method === 'event') events.push(message.params);
        if (lastSeq !== null && (lastSeq === 0 || events.some((e) => e.seq >= lastSeq))) {
          clearTimeout(timer);
          socket.destroy();
          resolve(events);
          return;
        }
      }
    });
    const request = { jsonrpc: '2.0', id: 1, method: 'subscribe', params: { resumeFrom: 0 } };
    socket.on('connect', () => socket.write(JSON.stringify(request) + '\n'));
  });
}

function assertStrictlyIncreasing(events) {
  for (let i = 1; i < events.length; i++) {
    assert.ok(events[i].seq > events[i - 1].seq, `seq ${events[i].seq} after ${events[i - 1].seq}: a duplicate or out of order`);
  }
}

async function waitFor(predicate, what, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('events', { timeout: 60000 }, () => {
  let daemon;
  let control;

  before(async () => {
    daemon = await startDaemon({
      env: { WPWITHIND_STORE_SYNCHRONOUS: 'normal' },
      config: { rpc: { eventBufferPerSubscriber: 16 } },
    });
    control = new WPWithinClient({ socketPath: daemon.socketPath });
  });
  after(async () => {
    await control?.close();
    await daemon?.remove();
  });

  for (const signal of ['SIGTERM', 'SIGKILL']) {
    it(`resume after the daemon restarts (${signal}, same state dir): no event lost, none twice`, async () => {
      const client = new WPWithinClient({ socketPath: daemon.socketPath, reconnectDelayMs: 50, maxReconnectDelayMs: 200 });
      const subscription = await client.subscribe();
      assert.ok(subscription instanceof Subscription);
      const seen = [];
      let resetAt = null;
      subscription.on('event', (event) => seen.push(event));
      subscription.on('reset', (info) => {
        assert.equal(info.reason, 'daemonRestarted');
        resetAt = seen.length;
      });
      const resubscribed = collect(subscription, 'subscribed', 1, 15000);
      const disconnected = collect(subscription, 'disconnected', 1, 15000);
      const firstSeq = subscription.info.lastSeq;
      const pid = subscription.incarnation.pid;

      await control.addService({ service: { ...CAR_WASH, id: 10 } });
      await waitFor(() => seen.some((e) => e.type === 'producer.serviceAdded'), 'serviceAdded');
      await daemon.stop(signal);
      await disconnected;
      await daemon.start();
      // An event published while the client is still away: replayed on resubscription.
      await control.removeService({ serviceId: 10 });
      await resubscribed;
      assert.notEqual(subscription.incarnation.pid, pid, 'a new daemon process');
      await control.addService({ service: { ...CAR_WASH, id: 11 } });
      await control.removeService({ serviceId: 11 });

      const journalNow = await journal(daemon.socketPath);
      if (resetAt === null) {
        // A daemon whose seqs go on across restarts: exactly its journal after the first seq.
        const truth = journalNow.filter((e) => e.seq > firstSeq);
        await waitFor(() => seen.length >= truth.length, `${truth.length} events (have ${seen.length})`);
        await sleep(100);
        assertStrictlyIncreasing(seen);
        assert.deepEqual(seen.map((e) => e.seq), truth.map((e) => e.seq));
      } else {
        // A daemon that numbers from 1 at each start: what the old process sent, then the new one's whole journal.
        await waitFor(() => seen.length - resetAt >= journalNow.length, `${journalNow.length} events after the reset`);
        await sleep(100);
        assertStrictlyIncreasing(seen.slice(0, resetAt));
        assert.ok(seen[0].seq > firstSeq);
        assert.deepEqual(seen.slice(resetAt).map((e) => [e.seq, e.type]), journalNow.map((e) => [e.seq, e.type]), 'exactly the new journal');
      }
      assert.ok(seen.some((e) => e.type === 'daemon.started'), 'the restart is in the stream');
      assert.deepEqual(
        seen.filter((e) => e.type.startsWith('producer.')).map((e) => [e.type, e.serviceId]),
        [
          ['producer.serviceAdded', 10],
          ['producer.serviceRemoved', 10],
          ['producer.serviceAdded', 11],
          ['producer.serviceRemoved', 11],
        ],
        'nothing lost, nothing twice',
      );
      await client.close();
    });
  }

  it('subscriptionLost (the reader fell behind): the client resubscribes from its last seq, nothing lost', async () => {
    const types = ['consumer.deviceDiscovered'];
    const reference = new WPWithinClient({ socketPath: daemon.socketPath });
    const expected = [];
    (await reference.subscribe({ types })).on('event', (event) => expected.push(event));

    const slow = new WPWithinClient({ socketPath: daemon.socketPath });
    const subscription = await slow.subscribe({ types });
    const seen = [];
    const lost = collect(subscription, 'lost', 1, 20000);
    subscription.on('event', (event) => seen.push(event));
    slow._connection.pause(); // test hook: stop reading, as a blocked application would

    // Many events, each large: discovery datagrams from made-up producers (loopback broadcast only).
    await control.deviceDiscovery({ timeoutMs: 0 }); // starts consumer.deviceDiscovered events
    const sender = dgram.createSocket('udp4');
    await new Promise((resolve) => sender.bind(0, '127.0.0.1', resolve));
    sender.setBroadcast(true);
    const port = Number(daemon.env.WPWITHIND_DISCOVERY_PORT);
    const count = 160;
    for (let i = 0; i < count; i++) {
      const datagram = JSON.stringify({
        deviceDescription: `made-up producer ${i} `.padEnd(1500, '.'),
        hostname: '127.0.0.1',
        portNumber: 9,
        serverID: randomUUID(),
        urlPrefix: '',
        scheme: 'http://',
        deviceName: `fake-${i}`,
        serviceTypes: [],
      });
      await new Promise((resolve, reject) => sender.send(datagram, port, '127.255.255.255', (error) => (error ? reject(error) : resolve())));
      if (i % 20 === 19) await sleep(10);
    }
    sender.close();
    await waitFor(() => expected.length >= count * 0.9, `most of ${count} discoveries (have ${expected.length})`);
    await sleep(300);
    slow._connection.resume();

    const [params] = await lost;
    assert.equal(params.reason, 'overflow');
    assert.ok(Number.isInteger(params.lastDeliveredSeq));
    await waitFor(() => seen.length >= expected.length, `${expected.length} events after the resubscription (have ${seen.length})`);
    await sleep(100);
    assertStrictlyIncreasing(seen);
    assert.deepEqual(seen.map((e) => e.seq), expected.map((e) => e.seq));
    assert.equal(subscription.lastSeq, expected.at(-1).seq);
    await slow.close();
    await reference.close();
  });

  it('resumeFrom replays what came after it; events wait for the first listener', async () => {
    const all = await journal(daemon.socketPath);
    assert.ok(all.length >= 6);
    const from = all[all.length - 5].seq;
    const client = new WPWithinClient({ socketPath: daemon.socketPath });
    const subscription = await client.subscribe({ resumeFrom: from });
    assert.equal(subscription.info.replayed, 4);
    assert.equal(subscription.info.truncated, false);
    await sleep(100); // the replay has arrived by now, before any listener
    const replayed = await collect(subscription, 'event', 4);
    assert.deepEqual(replayed.map((e) => e.seq), all.slice(-4).map((e) => e.seq));
    await client.close();
  });

  it('the client emits each event too; subscribing again replaces the subscription; unsubscribe ends it', async () => {
    const client = new WPWithinClient({ socketPath: daemon.socketPath });
    const first = await client.subscribe({ types: ['producer.serviceAdded'] });
    const firstEnded = collect(first, 'end', 1);
    const second = await client.subscribe({ types: ['producer.serviceRemoved'] });
    const [endError] = await firstEnded;
    assert.equal(endError, undefined);
    assert.equal(first.ended, true);
    assert.equal(client.subscription, second);
    const viaClient = collect(client, 'event', 1);
    await control.addService({ service: { ...CAR_WASH, id: 12 } });
    await control.removeService({ serviceId: 12 });
    const [event] = await viaClient;
    assert.equal(event.type, 'producer.serviceRemoved');
    assert.equal(event.serviceId, 12);
    const ended = collect(second, 'end', 1);
    assert.deepEqual(await client.unsubscribe(), { subscribed: false });
    await ended;
    assert.equal(client.subscription, null);
    await client.close();
  });

  it('a refused subscription rejects with the daemon error', async () => {
    const client = new WPWithinClient({ socketPath: daemon.socketPath });
    await assert.rejects(client.subscribe({ types: ['no.such.type'] }), (error) => {
      assert.equal(error.name, 'InvalidParamsError');
      assert.equal(error.data.field, 'types');
      return true;
    });
    assert.equal(client.subscription, null);
    await client.close();
  });
});
