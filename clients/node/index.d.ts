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
// Every result, event and error data type (Device, Status, Purchase, Quote, EventProducerDeliveryBegun, …) is
// generated from the document's components/schemas: see the GENERATED region below.

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

export interface OpenRPCDocument {
  openrpc: string;
  info: { title: string; version: string; description?: string };
  methods: Array<{
    name: string;
    summary?: string;
    paramStructure?: string;
    params: Array<{ name: string; required?: boolean; schema: Record<string, unknown>; summary?: string }>;
    result: { name: string; schema: Record<string, unknown> };
    errors?: Array<{ code: number; message: string; 'x-dataSchema'?: { $ref: string } }>;
  }>;
  /** Named schemas: results, `Event.<type>` (each event's params), `ErrorData.<name>` (each error's data). */
  components: { schemas: Record<string, Record<string, unknown>> };
  /** The errors any method may answer, with their data schemas. */
  'x-commonErrors'?: Array<{ code: number; message: string; 'x-dataSchema'?: { $ref: string } }>;
  /** What a subscriber receives besides replies: `event` and `subscriptionLost`. */
  'x-notifications'?: Array<{ method: string; params: { $ref: string }; summary?: string }>;
}

// MARK: events

/**
 * What an 'event' listener gets: the discriminated union of every documented event's params (EventParams,
 * generated from rpc.discover's `Event.<type>` schemas), so testing `event.type` narrows to that event's own
 * interface: `if (event.type === 'producer.deliveryBegun') event.unitsGranted` is a number. seq (strictly
 * increasing per daemon; survives restarts), type and time (RFC 3339) are in every member.
 * Other members stay readable as `unknown` (as before the events were typed), and a newer daemon may send a
 * type or a member this client does not list: it arrives as it came (check EVENT_TYPES).
 */
export type WPWithinEvent = EventParams & { [field: string]: unknown };

