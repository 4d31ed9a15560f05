// TypeScript declarations for wpwithin-client, the Node.js client of wpwithind.
// The region between the GENERATED markers is written by scripts/generate.js from openrpc.json.

// Needs @types/node (EventEmitter, AbortSignal), as any Node.js TypeScript project has.
import { EventEmitter } from 'node:events';

// MARK: options

export interface ClientOptions {
  /** Default: $WPWITHIN_SOCKET, else /run/wpwithin.sock. */
  socketPath?: string;
  /** Longest line accepted from the daemon, in bytes (default 16 MiB). A longer one ends the connection. */
  maxLineLength?: number;
  /** Reconnect after the connection drops: the next call reconnects, a subscription resubscribes (default true). */
  reconnect?: boolean;
  /** First delay before a resubscription attempt (default 100 ms; doubles up to maxReconnectDelayMs). */
  reconnectDelayMs?: number;
  /** Longest delay between resubscription attempts (default 2000 ms). */
  maxReconnectDelayMs?: number;
  /** Events held for a subscription that has no 'event' listener before it ends with 'subscriptionLost' (default 10000). */
  eventBufferLimit?: number;
  /** Default per-call timeout in ms (default none). */
  timeoutMs?: number;
}

export interface CallOptions {
  /** Reject with WPWithinClientError('timeout') when no answer came in time (a late answer is dropped). */
  timeoutMs?: number;
  /** Reject with WPWithinClientError('aborted') when the signal fires. */
  signal?: AbortSignal;
}

// MARK: results (docs/rpc.md)

export interface Device {
  /** Lowercase UUID, kept in the state directory. */
  serverId: string;
  name: string;
  description: string;
  version: string;
  roles: Array<'producer' | 'consumer'>;
}

export interface Status {
  version: string;
  uptimeSeconds: number;
  connections: number;
  socketPath: string;
  stateDir: string;
  ready: boolean;
  roles: Array<'producer' | 'consumer'>;
  pid: number;
  payments: {
    gatewayEndpoint: string;
    /** Masked to the last four digits, or null when no card is configured. */
    card: string | null;
    merchantClientKey: string | null;
  };
}

/** What deviceDiscovery and searchForDevice return for one producer. */
export interface DiscoveredDevice {
  serverId: string;
  deviceName: string;
  deviceDescription: string;
  hostname: string;
  portNumber: number;
  urlPrefix: string;
  scheme: string;
  url: string;
  sourceAddress: string;
  serviceTypes: string[];
}

/** A price as given to addService (amount in minor units; stock null = unlimited). */
export interface PriceDefinition {
  id: number;
  description: string;
  amount: number;
  currencyCode: string;
  unitId: number;
  unitDescription: string;
  stock?: number | null;
}

/** A service as given to addService. */
export interface ServiceDefinition {
  id: number;
  name: string;
  description: string;
  serviceType?: string;
  prices: PriceDefinition[];
}

/** A service of the producer's catalog (addService, listServices): stock is what is left. */
export interface Service extends ServiceDefinition {
  [key: string]: unknown;
}

export interface ServiceList {
  serverId: string;
  /** The producer's fleet (producers with one fleetId share stock and honour each other's tokens); null when none. */
  fleetId: string | null;
  services: Array<{ serviceId: number; name: string; description: string; serviceType: string }>;
}

export interface PriceList {
  serverId: string;
  prices: Array<{
    priceId: number;
    description: string;
    amount: number;
    currencyCode: string;
    unitId: number;
    unitDescription: string;
  }>;
}

export interface Quote {
  paymentReferenceId: string;
  serverId: string;
  serviceId: number;
  priceId: number;
  unitsToSupply: number;
  totalPrice: number;
  currencyCode: string;
  merchantClientKey: string;
}

export interface Purchase {
  purchaseId: number;
  serverId: string;
  serviceId: number;
  priceId: number;
  paymentReferenceId: string;
  totalPaid: number;
  currencyCode: string;
  unitsBought: number;
  unitsDelivered: number;
  unitsInFlight: number;
  unitsRemaining: number;
  expiry: string;
  producerUrl: string;
}

