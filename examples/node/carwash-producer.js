#!/usr/bin/env node
'use strict';

// A car wash that sells washes through wpwithind (the producer role).
//
//   node examples/node/carwash-producer.js [--socket PATH] [--deliveries N] [--service-id ID] [--amount MINOR] [--currency CODE]
//
// Registers the car-wash service (addService), starts broadcasting, prints each delivery begin and end
// event, and exits 0 after N delivery sessions have ended (default: run until Ctrl-C / SIGTERM).

const { parseCommandLine } = require('./args');
const { money } = require('./money');
const { WPWithinClient, AlreadyExistsError } = require('../../clients/node');

const USAGE = 'usage: carwash-producer.js [--socket PATH] [--deliveries N] [--service-id ID] [--amount MINOR] [--currency CODE]';

function options() {
  const { values, integer } = parseCommandLine(USAGE, {
    socket: { type: 'string' },
    deliveries: { type: 'string' },
    'service-id': { type: 'string', default: '1' },
    amount: { type: 'string', default: '500' },
    currency: { type: 'string', default: 'GBP' },
  });
  return {
    socketPath: values.socket,
    deliveries: integer('deliveries', 1) ?? Infinity,
    serviceId: integer('service-id', 1),
    amount: integer('amount', 1),
    currency: values.currency,
  };
}

async function main() {
  const opts = options();
  const client = new WPWithinClient({ socketPath: opts.socketPath });
  const device = await client.getDevice();
  console.log(`producer: ${device.name} ${device.serverId} on ${client.socketPath}`);

  const service = {
    id: opts.serviceId,
    name: 'RoboWash',
    description: 'Car washed by robot',
    serviceType: 'carwash',
    prices: [
      { id: 1, description: 'Car wash', amount: opts.amount, currencyCode: opts.currency, unitId: 1, unitDescription: 'Single wash', stock: null },
    ],
  };
  try {
    await client.addService({ service });
    console.log(`service ${service.id} added: ${service.name}, ${money(opts.amount, opts.currency)} per wash`);
  } catch (error) {
    if (!(error instanceof AlreadyExistsError)) throw error;
    console.log(`service ${service.id} is already in the catalog`);
  }

  let ended = 0;
  let stopping = null;
  const stop = (why) => {
    if (!stopping) {
      stopping = (async () => {
        await client.stopServiceBroadcast().catch(() => {});
        await client.close();
        console.log(`stopped ${why}`);
      })();
    }
    return stopping;
  };

  const events = await client.subscribe({ types: ['producer.paymentSucceeded', 'producer.deliveryBegun', 'producer.deliveryEnded'] });
  events.on('event', (event) => {
    switch (event.type) {
      case 'producer.paymentSucceeded':
        console.log(`payment: ${money(event.totalAmount, event.currencyCode)} for ${event.units} washes (ref ${event.paymentReferenceId})`);
        break;
      case 'producer.deliveryBegun':
        console.log(`delivery begun: ${event.unitsGranted} of ${event.unitsRequested} washes requested (ref ${event.paymentReferenceId}, seq ${event.seq})`);
        break;
      case 'producer.deliveryEnded':
        ended += 1;
        console.log(
          `delivery ended: ${event.unitsCommitted} washes done, ${event.unitsDelivered} of ${event.unitsPurchased} used (ref ${event.paymentReferenceId}, seq ${event.seq})`,
        );
        if (ended >= opts.deliveries) stop(`after ${ended} deliveries`).then(() => process.exit(0));
        break;
    }
  });
  events.on('disconnected', (error) => console.log(`lost the daemon (${error.message}); reconnecting`));
  events.on('subscribed', (info) => console.log(`events resumed (${info.replayed} replayed)`));
  events.on('end', (error) => {
    if (error && !stopping) {
      console.error(`carwash-producer: events ended: ${error.message}`);
      process.exit(1);
    }
  });

  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => stop(`on ${signal} after ${ended} deliveries`).then(() => process.exit(0)));
  }
  await client.startServiceBroadcast({ timeoutMs: 0 });
  console.log('broadcasting; waiting for customers (Ctrl-C to stop)');
}

main().catch((error) => {
  console.error(`carwash-producer: ${error.name}: ${error.message}`);
  process.exit(1);
});
