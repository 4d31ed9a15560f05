'use strict';

// Discover → select → pay → deliver between two real daemons and the sandbox gateway, through the client.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startThings, collect, CAR_WASH } = require('./helpers');
const {
  WPWithinClient,
  WPWithinError,
  NotFoundError,
  InvalidParamsError,
  ConflictError,
  InsufficientUnitsError,
  AlreadyExistsError,
  AmountInvalidError,
  UnsupportedCurrencyError,
  RoleDisabledError,
  DiscoveryTimeoutError,
  MethodNotFoundError,
} = require('..');

describe('a consumer buys car washes from a producer', { timeout: 60000 }, () => {
  let things;
  let producer;
  let consumer;

  before(async () => {
    things = await startThings();
    producer = await WPWithinClient.connect({ socketPath: things.producer.socketPath });
    consumer = await WPWithinClient.connect({ socketPath: things.consumer.socketPath });
  });
  after(async () => {
    await producer?.close();
    await consumer?.close();
    await things?.stop();
  });

  it('discovers, selects, pays and uses 3 units in two delivery sessions', async () => {
    const added = await producer.addService({ service: CAR_WASH });
    assert.equal(added.name, 'RoboWash');
    const deliveries = await producer.subscribe({ types: ['producer.deliveryBegun', 'producer.deliveryEnded'] });
    const heard = collect(deliveries, 'event', 4);
    const purchases = await consumer.subscribe({ types: ['consumer.purchaseRecorded'] });
    const recorded = collect(purchases, 'event', 1);

    // Discover.
    const { serverId } = await producer.getDevice();
    assert.deepEqual(await producer.startServiceBroadcast(), { broadcasting: true });
    const found = await consumer.searchForDevice({ serverId, timeoutMs: 30000 });
    assert.equal(found.serverId, serverId);
    assert.equal(found.hostname, '127.0.0.1');
    const devices = await consumer.deviceDiscovery({ timeoutMs: 600 });
    assert.equal(devices.filter((d) => d.serverId === serverId).length, 1);
    const services = await consumer.requestServices({ serverId });
    assert.equal(services.serverId, serverId);
    assert.deepEqual(services.services.map((s) => [s.serviceId, s.name]), [[1, 'RoboWash']]);
    const prices = await consumer.getServicePrices({ serverId, serviceId: 1 });
    assert.equal(prices.prices[0].priceId, 1);
    assert.equal(prices.prices[0].amount, 500);
    assert.equal(prices.prices[0].currencyCode, 'GBP');

    // Select.
    const quote = await consumer.selectService({ serverId, serviceId: 1, priceId: 1, numberOfUnits: 3 });
    assert.equal(quote.totalPrice, 1500);
    assert.equal(quote.unitsToSupply, 3);
    assert.equal(typeof quote.paymentReferenceId, 'string');

    // Pay, twice: the same purchase, no second charge.
    const purchase = await consumer.makePayment({ paymentReferenceId: quote.paymentReferenceId });
    assert.equal(purchase.unitsBought, 3);
    assert.equal(purchase.totalPaid, 1500);
    const again = await consumer.makePayment({ paymentReferenceId: quote.paymentReferenceId });
    assert.equal(again.purchaseId, purchase.purchaseId);
    const [record] = await recorded;
    assert.equal(record.type, 'consumer.purchaseRecorded');

    // Deliver: 2 units, then 1.
    const { purchaseId } = purchase;
    const b1 = await consumer.beginServiceDelivery({ purchaseId, units: 2 });
    assert.equal(b1.unitsToSupply, 2);
    const e1 = await consumer.endServiceDelivery({ purchaseId, unitsReceived: 2 });
    assert.equal(e1.unitsRemaining, 1);
    assert.equal(e1.unitsJustSupplied, 2);
    await assert.rejects(consumer.endServiceDelivery({ purchaseId, unitsReceived: 1 }), ConflictError);
    const b2 = await consumer.beginServiceDelivery({ purchaseId, units: 1 });
    assert.equal(b2.unitsToSupply, 1);
    const e2 = await consumer.endServiceDelivery({ purchaseId, unitsReceived: 1 });
    assert.equal(e2.unitsRemaining, 0);
    await assert.rejects(consumer.beginServiceDelivery({ purchaseId, units: 1 }), InsufficientUnitsError);

    const listed = await consumer.listPurchases();
    assert.equal(listed.length, 1);
    assert.equal(listed[0].unitsDelivered, 3);

    // The producer's app heard every begin and end, in order.
    const events = await heard;
    assert.deepEqual(
      events.map((e) => e.type),
      ['producer.deliveryBegun', 'producer.deliveryEnded', 'producer.deliveryBegun', 'producer.deliveryEnded'],
    );
    for (let i = 1; i < events.length; i++) assert.ok(events[i].seq > events[i - 1].seq);
    assert.deepEqual(await producer.stopServiceBroadcast(), { broadcasting: false });
  });

  it('turns the daemon errors of the four phases into typed errors', async () => {
    const { serverId } = await producer.getDevice();
    const check = (code, Class) => (error) => {
      assert.ok(error instanceof Class, `${error.name} is a ${Class.name}`);
      assert.ok(error instanceof WPWithinError);
      assert.equal(error.code, code);
      assert.equal(typeof error.message, 'string');
      return true;
    };
    await assert.rejects(producer.addService({ service: CAR_WASH }), check(-32016, AlreadyExistsError));
    const priced = (price) => ({ ...CAR_WASH, id: 7, prices: [{ ...CAR_WASH.prices[0], ...price }] });
    await assert.rejects(producer.addService({ service: priced({ amount: 0 }) }), check(-32027, AmountInvalidError));
    await assert.rejects(producer.addService({ service: priced({ currencyCode: 'XXQ' }) }), check(-32026, UnsupportedCurrencyError));
    await assert.rejects(producer.removeService({ serviceId: 99 }), check(-32010, NotFoundError));
    await assert.rejects(consumer.startServiceBroadcast(), check(-32003, RoleDisabledError));
    await assert.rejects(
      consumer.selectService({ serverId, serviceId: 1, priceId: 9, numberOfUnits: 1 }),
      check(-32010, NotFoundError),
    );
    await assert.rejects(consumer.selectService({ serverId, serviceId: 1, priceId: 1, numberOfUnits: 0 }), (error) => {
      check(-32602, InvalidParamsError)(error);
      assert.equal(error.data.field, 'numberOfUnits');
      return true;
    });
    await assert.rejects(consumer.makePayment({ paymentReferenceId: 'nope' }), check(-32010, NotFoundError));
    await assert.rejects(
      consumer.searchForDevice({ serverId: '00000000-0000-4000-8000-000000000000', timeoutMs: 100 }),
      check(-32043, DiscoveryTimeoutError),
    );
    await assert.rejects(consumer.searchForDevice({ serverId, name: 'both' }), check(-32602, InvalidParamsError));
    await assert.rejects(consumer.call('noSuchMethod'), (error) => {
      check(-32601, MethodNotFoundError)(error);
      assert.equal(error.data.method, 'noSuchMethod');
      return true;
    });
    // Still one healthy connection after all of these.
    assert.equal((await consumer.getDevice()).roles[0], 'consumer');
  });
});