export interface DeliveryBegun extends Purchase {
  /** What the producer will supply: at most what remains. */
  unitsToSupply: number;
}

export interface DeliveryEnded extends Purchase {
  unitsJustSupplied: number;
  producerUnitsRemaining: number;
}

export interface OpenRPCDocument {
  openrpc: string;
  info: { title: string; version: string; description?: string };
  methods: Array<{
    name: string;
    summary?: string;
    paramStructure?: string;
    params: Array<{ name: string; required?: boolean; schema: Record<string, unknown>; summary?: string }>;
    result: { name: string; schema: Record<string, unknown> };
    errors?: Array<{ code: number; message: string }>;
  }>;
}

// MARK: events

/** One `event` notification's params: seq, type and time plus the event's own fields. */
export interface WPWithinEvent {
  /** Strictly increasing per daemon; survives restarts (the journal is in the database). */
  seq: number;
  type: EventType;
  /** RFC 3339. */
  time: string;
  [field: string]: unknown;
}

export interface SubscriptionInfo {
  subscribed: boolean;
  /** The daemon's newest seq when it answered. */
  lastSeq: number;
  /** Kept events replayed because of resumeFrom. */
  replayed: number;
  /** True when some events after resumeFrom were already gone. */
  truncated: boolean;
  /** The resumeFrom that was sent (null: none). */
  resumeFrom: number | null;
}

/** 'reset': the daemon's seq numbers started over; the client replays its journal from 0. */
export interface ResetInfo {
  /** 'daemonRestarted': a daemon numbering events in memory restarted; 'journalBehind': its journal is behind the cursor. */
  reason: 'daemonRestarted' | 'journalBehind';
  /** The cursor before the reset. */
  previousSeq: number;
  /** The daemon's newest seq ('journalBehind'). */
  lastSeq?: number;
}

export interface SubscriptionLostParams {
  reason: string;
  lastDeliveredSeq: number;
}

export declare class Subscription extends EventEmitter {
  readonly types: EventType[] | undefined;
  /** The last seq received: what a resubscription resumes from (null until the daemon answered). */
  readonly lastSeq: number | null;
  /** The daemon's latest subscribe answer. */
  readonly info: SubscriptionInfo | null;
  /** The daemon process the cursor belongs to: its pid and start time (ms since the epoch). */
  readonly incarnation: { pid: number | null; startedAt: number } | null;
  readonly ended: boolean;
  /** Unsubscribes; the subscription emits 'end'. */
  close(): Promise<void>;

  on(event: 'event', listener: (event: WPWithinEvent) => void): this;
  on(event: 'subscribed' | 'truncated', listener: (info: SubscriptionInfo) => void): this;
  on(event: 'reset', listener: (info: ResetInfo) => void): this;
  on(event: 'lost', listener: (params: SubscriptionLostParams) => void): this;
  on(event: 'disconnected', listener: (error: WPWithinClientError) => void): this;
  on(event: 'retrying', listener: (error: Error, delayMs: number) => void): this;
  on(event: 'end', listener: (error?: Error) => void): this;
  once(event: 'event', listener: (event: WPWithinEvent) => void): this;
  once(event: 'subscribed' | 'truncated', listener: (info: SubscriptionInfo) => void): this;
  once(event: 'reset', listener: (info: ResetInfo) => void): this;
  once(event: 'lost', listener: (params: SubscriptionLostParams) => void): this;
  once(event: 'disconnected', listener: (error: WPWithinClientError) => void): this;
  once(event: 'retrying', listener: (error: Error, delayMs: number) => void): this;
  once(event: 'end', listener: (error?: Error) => void): this;
}

// MARK: client

export interface WPWithinClient extends WPWithinMethods {}