/** Any event's params without the per-type fields: what 'event' listeners got before they were typed. */
export interface GenericEvent {
  /** Strictly increasing per daemon; survives restarts (the journal is in the database). */
  seq: number;
  type: EventType | string;
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
  readonly spendingLimitExceeded: -32050;
  readonly producerNotAllowed: -32051;
  readonly serviceTypeNotAllowed: -32052;
  readonly currencyNotAllowed: -32053;
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
export declare class SpendingLimitExceededError extends WPWithinError { static readonly code: -32050; }
export declare class ProducerNotAllowedError extends WPWithinError { static readonly code: -32051; }
export declare class ServiceTypeNotAllowedError extends WPWithinError { static readonly code: -32052; }
export declare class CurrencyNotAllowedError extends WPWithinError { static readonly code: -32053; }
export declare class RefundNotOfferedError extends WPWithinError { static readonly code: -32060; }
export declare class NothingToRefundError extends WPWithinError { static readonly code: -32061; }
export declare class UnitsRefundedError extends WPWithinError { static readonly code: -32062; }

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

/** `components/schemas/DeliveryBegun`. */
export interface DeliveryBegun {
  amountRefunded: number;
  currencyCode: string;
  expiry: string;
  paymentReferenceId: string;
  priceId: number;
  producerUrl: string;
  purchaseId: number;
  refundStatus: "pending" | "issued" | "none" | null;
  serverId: string;
  serviceId: number;
  totalPaid: number;
  unitsBought: number;
  unitsDelivered: number;
  unitsInFlight: number;
  unitsRefunded: number;
  unitsRemaining: number;
  unitsToSupply: number;
  unsettled: "begin" | "end" | null;
}

/** `components/schemas/DeliveryEnded`. */
export interface DeliveryEnded {
  amountRefunded: number;
  currencyCode: string;
  expiry: string;
  paymentReferenceId: string;
  priceId: number;
  producerUnitsRemaining: number;
  producerUrl: string;
  purchaseId: number;
  refundStatus: "pending" | "issued" | "none" | null;
  serverId: string;
  serviceId: number;
  settledFromProducer?: true;
  totalPaid: number;
  unitsBought: number;
  unitsDelivered: number;
  unitsInFlight: number;
  unitsJustSupplied: number;
  unitsRefunded: number;
  unitsRemaining: number;
  unsettled: "begin" | "end" | null;
}

/** `components/schemas/Device`. */
export interface Device {
  description: string;
  name: string;
  roles: Array<"producer" | "consumer">;
  serverId: string;
  version: string;
}

/** `components/schemas/DiscoveredDevice`. */
export interface DiscoveredDevice {
  deviceDescription: string;
  deviceName: string;
  hostname: string;
  portNumber: number;
  scheme: string;
  serverId: string;
  serviceTypes: string[];
  sourceAddress: string;
  url: string;
  urlPrefix: string;
}

/** `components/schemas/ErrorData.alreadyExists`. */
export interface ErrorDataAlreadyExists {
  errorCode?: number;
  httpStatus?: number;
  ledger?: UnitLedger;
  message?: string;
  route?: string;
  sqlState?: string;
  state?: string;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.amountInvalid`. */
export interface ErrorDataAmountInvalid {
  amount?: number;
  errorCode?: number;
  field?: string;
  httpStatus?: number;
  ledger?: UnitLedger;
  message?: string;
  route?: string;
  state?: string;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.conflict`. */
export interface ErrorDataConflict {
  errorCode?: number;
  httpStatus?: number;
  ledger?: UnitLedger;
  message?: string;
  purchaseId?: number;
  route?: string;
  state?: string;
  units?: number;
  unitsDelivered?: number;
  unitsInFlight?: number;
  unitsRemaining?: number;
  unsettled?: "begin" | "end";
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.credentials`. */
export interface ErrorDataCredentials {
  errorCode?: number;
  field?: string;
  httpStatus?: number;
  ledger?: UnitLedger;
  message?: string;
  mode?: string;
  path?: string;
  route?: string;
  state?: string;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.currencyNotAllowed`. */
export interface ErrorDataCurrencyNotAllowed {
  currencyCode?: string;
  paymentReferenceId?: string;
  rule?: "allowCurrencies";
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.discoveryTimeout`. */
export interface ErrorDataDiscoveryTimeout {
  match?: string;
  timeoutMs?: number;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.expired`. */
export interface ErrorDataExpired {
  errorCode?: number;
  httpStatus?: number;
  ledger?: UnitLedger;
  message?: string;
  paymentReferenceId?: string;
  refund?: "pending" | "issued";
  route?: string;
  state?: "abandoned" | "refundPending" | "refunded";
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.gatewayProtocol`. */
export interface ErrorDataGatewayProtocol {
  customCode?: string;
  description?: string;
  errorCode?: number;
  httpStatus?: number;
  httpStatusCode?: number;
  ledger?: UnitLedger;
  maxResponseBytes?: number;
  message?: string;
  operation?: string;
  reason?: string;
  route?: string;
  state?: string;
  tls?: string;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.gatewayRejected`. */
export interface ErrorDataGatewayRejected {
  customCode?: string;
  description?: string;
  errorCode?: number;
  httpStatus?: number;
  httpStatusCode?: number;
  ledger?: UnitLedger;
  maxResponseBytes?: number;
  message?: string;
  operation?: string;
  reason?: string;
  route?: string;
  state?: string;
  tls?: string;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.gatewayTimeout`. */
export interface ErrorDataGatewayTimeout {
  customCode?: string;
  description?: string;
  errorCode?: number;
  httpStatus?: number;
  httpStatusCode?: number;
  ledger?: UnitLedger;
  maxResponseBytes?: number;
  message?: string;
  operation?: string;
  reason?: string;
  route?: string;
  state?: string;
  tls?: string;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.gatewayUnavailable`. */
export interface ErrorDataGatewayUnavailable {
  customCode?: string;
  description?: string;
  errorCode?: number;
  httpStatus?: number;
  httpStatusCode?: number;
  ledger?: UnitLedger;
  maxResponseBytes?: number;
  message?: string;
  operation?: string;
  reason?: string;
  route?: string;
  state?: string;
  tls?: string;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.insufficientUnits`. */
export interface ErrorDataInsufficientUnits {
  errorCode?: number;
  httpStatus?: number;
  ledger?: UnitLedger;
  message?: string;
  remaining?: number;
  route?: string;
  state?: string;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.internalError`. */
export interface ErrorDataInternalError {
  errorId?: number;
  sqlState?: string;
  sqliteCode?: number;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.invalidCard`. */
export interface ErrorDataInvalidCard {
  customCode?: string;
  description?: string;
  errorCode?: number;
  httpStatus?: number;
  httpStatusCode?: number;
  ledger?: UnitLedger;
  maxResponseBytes?: number;
  message?: string;
  operation?: string;
  reason?: string;
  route?: string;
  state?: string;
  tls?: string;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.invalidParams`. */
export interface ErrorDataInvalidParams {
  field?: string;
  ledger?: UnitLedger;
  purchaseId?: number;
  route?: string;
  unitsDelivered?: number;
  unitsInFlight?: number;
  unitsRemaining?: number;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.invalidRequest`. */
export interface ErrorDataInvalidRequest {
  member?: string;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.invalidToken`. */
export interface ErrorDataInvalidToken {
  errorCode?: number;
  httpStatus?: number;
  ledger?: UnitLedger;
  message?: string;
  route?: string;
  state?: string;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.messageTooLarge`. */
export interface ErrorDataMessageTooLarge {
  maxLineBytes?: number;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.methodNotFound`. */
export interface ErrorDataMethodNotFound {
  method?: string;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.notFound`. */
export interface ErrorDataNotFound {
  customerOrderCode?: string;
  errorCode?: number;
  field?: string;
  httpStatus?: number;
  ledger?: UnitLedger;
  message?: string;
  orderCode?: string;
  paymentReferenceId?: string;
  route?: string;
  serverId?: string;
  state?: string;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.nothingToRefund`. */
export interface ErrorDataNothingToRefund {
  errorCode?: number;
  httpStatus?: number;
  ledger?: UnitLedger;
  message?: string;
  paymentReferenceId?: string;
  purchaseId?: number;
  route?: string;
  serverId?: string;
  state?: string;
  unitsDelivered?: number;
  unitsInFlight?: number;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.outOfStock`. */
export interface ErrorDataOutOfStock {
  available?: number;
  errorCode?: number;
  httpStatus?: number;
  ledger?: UnitLedger;
  message?: string;
  route?: string;
  state?: string;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.overloaded`. */
export interface ErrorDataOverloaded {
  maxConnections?: number;
  maxConnectionsPerUid?: number;
  reason?: "maxConnections" | "maxConnectionsPerUid";
  uid?: number;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.parseError`. */
export type ErrorDataParseError = null;

/** `components/schemas/ErrorData.paymentDeclined`. */
export interface ErrorDataPaymentDeclined {
  customCode?: string;
  customerOrderCode?: string;
  description?: string;
  errorCode?: number;
  httpStatus?: number;
  httpStatusCode?: number;
  ledger?: UnitLedger;
  maxResponseBytes?: number;
  message?: string;
  operation?: string;
  orderCode?: string;
  paymentReferenceId?: string;
  paymentStatus?: string;
  reason?: string;
  route?: string;
  state?: string;
  tls?: string;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.paymentOutcomeUnknown`. */
export interface ErrorDataPaymentOutcomeUnknown {
  answeredCustomerOrderCode?: string;
  customCode?: string;
  customerOrderCode?: string;
  errorCode?: number;
  httpStatus?: number;
  httpStatusCode?: number;
  ledger?: UnitLedger;
  message?: string;
  orderCode?: string;
  paymentReferenceId?: string;
  route?: string;
  state?: string;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.peerProtocol`. */
export interface ErrorDataPeerProtocol {
  errorCode?: number;
  httpStatus?: number;
  ledger?: UnitLedger;
  message?: string;
  reason?: string;
  requestMayHaveReachedPeer?: boolean;
  route?: string;
  state?: string;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.peerRejected`. */
export interface ErrorDataPeerRejected {
  errorCode?: number;
  httpStatus?: number;
  ledger?: UnitLedger;
  message?: string;
  route?: string;
  state?: string;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.peerUnreachable`. */
export interface ErrorDataPeerUnreachable {
  purchaseId?: number;
  reason?: string;
  requestMayHaveReachedPeer?: boolean;
  route?: string;
  units?: number;
  unsettled?: "begin" | "end";
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.producerNotAllowed`. */
export interface ErrorDataProducerNotAllowed {
  currencyCode?: string;
  paymentReferenceId?: string;
  rule?: "allowProducers" | "denyProducers";
  serverId?: string | null;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.refundNotOffered`. */
export interface ErrorDataRefundNotOffered {
  errorCode?: number;
  httpStatus?: number;
  ledger?: UnitLedger;
  message?: string;
  paymentReferenceId?: string;
  purchaseId?: number;
  reason?: "noRoute" | "notAllowed";
  route?: string;
  serverId?: string;
  state?: string;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.roleDisabled`. */
export interface ErrorDataRoleDisabled {
  role: "producer" | "consumer";
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.serviceTypeNotAllowed`. */
export interface ErrorDataServiceTypeNotAllowed {
  currencyCode?: string;
  paymentReferenceId?: string;
  rule?: "allowServiceTypes" | "denyServiceTypes";
  serviceType?: string | null;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.spendingLimitExceeded`. */
export interface ErrorDataSpendingLimitExceeded {
  currencyCode?: string;
  exceededBy?: number;
  limit?: "maxTotal" | "maxUnitPrice" | "maxUnits" | "dailyBudget" | "monthlyBudget";
  limitAmount?: number;
  paymentReferenceId?: string;
  pending?: number;
  remaining?: number;
  requested?: number;
  spent?: number;
  windowSeconds?: number;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.storageLow`. */
export interface ErrorDataStorageLow {
  errorCode?: number;
  freeBytes?: number;
  httpStatus?: number;
  ledger?: UnitLedger;
  message?: string;
  minimumFreeBytes?: number;
  reserveInPlace?: boolean;
  route?: string;
  state?: string;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.unavailable`. */
export interface ErrorDataUnavailable {
  devicesHeard?: number;
  sqlState?: string;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.unitsRefunded`. */
export interface ErrorDataUnitsRefunded {
  amountRefunded?: number;
  currencyCode?: string;
  errorCode?: number;
  httpStatus?: number;
  ledger?: UnitLedger;
  message?: string;
  paymentReferenceId?: string;
  purchaseId?: number;
  reason?: "expiry" | "requested";
  route?: string;
  state?: string;
  status?: "pending" | "issued";
  unitsRefunded?: number;
  [member: string]: unknown;
}

/** `components/schemas/ErrorData.unsupportedCurrency`. */
export interface ErrorDataUnsupportedCurrency {
  currencyCode?: string;
  errorCode?: number;
  field?: string;
  httpStatus?: number;
  ledger?: UnitLedger;
  message?: string;
  route?: string;
  state?: string;
  [member: string]: unknown;
}

/** `components/schemas/Event`. */
export type EventParams =
  | EventDaemonStarted
  | EventDaemonReloaded
  | EventDaemonStopping
  | EventDaemonError
  | EventProducerError
  | EventConsumerError
  | EventConsumerDeviceDiscovered
  | EventProducerServiceAdded
  | EventProducerServiceReplaced
  | EventProducerServiceRemoved
  | EventProducerQuoteCreated
  | EventProducerPaymentStarted
  | EventProducerPaymentSucceeded
  | EventProducerPaymentFailed
  | EventProducerPaymentOutcomeUnknown
  | EventProducerPaymentAbandoned
  | EventProducerLateChargeFound
  | EventProducerRefundIssued
  | EventProducerDeliveryBegun
  | EventProducerDeliveryEnded
  | EventProducerDeliveryLeaseExpired
  | EventConsumerQuoteReceived
  | EventConsumerPurchaseRecorded
  | EventConsumerDeliveryBegun
  | EventConsumerDeliveryConfirmed
  | EventConsumerDeliveryEnded
  | EventConsumerDeliveryUnsettled
  | EventConsumerDeliverySynced
  | EventConsumerRefundReceived
  | EventConsumerSpendingRefused;

/** `components/schemas/Event.consumer.deliveryBegun`. */
export interface EventConsumerDeliveryBegun {
  fleetSeq?: number;
  member?: string;
  paymentReferenceId: string;
  priceId: number;
  purchaseId: number;
  seq: number;
  serverId: string;
  serviceId: number;
  time: string;
  type: "consumer.deliveryBegun";
  unitsBought: number;
  unitsDelivered: number;
  unitsInFlight: number;
  unitsRequested: number;
  unitsReserved: number;
}

/** `components/schemas/Event.consumer.deliveryConfirmed`. */
export interface EventConsumerDeliveryConfirmed {
  fleetSeq?: number;
  member?: string;
  paymentReferenceId: string;
  priceId: number;
  purchaseId: number;
  seq: number;
  serverId: string;
  serviceId: number;
  time: string;
  type: "consumer.deliveryConfirmed";
  unitsBought: number;
  unitsDelivered: number;
  unitsGranted: number;
  unitsInFlight: number;
  unitsReserved: number;
}

/** `components/schemas/Event.consumer.deliveryEnded`. */
export interface EventConsumerDeliveryEnded {
  fleetSeq?: number;
  member?: string;
  paymentReferenceId: string;
  priceId: number;
  purchaseId: number;
  seq: number;
  serverId: string;
  serviceId: number;
  time: string;
  type: "consumer.deliveryEnded";
  unitsBought: number;
  unitsCommitted: number;
  unitsDelivered: number;
  unitsInFlight: number;
  unitsReceived: number;
}

/** `components/schemas/Event.consumer.deliverySynced`. */
export interface EventConsumerDeliverySynced {
  fleetSeq?: number;
  member?: string;
  paymentReferenceId: string;
  priceId: number;
  producerUnitsDelivered: number;
  producerUnitsInFlight: number;
  purchaseId: number;
  seq: number;
  serverId: string;
  serviceId: number;
  time: string;
  type: "consumer.deliverySynced";
  unitsBought: number;
  unitsDelivered: number;
  unitsInFlight: number;
}

/** `components/schemas/Event.consumer.deliveryUnsettled`. */
export interface EventConsumerDeliveryUnsettled {
  fleetSeq?: number;
  member?: string;
  paymentReferenceId: string;
  priceId: number;
  purchaseId: number;
  seq: number;
  serverId: string;
  serviceId: number;
  time: string;
  type: "consumer.deliveryUnsettled";
  units: number;
  unitsBought: number;
  unitsDelivered: number;
  unitsInFlight: number;
  unsettled: "begin" | "end";
}

/** `components/schemas/Event.consumer.deviceDiscovered`. */
export interface EventConsumerDeviceDiscovered {
  deviceDescription: string;
  deviceName: string;
  fleetSeq?: number;
  hostname: string;
  member?: string;
  portNumber: number;
  scheme: string;
  seq: number;
  serverId: string;
  serviceTypes: string[];
  sourceAddress: string;
  time: string;
  type: "consumer.deviceDiscovered";
  url: string;
  urlPrefix: string;
}

/** `components/schemas/Event.consumer.error`. */
export interface EventConsumerError {
  code: number;
  fleetSeq?: number;
  member?: string;
  message: string;
  operation: string;
  paymentReferenceId?: string;
  purchaseId?: number;
  seq: number;
  time: string;
  type: "consumer.error";
}

/** `components/schemas/Event.consumer.purchaseRecorded`. */
export interface EventConsumerPurchaseRecorded {
  currencyCode: string;
  fleetSeq?: number;
  member?: string;
  paymentReferenceId: string;
  priceId: number;
  purchaseId: number;
  seq: number;
  serverId: string;
  serviceId: number;
  time: string;
  totalAmount: number;
  type: "consumer.purchaseRecorded";
  unitsBought: number;
  unitsDelivered: number;
  unitsInFlight: number;
}

/** `components/schemas/Event.consumer.quoteReceived`. */
export interface EventConsumerQuoteReceived {
  currencyCode: string;
  fleetSeq?: number;
  member?: string;
  paymentReferenceId: string;
  priceId: number;
  seq: number;
  serverId: string;
  serviceId: number;
  time: string;
  totalAmount: number;
  type: "consumer.quoteReceived";
  units: number;
}

/** `components/schemas/Event.consumer.refundReceived`. */
export interface EventConsumerRefundReceived {
  amountRefunded: number;
  currencyCode: string;
  fleetSeq?: number;
  member?: string;
  paymentReferenceId: string;
  priceId: number;
  purchaseId: number;
  reason: "expiry" | "requested" | null;
  seq: number;
  serverId: string;
  serviceId: number;
  time: string;
  type: "consumer.refundReceived";
  unitsBought: number;
  unitsDelivered: number;
  unitsInFlight: number;
  unitsRefunded: number;
}

/** `components/schemas/Event.consumer.spendingRefused`. */
export interface EventConsumerSpendingRefused {
  code: number;
  currencyCode: string;
  exceededBy?: number;
  fleetSeq?: number;
  limitAmount?: number;
  member?: string;
  message: string;
  paymentReferenceId: string;
  pending?: number;
  priceId: number;
  remaining?: number;
  requested?: number;
  rule: "maxTotal" | "maxUnitPrice" | "maxUnits" | "dailyBudget" | "monthlyBudget" | "allowProducers" | "denyProducers" | "allowServiceTypes" | "denyServiceTypes" | "allowCurrencies";
  seq: number;
  serverId: string;
  serviceId: number;
  serviceType: string | null;
  spent?: number;
  time: string;
  totalAmount: number;
  type: "consumer.spendingRefused";
  units: number;
  windowSeconds?: number;
}

/** `components/schemas/Event.daemon.error`. */
export interface EventDaemonError {
  fleetSeq?: number;
  member?: string;
  message: string;
  seq: number;
  source: "reload";
  time: string;
  type: "daemon.error";
}

/** `components/schemas/Event.daemon.reloaded`. */
export interface EventDaemonReloaded {
  fleetSeq?: number;
  member?: string;
  restartRequiredFor: string[];
  seq: number;
  time: string;
  type: "daemon.reloaded";
}

/** `components/schemas/Event.daemon.started`. */
export interface EventDaemonStarted {
  fleetSeq?: number;
  member?: string;
  seq: number;
  serverId: string;
  time: string;
  type: "daemon.started";
  version: string;
}

/** `components/schemas/Event.daemon.stopping`. */
export interface EventDaemonStopping {
  fleetSeq?: number;
  member?: string;
  seq: number;
  time: string;
  type: "daemon.stopping";
}

/** `components/schemas/Event.producer.deliveryBegun`. */
export interface EventProducerDeliveryBegun {
  clientId: string;
  currencyCode: string;
  fleetSeq?: number;
  member?: string;
  paymentReferenceId: string;
  priceId: number;
  seq: number;
  serviceId: number;
  time: string;
  totalAmount: number;
  type: "producer.deliveryBegun";
  units: number;
  unitsDelivered?: number;
  unitsGranted: number;
  unitsInFlight?: number;
  unitsPurchased?: number;
  unitsRequested: number;
}

/** `components/schemas/Event.producer.deliveryEnded`. */
export interface EventProducerDeliveryEnded {
  clientId: string;
  currencyCode: string;
  fleetSeq?: number;
  member?: string;
  paymentReferenceId: string;
  priceId: number;
  seq: number;
  serviceId: number;
  time: string;
  totalAmount: number;
  type: "producer.deliveryEnded";
  units: number;
  unitsCommitted: number;
  unitsDelivered?: number;
  unitsInFlight?: number;
  unitsPurchased?: number;
  unitsReceived: number;
}

/** `components/schemas/Event.producer.deliveryLeaseExpired`. */
export interface EventProducerDeliveryLeaseExpired {
  clientId: string;
  currencyCode: string;
  fleetSeq?: number;
  member?: string;
  paymentReferenceId: string;
  priceId: number;
  seq: number;
  serviceId: number;
  settledAs: "released" | "delivered";
  time: string;
  totalAmount: number;
  type: "producer.deliveryLeaseExpired";
  units: number;
  unitsDelivered?: number;
  unitsInFlight?: number;
  unitsPurchased?: number;
}

/** `components/schemas/Event.producer.error`. */
export interface EventProducerError {
  code: number;
  fleetSeq?: number;
  member?: string;
  message: string;
  operation: string;
  paymentReferenceId?: string;
  purchaseId?: number;
  seq: number;
  time: string;
  type: "producer.error";
}

/** `components/schemas/Event.producer.lateChargeFound`. */
export interface EventProducerLateChargeFound {
  clientId: string;
  currencyCode: string;
  customerOrderCode: string;
  fleetSeq?: number;
  member?: string;
  paymentReferenceId: string;
  priceId: number;
  pspOrderCode: string;
  seq: number;
  serviceId: number;
  time: string;
  totalAmount: number;
  type: "producer.lateChargeFound";
  units: number;
}

/** `components/schemas/Event.producer.paymentAbandoned`. */
export interface EventProducerPaymentAbandoned {
  clientId: string;
  currencyCode: string;
  customerOrderCode: string;
  fleetSeq?: number;
  member?: string;
  paymentReferenceId: string;
  priceId: number;
  reason: string;
  seq: number;
  serviceId: number;
  time: string;
  totalAmount: number;
  type: "producer.paymentAbandoned";
  units: number;
}

/** `components/schemas/Event.producer.paymentFailed`. */
export interface EventProducerPaymentFailed {
  clientId: string;
  currencyCode: string;
  customerOrderCode: string;
  fleetSeq?: number;
  member?: string;
  paymentReferenceId: string;
  priceId: number;
  reason: string;
  seq: number;
  serviceId: number;
  time: string;
  totalAmount: number;
  type: "producer.paymentFailed";
  units: number;
}

/** `components/schemas/Event.producer.paymentOutcomeUnknown`. */
export interface EventProducerPaymentOutcomeUnknown {
  clientId: string;
  currencyCode: string;
  customerOrderCode: string;
  fleetSeq?: number;
  member?: string;
  paymentReferenceId: string;
  priceId: number;
  reason: string;
  seq: number;
  serviceId: number;
  time: string;
  totalAmount: number;
  type: "producer.paymentOutcomeUnknown";
  units: number;
}

/** `components/schemas/Event.producer.paymentStarted`. */
export interface EventProducerPaymentStarted {
  attempt: number;
  clientId: string;
  currencyCode: string;
  fleetSeq?: number;
  member?: string;
  paymentReferenceId: string;
  priceId: number;
  seq: number;
  serviceId: number;
  time: string;
  totalAmount: number;
  type: "producer.paymentStarted";
  units: number;
}

/** `components/schemas/Event.producer.paymentSucceeded`. */
export interface EventProducerPaymentSucceeded {
  clientId: string;
  currencyCode: string;
  fleetSeq?: number;
  member?: string;
  paymentReferenceId: string;
  priceId: number;
  pspOrderCode: string;
  seq: number;
  serviceId: number;
  time: string;
  totalAmount: number;
  type: "producer.paymentSucceeded";
  units: number;
}

/** `components/schemas/Event.producer.quoteCreated`. */
export interface EventProducerQuoteCreated {
  clientId: string;
  currencyCode: string;
  fleetSeq?: number;
  member?: string;
  paymentReferenceId: string;
  priceId: number;
  seq: number;
  serviceId: number;
  time: string;
  totalAmount: number;
  type: "producer.quoteCreated";
  units: number;
}

/** `components/schemas/Event.producer.refundIssued`. */
export interface EventProducerRefundIssued {
  clientId: string;
  currencyCode: string;
  customerOrderCode: string;
  fleetSeq?: number;
  member?: string;
  paymentReferenceId: string;
  priceId: number;
  pspOrderCode: string;
  reason: "lateCharge" | "expiry" | "requested";
  refundAmount: number;
  seq: number;
  serviceId: number;
  time: string;
  totalAmount: number;
  type: "producer.refundIssued";
  units: number;
  unitsDelivered?: number;
  unitsInFlight?: number;
  unitsPurchased?: number;
  unitsRefunded?: number;
}

/** `components/schemas/Event.producer.serviceAdded`. */
export interface EventProducerServiceAdded {
  fleetSeq?: number;
  member?: string;
  seq: number;
  serviceId: number;
  time: string;
  type: "producer.serviceAdded";
}

/** `components/schemas/Event.producer.serviceRemoved`. */
export interface EventProducerServiceRemoved {
  fleetSeq?: number;
  member?: string;
  seq: number;
  serviceId: number;
  time: string;
  type: "producer.serviceRemoved";
}

/** `components/schemas/Event.producer.serviceReplaced`. */
export interface EventProducerServiceReplaced {
  fleetSeq?: number;
  member?: string;
  seq: number;
  serviceId: number;
  time: string;
  type: "producer.serviceReplaced";
}

/** `components/schemas/Health`. */
export interface Health {
  discovery: {
    broadcaster: boolean | null;
    scanner: boolean | null;
  };
  gateway: {
    reachable: boolean | null;
    secondsSinceLastCall: number | null;
  };
  ok: boolean;
  producerStore: {
    backend: "sqlite" | "postgresql";
    reason: string | null;
    writable: boolean;
  } | null;
  store: {
    freeBytes: number | null;
    lastCommitFailed: boolean;
    writable: boolean;
  };
}

/** `components/schemas/Metrics`. */
export interface Metrics {
  contentType: string;
  text: string;
}

/** `components/schemas/PriceList`. */
export interface PriceList {
  prices: {
    amount: number;
    currencyCode: string;
    description: string;
    priceId: number;
    unitDescription: string;
    unitId: number;
  }[];
  serverId: string;
}

/** `components/schemas/Purchase`. */
export interface Purchase {
  amountRefunded: number;
  currencyCode: string;
  expiry: string;
  paymentReferenceId: string;
  priceId: number;
  producerUrl: string;
  purchaseId: number;
  refundStatus: "pending" | "issued" | "none" | null;
  serverId: string;
  serviceId: number;
  totalPaid: number;
  unitsBought: number;
  unitsDelivered: number;
  unitsInFlight: number;
  unitsRefunded: number;
  unitsRemaining: number;
  unsettled: "begin" | "end" | null;
}

/** `components/schemas/Quote`. */
export interface Quote {
  currencyCode: string;
  merchantClientKey: string;
  paymentReferenceId: string;
  priceId: number;
  serverId: string;
  serviceId: number;
  totalPrice: number;
  unitsToSupply: number;
}

/** `components/schemas/Service`. */
export interface Service {
  description: string;
  id: number;
  name: string;
  prices: ServicePrice[];
  serviceType: string;
}

/** `components/schemas/ServiceList`. */
export interface ServiceList {
  fleetId: string | null;
  serverId: string;
  services: {
    description: string;
    name: string;
    serviceId: number;
    serviceType: string;
  }[];
}

/** `components/schemas/ServicePrice`. */
export interface ServicePrice {
  amount: number;
  currencyCode: string;
  description: string;
  id: number;
  refundOnExpiry: boolean;
  stock: number | null;
  unitDescription: string;
  unitId: number;
}

/** `components/schemas/SpendingAmount`. */
export interface SpendingAmount {
  amount: number;
  currencyCode: string;
}

/** `components/schemas/SpendingBudget`. */
export interface SpendingBudget {
  currencyCode: string;
  limit: number;
  pending: number;
  purchased: number;
  remaining: number;
  spent: number;
  window: "day" | "month";
  windowSeconds: number;
}

/** `components/schemas/SpendingPolicy`. */
export interface SpendingPolicy {
  budgets: SpendingBudget[];
  policy: SpendingRules;
}

/** `components/schemas/SpendingRules`. */
export interface SpendingRules {
  allowCurrencies: string[] | null;
  allowProducers: string[] | null;
  allowServiceTypes: string[] | null;
  dailyBudget: SpendingAmount[];
  denyProducers: string[];
  denyServiceTypes: string[];
  maxTotal: SpendingAmount[];
  maxUnitPrice: SpendingAmount[];
  maxUnits: number | null;
  monthlyBudget: SpendingAmount[];
}

/** `components/schemas/Status`. */
export interface Status {
  connections: number;
  consumer: {
    budgets: SpendingBudget[];
  } | null;
  health: Health;
  metricsURL: string | null;
  payments: {
    card: string | null;
    gatewayEndpoint: string;
    merchantClientKey: string | null;
  };
  pid: number;
  ready: boolean;
  roles: Array<"producer" | "consumer">;
  socketPath: string;
  stateDir: string;
  uptimeSeconds: number;
  version: string;
}

/** `components/schemas/SubscriptionLost`. */
export interface SubscriptionLost {
  lastDeliveredSeq: number;
  reason: "overflow";
}

/** `components/schemas/UnitLedger`. */
export interface UnitLedger {
  delivered: number;
  inFlight: number;
  purchased: number;
}

/** Each event type's notification params. */
export interface EventParamsByType {
  "consumer.deliveryBegun": EventConsumerDeliveryBegun;
  "consumer.deliveryConfirmed": EventConsumerDeliveryConfirmed;
  "consumer.deliveryEnded": EventConsumerDeliveryEnded;
  "consumer.deliverySynced": EventConsumerDeliverySynced;
  "consumer.deliveryUnsettled": EventConsumerDeliveryUnsettled;
  "consumer.deviceDiscovered": EventConsumerDeviceDiscovered;
  "consumer.error": EventConsumerError;
  "consumer.purchaseRecorded": EventConsumerPurchaseRecorded;
  "consumer.quoteReceived": EventConsumerQuoteReceived;
  "consumer.refundReceived": EventConsumerRefundReceived;
  "consumer.spendingRefused": EventConsumerSpendingRefused;
  "daemon.error": EventDaemonError;
  "daemon.reloaded": EventDaemonReloaded;
  "daemon.started": EventDaemonStarted;
  "daemon.stopping": EventDaemonStopping;
  "producer.deliveryBegun": EventProducerDeliveryBegun;
  "producer.deliveryEnded": EventProducerDeliveryEnded;
  "producer.deliveryLeaseExpired": EventProducerDeliveryLeaseExpired;
  "producer.error": EventProducerError;
  "producer.lateChargeFound": EventProducerLateChargeFound;
  "producer.paymentAbandoned": EventProducerPaymentAbandoned;
  "producer.paymentFailed": EventProducerPaymentFailed;
  "producer.paymentOutcomeUnknown": EventProducerPaymentOutcomeUnknown;
  "producer.paymentStarted": EventProducerPaymentStarted;
  "producer.paymentSucceeded": EventProducerPaymentSucceeded;
  "producer.quoteCreated": EventProducerQuoteCreated;
  "producer.refundIssued": EventProducerRefundIssued;
  "producer.serviceAdded": EventProducerServiceAdded;
  "producer.serviceRemoved": EventProducerServiceRemoved;
  "producer.serviceReplaced": EventProducerServiceReplaced;
}

/** Each error's `data`, by the error's name. */
export interface ErrorDataByName {
  alreadyExists: ErrorDataAlreadyExists;
  amountInvalid: ErrorDataAmountInvalid;
  conflict: ErrorDataConflict;
  credentials: ErrorDataCredentials;
  currencyNotAllowed: ErrorDataCurrencyNotAllowed;
  discoveryTimeout: ErrorDataDiscoveryTimeout;
  expired: ErrorDataExpired;
  gatewayProtocol: ErrorDataGatewayProtocol;
  gatewayRejected: ErrorDataGatewayRejected;
  gatewayTimeout: ErrorDataGatewayTimeout;
  gatewayUnavailable: ErrorDataGatewayUnavailable;
  insufficientUnits: ErrorDataInsufficientUnits;
  internalError: ErrorDataInternalError;
  invalidCard: ErrorDataInvalidCard;
  invalidParams: ErrorDataInvalidParams;
  invalidRequest: ErrorDataInvalidRequest;
  invalidToken: ErrorDataInvalidToken;
  messageTooLarge: ErrorDataMessageTooLarge;
  methodNotFound: ErrorDataMethodNotFound;
  notFound: ErrorDataNotFound;
  nothingToRefund: ErrorDataNothingToRefund;
  outOfStock: ErrorDataOutOfStock;
  overloaded: ErrorDataOverloaded;
  parseError: ErrorDataParseError;
  paymentDeclined: ErrorDataPaymentDeclined;
  paymentOutcomeUnknown: ErrorDataPaymentOutcomeUnknown;
  peerProtocol: ErrorDataPeerProtocol;
  peerRejected: ErrorDataPeerRejected;
  peerUnreachable: ErrorDataPeerUnreachable;
  producerNotAllowed: ErrorDataProducerNotAllowed;
  refundNotOffered: ErrorDataRefundNotOffered;
  roleDisabled: ErrorDataRoleDisabled;
  serviceTypeNotAllowed: ErrorDataServiceTypeNotAllowed;
  spendingLimitExceeded: ErrorDataSpendingLimitExceeded;
  storageLow: ErrorDataStorageLow;
  unavailable: ErrorDataUnavailable;
  unitsRefunded: ErrorDataUnitsRefunded;
  unsupportedCurrency: ErrorDataUnsupportedCurrency;
}

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
  | "consumer.deliverySynced"
  | "consumer.refundReceived"
  | "consumer.spendingRefused";

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
  | "replaceService"
  | "removeService"
  | "listServices"
  | "requestServices"
  | "getServicePrices"
  | "selectService"
  | "makePayment"
  | "beginServiceDelivery"
  | "endServiceDelivery"
  | "getSpendingPolicy"
  | "requestRefund"
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
  /** {id,name,description,serviceType,prices:[{id,description,amount,currencyCode,unitId,unitDescription,stock,refundOnExpiry}]} */
  service: ServiceDefinition;
}

export interface ReplaceServiceParams {
  /** {id,name,description,serviceType,prices:[{id,description,amount,currencyCode,unitId,unitDescription,stock,refundOnExpiry}]} */
  service: Record<string, unknown>;
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

export interface RequestRefundParams {
  purchaseId: number;
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
  /** The daemon's status and health: version, uptime, open connections, socket path, state directory, readiness; health of the store, the gateway (as last seen) and discovery; the consumer's spending budgets left. */
  getStatus(params?: Record<string, never>, options?: CallOptions): Promise<Status>;
  /** The daemon's metrics in Prometheus text exposition format 0.0.4 (the same text as the metrics.listen endpoint). */
  getMetrics(params?: Record<string, never>, options?: CallOptions): Promise<Metrics>;
  /** Broadcasts this producer on the LAN every interval, for timeoutMs (0: until stopped). Errors: -32003 roleDisabled. */
  startServiceBroadcast(params?: StartServiceBroadcastParams, options?: CallOptions): Promise<{
    broadcasting: true;
  }>;
  /** Stops broadcasting. Errors: -32003 roleDisabled. */
  stopServiceBroadcast(params?: Record<string, never>, options?: CallOptions): Promise<{
    broadcasting: false;
  }>;
  /** Listens for producers for timeoutMs and returns each one seen (one per serverId). Errors: -32003 roleDisabled, -32000 unavailable. */
  deviceDiscovery(params?: DeviceDiscoveryParams, options?: CallOptions): Promise<DiscoveredDevice[]>;
  /** Returns the first producer matching serverId or name as soon as it is heard, or discoveryTimeout. Errors: -32003 roleDisabled, -32043 discoveryTimeout. */
  searchForDevice(params?: SearchForDeviceParams, options?: CallOptions): Promise<DiscoveredDevice>;
  /** Adds a service with its prices to this producer's catalog (kept in the database). Errors: -32003 roleDisabled, -32016 alreadyExists, -32027 amountInvalid, -32026 unsupportedCurrency. */
  addService(params: AddServiceParams, options?: CallOptions): Promise<Service>;
  /** Replaces a service of this producer's catalog and all its prices, stock included (kept in the database); quotes already given keep their price. Errors: -32003 roleDisabled, -32010 notFound, -32027 amountInvalid, -32026 unsupportedCurrency. */
  replaceService(params: ReplaceServiceParams, options?: CallOptions): Promise<Service>;
  /** Removes a service from the catalog. Errors: -32003 roleDisabled, -32010 notFound. */
  removeService(params: RemoveServiceParams, options?: CallOptions): Promise<{
    removed: true;
  }>;
  /** This producer's catalog, with the stock left at each price. Errors: -32003 roleDisabled. */
  listServices(params?: Record<string, never>, options?: CallOptions): Promise<Service[]>;
  /** The services a producer offers. Errors: -32003 roleDisabled, -32010 notFound, -32040 peerUnreachable, -32041 peerRejected, -32042 peerProtocol. */
  requestServices(params?: RequestServicesParams, options?: CallOptions): Promise<ServiceList>;
  /** The prices of one of a producer's services. Errors: -32003 roleDisabled, -32010 notFound, -32040 peerUnreachable, -32041 peerRejected, -32042 peerProtocol. */
  getServicePrices(params: GetServicePricesParams, options?: CallOptions): Promise<PriceList>;
  /** Asks the producer for a total for numberOfUnits at a price; returns the quote to pay. Errors: -32003 roleDisabled, -32010 notFound, -32014 outOfStock, -32027 amountInvalid, -32040 peerUnreachable, -32041 peerRejected, -32042 peerProtocol. */
  selectService(params: SelectServiceParams, options?: CallOptions): Promise<Quote>;
  /** Pays a quote: a single-use token from the gateway with this Thing's card, then the producer charges it. Idempotent per paymentReferenceId. Errors: -32003 roleDisabled, -32010 notFound, -32011 conflict, -32012 expired, -32014 outOfStock, -32029 credentials, -32020 paymentDeclined, -32021 invalidCard, -32022 gatewayUnavailable, -32023 gatewayTimeout, -32024 gatewayProtocol, -32025 gatewayRejected, -32028 paymentOutcomeUnknown, -32040 peerUnreachable, -32041 peerRejected, -32042 peerProtocol, -32050 spendingLimitExceeded, -32051 producerNotAllowed, -32052 serviceTypeNotAllowed, -32053 currencyNotAllowed. */
  makePayment(params: MakePaymentParams, options?: CallOptions): Promise<Purchase>;
  /** Asks the producer to supply up to `units` of a purchase; returns the units it will supply. Errors: -32003 roleDisabled, -32010 notFound, -32013 insufficientUnits, -32012 expired, -32011 conflict, -32062 unitsRefunded, -32015 invalidToken, -32040 peerUnreachable, -32041 peerRejected. */
  beginServiceDelivery(params: BeginServiceDeliveryParams, options?: CallOptions): Promise<DeliveryBegun>;
  /** Tells the producer how many units were received; returns the units committed and remaining. Errors: -32003 roleDisabled, -32010 notFound, -32011 conflict, -32040 peerUnreachable, -32041 peerRejected. */
  endServiceDelivery(params: EndServiceDeliveryParams, options?: CallOptions): Promise<DeliveryEnded>;
  /** The spending policy checked before the card is used (consumer.spending) and what each budget has left. Errors: -32003 roleDisabled. */
  getSpendingPolicy(params?: Record<string, never>, options?: CallOptions): Promise<SpendingPolicy>;
  /** Asks the producer to refund this purchase's undelivered units now (those not delivered nor in flight); returns the purchase with its refund. A producer grants it when the price allows refunds (refundOnExpiry); asking again returns the same refund. Errors: -32003 roleDisabled, -32010 notFound, -32060 refundNotOffered, -32061 nothingToRefund, -32015 invalidToken, -32040 peerUnreachable, -32041 peerRejected, -32042 peerProtocol. */
  requestRefund(params: RequestRefundParams, options?: CallOptions): Promise<Purchase>;
  /** This Thing's purchases: units bought, delivered, remaining, expiry. Errors: -32003 roleDisabled. */
  listPurchases(params?: Record<string, never>, options?: CallOptions): Promise<Purchase[]>;
  /** Streams events to this connection as `event` notifications with a strictly increasing seq. */
  subscribe(params?: SubscribeParams, options?: CallOptions): Promise<Subscription>;
  /** Stops the event stream of this connection. */
  unsubscribe(params?: Record<string, never>, options?: CallOptions): Promise<{
    subscribed: false;
  }>;
}

// END GENERATED METHODS
