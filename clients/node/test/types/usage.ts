// Compiled by test/types.test.js with tsc --strict: index.d.ts must accept this and refuse the @ts-expect-error lines.
import {
  WPWithinClient, Subscription, WPWithinError, NotFoundError, InvalidParamsError, WPWithinClientError,
  Purchase, Quote, WPWithinEvent, EventType, CODES, METHODS, resolveSocketPath,
  EventParams, EventParamsByType, ErrorDataByName, Status, DeliveryEnded, GenericEvent,
} from 'wpwithin-client';

async function main(): Promise<void> {
  const client = await WPWithinClient.connect({ socketPath: resolveSocketPath() });
  const device = await client.getDevice();
  const s: string = device.serverId;
  const quote: Quote = await client.selectService({ serverId: s, serviceId: 1, priceId: 1, numberOfUnits: 3 });
  const purchase: Purchase = await client.makePayment({ paymentReferenceId: quote.paymentReferenceId });
  const begun = await client.beginServiceDelivery({ purchaseId: purchase.purchaseId, units: 2 }, { timeoutMs: 1000 });
  const n: number = begun.unitsToSupply;
  const ended = await client.endServiceDelivery({ purchaseId: purchase.purchaseId, unitsReceived: n });
  const left: number = ended.producerUnitsRemaining;
  const settled: true | undefined = ended.settledFromProducer;
  const unsettled: 'begin' | 'end' | null = purchase.unsettled;
  void settled; void unsettled;
  const typed: DeliveryEnded = ended; void typed;
  const status: Status = await client.getStatus();
  const free: number | null = status.health.store.freeBytes;
  const backend: 'sqlite' | 'postgresql' | undefined = status.health.producerStore?.backend;
  void free; void backend;
  await client.addService({ service: { id: 1, name: 'x', description: 'y', prices: [{ id: 1, description: 'd', amount: 1, currencyCode: 'GBP', unitId: 1, unitDescription: 'u', stock: null }] } });
  const sub: Subscription = await client.subscribe({ types: ['producer.deliveryBegun'], resumeFrom: 3 });
  sub.on('event', (e: WPWithinEvent) => { const t: EventType = e.type; const q: number = e.seq; void t; void q; });
  // Typed by default: the listener's event is the union of the generated event interfaces, narrowed by type.
  sub.on('event', (event) => {
    if (event.type === 'producer.deliveryBegun') { const granted: number = event.unitsGranted; void granted; }
    if (event.type === 'consumer.purchaseRecorded') { const id: number = event.purchaseId; void id; }
    if (event.type === 'producer.paymentSucceeded') {
      const psp: string = event.pspOrderCode; void psp;
      // @ts-expect-error a payment's event has no unitsGranted: any other member is unknown, not a number
      const granted: number = event.unitsGranted; void granted;
    }
  });
  client.on('event', (event: EventParams) => { if (event.type === 'producer.refundIssued') { const r: number = event.refundAmount; void r; } });
  sub.on('event', (e: GenericEvent) => { const anything: unknown = e['whatever']; void anything; });
  const begunEvent: EventParamsByType['producer.deliveryBegun'] | undefined = undefined; void begunEvent;
  const role: ErrorDataByName['roleDisabled']['role'] = 'consumer'; void role;
  sub.on('end', (error?: Error) => void error);
  sub.on('reset', (info) => void info.previousSeq);
  client.on('disconnect', (e: WPWithinClientError) => void e.code);
  const raw = await client.call<{ x: number }>('getDevice');
  void raw.x;
  const list = await client.listPurchases();
  void list[0].unitsRemaining;
  const r: { broadcasting: boolean } = await client.startServiceBroadcast({ timeoutMs: 0 });
  void r;
  try { await client.removeService({ serviceId: 9 }); } catch (e) {
    if (e instanceof NotFoundError) { const c: number = e.code; void c; }
    if (e instanceof InvalidParamsError) void e.data.field;
    if (e instanceof WPWithinError) void e.codeName;
  }
  const code: -32010 = CODES.notFound; void code;
  void METHODS.map((m) => m.jsName);
  void left;
  await sub.close();
  await client.close();
  // @ts-expect-error numberOfUnits is required
  await client.selectService({ serverId: s, serviceId: 1, priceId: 1 });
  // @ts-expect-error wrong type
  await client.makePayment({ paymentReferenceId: 1 });
  // @ts-expect-error unknown event type
  await client.subscribe({ types: ['nope'] });
  // @ts-expect-error a purchase's totalPaid is a number (minor units)
  const wrong: string = purchase.totalPaid; void wrong;
  // @ts-expect-error a quote has no purchaseId
  void quote.purchaseId;
}
void main;