export declare class WPWithinClient extends EventEmitter {
  constructor(options?: ClientOptions);
  /** Creates a client and connects it. */
  static connect(options?: ClientOptions): Promise<WPWithinClient>;
  readonly socketPath: string;
  readonly maxLineLength: number;
  readonly isConnected: boolean;
  readonly subscription: Subscription | null;
  /** Opens the connection (calls also open it). */
  connect(): Promise<void>;
  /** Closes the connection and ends the subscription; later calls reject with 'notConnected'. */
  close(): Promise<void>;
  /** Any method by name with named params (known methods have their arguments checked). */
  call<T = unknown>(method: MethodName | (string & {}), params?: Record<string, unknown>, options?: CallOptions): Promise<T>;

  on(event: 'event', listener: (event: WPWithinEvent) => void): this;
  on(event: 'connect', listener: (socketPath: string) => void): this;
  on(event: 'disconnect', listener: (error: WPWithinClientError) => void): this;
  once(event: 'event', listener: (event: WPWithinEvent) => void): this;
  once(event: 'connect', listener: (socketPath: string) => void): this;
  once(event: 'disconnect', listener: (error: WPWithinClientError) => void): this;
}

/** `explicit` if non-empty, else $WPWITHIN_SOCKET, else /run/wpwithin.sock. */
export declare function resolveSocketPath(explicit?: string, env?: Record<string, string | undefined>): string;
export declare const DEFAULT_SOCKET_PATH: '/run/wpwithin.sock';
export declare const DEFAULT_MAX_LINE_LENGTH: number;
export declare const SOCKET_ENV: 'WPWITHIN_SOCKET';
export declare const METHODS: ReadonlyArray<{
  readonly name: MethodName;
  readonly jsName: keyof WPWithinMethods;
  readonly params: ReadonlyArray<{ readonly name: string; readonly required: boolean; readonly schema: Readonly<Record<string, unknown>> }>;
  readonly errors: ReadonlyArray<number>;
}>;

// MARK: errors

/** The daemon answered with an error object. */
export declare class WPWithinError extends Error {
  /** The daemon's stable code (docs/rpc.md). */
  readonly code: number;
  /** The code's name, e.g. 'notFound'; 'unknown' for a code this client does not know. */
  readonly codeName: ErrorCodeName | 'unknown';
  /** Structured data, e.g. `{field}` for invalidParams, `{maxLineBytes}` for messageTooLarge. */
  readonly data?: any;
  constructor(code: number, message: string, data?: unknown);
  static fromObject(object: { code: number; message: string; data?: unknown }): WPWithinError;
}

export declare const CODES: {
  readonly parseError: -32700;
  readonly invalidRequest: -32600;
  readonly methodNotFound: -32601;
  readonly invalidParams: -32602;
  readonly internalError: -32603;
  readonly unavailable: -32000;
  readonly messageTooLarge: -32001;
  readonly overloaded: -32002;
  readonly roleDisabled: -32003;
  readonly storageLow: -32004;
  readonly notFound: -32010;
  readonly conflict: -32011;
  readonly expired: -32012;
  readonly insufficientUnits: -32013;
  readonly outOfStock: -32014;
  readonly invalidToken: -32015;
  readonly alreadyExists: -32016;
  readonly paymentDeclined: -32020;
  readonly invalidCard: -32021;
  readonly gatewayUnavailable: -32022;
  readonly gatewayTimeout: -32023;
  readonly gatewayProtocol: -32024;
  readonly gatewayRejected: -32025;
  readonly unsupportedCurrency: -32026;
  readonly amountInvalid: -32027;
  readonly paymentOutcomeUnknown: -32028;
  readonly credentials: -32029;
  readonly peerUnreachable: -32040;
  readonly peerRejected: -32041;
  readonly peerProtocol: -32042;
  readonly discoveryTimeout: -32043;
};
export type ErrorCodeName = keyof typeof CODES;
export declare const CODE_NAMES: Readonly<Record<number, ErrorCodeName>>;
export declare const ERROR_CLASSES: Readonly<Record<number, typeof WPWithinError>>;

