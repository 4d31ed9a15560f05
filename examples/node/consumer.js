#!/usr/bin/env node
'use strict';

// A car that buys washes through wpwithind (the consumer role): discover → services and prices →
// select → pay → deliver, printing each phase.
//
//   node examples/node/consumer.js [--socket PATH] [--server-id ID | --name NAME] [--units N] [--timeout-ms MS]
//
// Without --server-id or --name it takes the first producer heard that offers a car wash. It buys N
// washes (default 3) and uses them in two delivery sessions, then exits 0.

const { parseCommandLine } = require('./args');
const { money } = require('./money');
const { WPWithinClient } = require('../../clients/node');

const USAGE = 'usage: consumer.js [--socket PATH] [--server-id ID | --name NAME] [--units N] [--timeout-ms MS]';

function options() {
  const { values, integer } = parseCommandLine(USAGE, {
    socket: { type: 'string' },
    'server-id': { type: 'string' },
    name: { type: 'string' },
    units: { type: 'string', default: '3' },
    'timeout-ms': { type: 'string', default: '30000' },
  });
  if (values['server-id'] && values.name) throw new Error(`give --server-id or --name, not both\n${USAGE}`);
  return {
    socketPath: values.socket,
    serverId: values['server-id'],
    name: values.name,
    units: integer('units', 1),
    timeoutMs: integer('timeout-ms', 100),
  };
}

const isCarWash = (service) => service.serviceType === 'carwash' || /wash/i.test(service.name);

/** The producer to buy from: the one named, else the first heard that sells a car wash. */
async function discover(client, opts) {
  if (opts.serverId || opts.name) {
    const query = opts.serverId ? { serverId: opts.serverId } : { name: opts.name };
    return client.searchForDevice({ ...query, timeoutMs: opts.timeoutMs });
  }
  const deadline = Date.now() + opts.timeoutMs;
  const checked = new Set();
  while (Date.now() < deadline) {
    const devices = await client.deviceDiscovery({ timeoutMs: Math.min(1000, Math.max(0, deadline - Date.now())) });
    for (const device of devices) {
      if (checked.has(device.serverId)) continue;
      checked.add(device.serverId);
      const { services } = await client.requestServices({ serverId: device.serverId });
      if (services.some(isCarWash)) return device;
    }
  }
  throw new Error(`no producer selling a car wash was heard in ${opts.timeoutMs} ms`);
}

async function main() {
  const opts = options();
  const client = new WPWithinClient({ socketPath: opts.socketPath });
  try {
    const device = await discover(client, opts);
    const { serverId } = device;
    console.log(`discover: found ${device.deviceName} ${serverId} at ${device.url}`);

    const { services } = await client.requestServices({ serverId });
    for (const s of services) console.log(`services: #${s.serviceId} ${s.name}: ${s.description}`);
    const service = services.find(isCarWash) || services[0];
    if (!service) throw new Error(`${serverId} offers no services`);

    const { prices } = await client.getServicePrices({ serverId, serviceId: service.serviceId });
    for (const p of prices) console.log(`prices: #${p.priceId} ${p.description}: ${money(p.amount, p.currencyCode)} per ${p.unitDescription}`);
    const price = prices[0];
    if (!price) throw new Error(`service ${service.serviceId} has no prices`);

    const quote = await client.selectService({ serverId, serviceId: service.serviceId, priceId: price.priceId, numberOfUnits: opts.units });
    console.log(`select: ${quote.unitsToSupply} × ${service.name} for ${money(quote.totalPrice, quote.currencyCode)} (ref ${quote.paymentReferenceId})`);

    const purchase = await client.makePayment({ paymentReferenceId: quote.paymentReferenceId });
    console.log(`pay: purchase ${purchase.purchaseId}: ${purchase.unitsBought} units, ${money(purchase.totalPaid, purchase.currencyCode)} paid`);

    // Two sessions: e.g. 3 units as 2 then 1.
    const sessions = [Math.ceil(opts.units / 2), Math.floor(opts.units / 2)].filter((n) => n > 0);
    let remaining = purchase.unitsRemaining;
    for (const [index, units] of sessions.entries()) {
      const begun = await client.beginServiceDelivery({ purchaseId: purchase.purchaseId, units });
      console.log(`deliver: session ${index + 1} begun: ${begun.unitsToSupply} units`);
      const ended = await client.endServiceDelivery({ purchaseId: purchase.purchaseId, unitsReceived: begun.unitsToSupply });
      remaining = ended.unitsRemaining;
      console.log(`deliver: session ${index + 1} ended: ${ended.unitsJustSupplied} received, ${remaining} remaining`);
    }
    console.log(`done: ${purchase.unitsBought - remaining} of ${purchase.unitsBought} units used`);
  } finally {
    await client.close();
  }
}

main().catch((error) => {
  const code = error.code !== undefined ? ` (${error.code})` : '';
  console.error(`consumer: ${error.name}${code}: ${error.message}`);
  process.exit(1);
});