export declare class ParseError extends WPWithinError { static readonly code: -32700; }
export declare class InvalidRequestError extends WPWithinError { static readonly code: -32600; }
export declare class MethodNotFoundError extends WPWithinError { static readonly code: -32601; }
export declare class InvalidParamsError extends WPWithinError { static readonly code: -32602; }
export declare class InternalError extends WPWithinError { static readonly code: -32603; }
export declare class UnavailableError extends WPWithinError { static readonly code: -32000; }
export declare class MessageTooLargeError extends WPWithinError { static readonly code: -32001; }
export declare class OverloadedError extends WPWithinError { static readonly code: -32002; }
export declare class RoleDisabledError extends WPWithinError { static readonly code: -32003; }
export declare class StorageLowError extends WPWithinError { static readonly code: -32004; }
export declare class NotFoundError extends WPWithinError { static readonly code: -32010; }
export declare class ConflictError extends WPWithinError { static readonly code: -32011; }
export declare class ExpiredError extends WPWithinError { static readonly code: -32012; }
export declare class InsufficientUnitsError extends WPWithinError { static readonly code: -32013; }
export declare class OutOfStockError extends WPWithinError { static readonly code: -32014; }
export declare class InvalidTokenError extends WPWithinError { static readonly code: -32015; }
export declare class AlreadyExistsError extends WPWithinError { static readonly code: -32016; }
export declare class PaymentDeclinedError extends WPWithinError { static readonly code: -32020; }
export declare class InvalidCardError extends WPWithinError { static readonly code: -32021; }
export declare class GatewayUnavailableError extends WPWithinError { static readonly code: -32022; }
export declare class GatewayTimeoutError extends WPWithinError { static readonly code: -32023; }
export declare class GatewayProtocolError extends WPWithinError { static readonly code: -32024; }
export declare class GatewayRejectedError extends WPWithinError { static readonly code: -32025; }
export declare class UnsupportedCurrencyError extends WPWithinError { static readonly code: -32026; }
export declare class AmountInvalidError extends WPWithinError { static readonly code: -32027; }
export declare class PaymentOutcomeUnknownError extends WPWithinError { static readonly code: -32028; }
export declare class CredentialsError extends WPWithinError { static readonly code: -32029; }
export declare class PeerUnreachableError extends WPWithinError { static readonly code: -32040; }
export declare class PeerRejectedError extends WPWithinError { static readonly code: -32041; }
export declare class PeerProtocolError extends WPWithinError { static readonly code: -32042; }
export declare class DiscoveryTimeoutError extends WPWithinError { static readonly code: -32043; }

export type ClientErrorCode =
  | 'noSuchSocket'
  | 'connectionRefused'
  | 'permissionDenied'
  | 'notASocket'
  | 'pathTooLong'
  | 'connectFailed'
  | 'notConnected'
  | 'connectionClosed'
  | 'lineTooLong'
  | 'invalidResponse'
  | 'subscriptionLost'
  | 'timeout'
  | 'aborted';
export declare const CLIENT_ERROR_CODES: ReadonlyArray<ClientErrorCode>;

/** The client itself failed: cannot connect, connection lost, line too long, malformed answer, timeout. */
export declare class WPWithinClientError extends Error {
  readonly code: ClientErrorCode;
  /** The socket path in use. */
  readonly socketPath?: string;
  /** The system error code behind a connect failure (e.g. 'ENOENT', 'ECONNREFUSED'). */
  readonly errno?: string;
  /** True for the failures that mean "could not reach the daemon". */
  readonly isConnectFailure: boolean;
  constructor(code: ClientErrorCode, message: string, options?: { socketPath?: string; errno?: string; cause?: unknown });
}

// BEGIN GENERATED METHODS (scripts/generate.js from openrpc.json; do not edit by hand)

/** Every event type the daemon publishes (from subscribe's `types` enum). */
export type EventType =
  | "daemon.started"
  | "daemon.reloaded"
  | "daemon.stopping"
  | "daemon.error"
  | "producer.error"
  | "consumer.error"
  | "consumer.deviceDiscovered"
  | "producer.serviceAdded"
  | "producer.serviceReplaced"
  | "producer.serviceRemoved"
  | "producer.quoteCreated"
  | "producer.paymentStarted"
  | "producer.paymentSucceeded"
  | "producer.paymentFailed"
  | "producer.paymentOutcomeUnknown"
  | "producer.paymentAbandoned"
  | "producer.lateChargeFound"
  | "producer.refundIssued"
  | "producer.deliveryBegun"
  | "producer.deliveryEnded"
  | "producer.deliveryLeaseExpired"
  | "consumer.quoteReceived"
  | "consumer.purchaseRecorded"
  | "consumer.deliveryBegun"
  | "consumer.deliveryConfirmed"
  | "consumer.deliveryEnded"
  | "consumer.deliveryUnsettled"
  | "consumer.deliverySynced";

/** Every RPC method name, as the daemon's rpc.discover lists them. */
export type MethodName =
  | "rpc.discover"
  | "getDevice"
  | "getStatus"
  | "getMetrics"
  | "startServiceBroadcast"
  | "stopServiceBroadcast"
  | "deviceDiscovery"
  | "searchForDevice"
  | "addService"
  | "removeService"
  | "listServices"
  | "requestServices"
  | "getServicePrices"
  | "selectService"
  | "makePayment"
  | "beginServiceDelivery"
  | "endServiceDelivery"
  | "listPurchases"
  | "subscribe"
  | "unsubscribe";

export interface StartServiceBroadcastParams {
  /** Milliseconds. */
  timeoutMs?: number;
}

export interface DeviceDiscoveryParams {
  /** Milliseconds. */
  timeoutMs?: number;
}

export interface SearchForDeviceParams {
  /** The producer's serverId. */
  serverId?: string;
  /** The producer's device name. */
  name?: string;
  /** Milliseconds. */
  timeoutMs?: number;
}

export interface AddServiceParams {
  /** {id,name,description,serviceType,prices:[{id,description,amount,currencyCode,unitId,unitDescription,stock}]} */
  service: ServiceDefinition;
}

export interface RemoveServiceParams {
  serviceId: number;
}

export interface RequestServicesParams {
  /** The producer, as found by discovery. */
  serverId?: string;
  /** The producer's HTE base URL (http://host:port[prefix]) when discovery is off. */
  url?: string;
}

export interface GetServicePricesParams {
  /** The producer, as found by discovery. */
  serverId?: string;
  /** The producer's HTE base URL (http://host:port[prefix]) when discovery is off. */
  url?: string;
  serviceId: number;
}

export interface SelectServiceParams {
  /** The producer, as found by discovery. */
  serverId?: string;
  /** The producer's HTE base URL (http://host:port[prefix]) when discovery is off. */
  url?: string;
  serviceId: number;
  priceId: number;
  numberOfUnits: number;
}

export interface MakePaymentParams {
  paymentReferenceId: string;
}

export interface BeginServiceDeliveryParams {
  purchaseId: number;
  units: number;
}

export interface EndServiceDeliveryParams {
  purchaseId: number;
  unitsReceived: number;
}

export interface SubscribeParams {
  /** Only these event types (default: all). */
  types?: EventType[];
  /** The last seq seen: kept events after it are replayed first. */
  resumeFrom?: number;
}

/** The promise-based methods, one per RPC method. */
export interface WPWithinMethods {
  /** Returns the OpenRPC document describing every method this daemon serves. */
  discover(params?: Record<string, never>, options?: CallOptions): Promise<OpenRPCDocument>;
  /** This Thing's identity: serverId (lowercase UUID), name, description, version and roles. */
  getDevice(params?: Record<string, never>, options?: CallOptions): Promise<Device>;
  /** The daemon's status and health: version, uptime, open connections, socket path, state directory, readiness; health of the store, the gateway (as last seen) and discovery. */
  getStatus(params?: Record<string, never>, options?: CallOptions): Promise<Status>;
  /** The daemon's metrics in Prometheus text exposition format 0.0.4 (the same text as the metrics.listen endpoint). */
  getMetrics(params?: Record<string, never>, options?: CallOptions): Promise<{
    contentType: string;
    text: string;
  }>;
  /** Broadcasts this producer on the LAN every interval, for timeoutMs (0: until stopped). Errors: -32003 roleDisabled. */
  startServiceBroadcast(params?: StartServiceBroadcastParams, options?: CallOptions): Promise<{ broadcasting: boolean }>;
  /** Stops broadcasting. Errors: -32003 roleDisabled. */
  stopServiceBroadcast(params?: Record<string, never>, options?: CallOptions): Promise<{ broadcasting: boolean }>;
  /** Listens for producers for timeoutMs and returns each one seen (one per serverId). Errors: -32003 roleDisabled, -32000 unavailable. */
  deviceDiscovery(params?: DeviceDiscoveryParams, options?: CallOptions): Promise<DiscoveredDevice[]>;
  /** Returns the first producer matching serverId or name as soon as it is heard, or discoveryTimeout. Errors: -32003 roleDisabled, -32043 discoveryTimeout. */
  searchForDevice(params?: SearchForDeviceParams, options?: CallOptions): Promise<DiscoveredDevice>;
  /** Adds a service with its prices to this producer's catalog (kept in the database). Errors: -32016 alreadyExists, -32027 amountInvalid, -32026 unsupportedCurrency. */
  addService(params: AddServiceParams, options?: CallOptions): Promise<Service>;
  /** Removes a service from the catalog. Errors: -32010 notFound. */
  removeService(params: RemoveServiceParams, options?: CallOptions): Promise<{ removed: boolean }>;
  /** This producer's catalog, with the stock left at each price. */
  listServices(params?: Record<string, never>, options?: CallOptions): Promise<Service[]>;
  /** The services a producer offers. Errors: -32010 notFound, -32040 peerUnreachable, -32041 peerRejected, -32042 peerProtocol. */
  requestServices(params?: RequestServicesParams, options?: CallOptions): Promise<ServiceList>;
  /** The prices of one of a producer's services. Errors: -32010 notFound, -32040 peerUnreachable, -32041 peerRejected, -32042 peerProtocol. */
  getServicePrices(params: GetServicePricesParams, options?: CallOptions): Promise<PriceList>;
  /** Asks the producer for a total for numberOfUnits at a price; returns the quote to pay. Errors: -32010 notFound, -32014 outOfStock, -32027 amountInvalid, -32040 peerUnreachable, -32041 peerRejected, -32042 peerProtocol. */
  selectService(params: SelectServiceParams, options?: CallOptions): Promise<Quote>;
  /** Pays a quote: a single-use token from the gateway with this Thing's card, then the producer charges it. Idempotent per paymentReferenceId. Errors: -32010 notFound, -32011 conflict, -32012 expired, -32014 outOfStock, -32029 credentials, -32020 paymentDeclined, -32021 invalidCard, -32022 gatewayUnavailable, -32023 gatewayTimeout, -32024 gatewayProtocol, -32025 gatewayRejected, -32028 paymentOutcomeUnknown, -32040 peerUnreachable, -32041 peerRejected, -32042 peerProtocol. */
  makePayment(params: MakePaymentParams, options?: CallOptions): Promise<Purchase>;
  /** Asks the producer to supply up to `units` of a purchase; returns the units it will supply. Errors: -32010 notFound, -32013 insufficientUnits, -32012 expired, -32011 conflict, -32040 peerUnreachable, -32041 peerRejected. */
  beginServiceDelivery(params: BeginServiceDeliveryParams, options?: CallOptions): Promise<DeliveryBegun>;
  /** Tells the producer how many units were received; returns the units committed and remaining. Errors: -32010 notFound, -32011 conflict, -32040 peerUnreachable, -32041 peerRejected. */
  endServiceDelivery(params: EndServiceDeliveryParams, options?: CallOptions): Promise<DeliveryEnded>;
  /** This Thing's purchases: units bought, delivered, remaining, expiry. */
  listPurchases(params?: Record<string, never>, options?: CallOptions): Promise<Purchase[]>;
  /** Streams events to this connection as `event` notifications with a strictly increasing seq. */
  subscribe(params?: SubscribeParams, options?: CallOptions): Promise<Subscription>;
  /** Stops the event stream of this connection. */
  unsubscribe(params?: Record<string, never>, options?: CallOptions): Promise<{ subscribed: false }>;
}

// END GENERATED METHODS
