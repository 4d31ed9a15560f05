'use strict';

/**
 * Errors of the wpwithind client.
 *
 * - `WPWithinError` (and one subclass per stable code): the daemon answered with a JSON-RPC `error`
 *   object. `code` is the daemon's number (docs/rpc.md), `codeName` its name, `data` its structured data.
 * - `WPWithinClientError`: the client itself failed (cannot connect, connection lost, line too long,
 *   malformed answer, timeout). `code` is a string such as 'noSuchSocket' or 'connectionClosed'.
 */

class WPWithinError extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code;
    this.codeName = CODE_NAMES[code] || 'unknown';
    if (data !== undefined) this.data = data;
  }

  get name() {
    return this.constructor.name;
  }

  /** The error subclass for a daemon error object `{code, message, data}`. */
  static fromObject(object) {
    const Class = ERROR_CLASSES[object.code] || WPWithinError;
    return new Class(object.code, object.message, object.data);
  }
}

/** The daemon's stable codes (docs/rpc.md), by name. */
const CODES = Object.freeze({
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  unavailable: -32000,
  messageTooLarge: -32001,
  overloaded: -32002,
  roleDisabled: -32003,
  storageLow: -32004,
  notFound: -32010,
  conflict: -32011,
  expired: -32012,
  insufficientUnits: -32013,
  outOfStock: -32014,
  invalidToken: -32015,
  alreadyExists: -32016,
  paymentDeclined: -32020,
  invalidCard: -32021,
  gatewayUnavailable: -32022,
  gatewayTimeout: -32023,
  gatewayProtocol: -32024,
  gatewayRejected: -32025,
  unsupportedCurrency: -32026,
  amountInvalid: -32027,
  paymentOutcomeUnknown: -32028,
  credentials: -32029,
  peerUnreachable: -32040,
  peerRejected: -32041,
  peerProtocol: -32042,
  discoveryTimeout: -32043,
  spendingLimitExceeded: -32050,
  producerNotAllowed: -32051,
  serviceTypeNotAllowed: -32052,
  currencyNotAllowed: -32053,
  refundNotOffered: -32060,
  nothingToRefund: -32061,
  unitsRefunded: -32062,
});

const CODE_NAMES = Object.freeze(Object.fromEntries(Object.entries(CODES).map(([name, code]) => [code, name])));

// One subclass per code: notFound -> NotFoundError, credentials -> CredentialsError, internalError -> InternalError.
const ERROR_CLASSES = {};
const errorClasses = {};
for (const [codeName, code] of Object.entries(CODES)) {
  const base = codeName[0].toUpperCase() + codeName.slice(1);
  const className = base.endsWith('Error') ? base : `${base}Error`;
  // A named class, so stack traces and `error.name` say e.g. NotFoundError.
  const Class = { [className]: class extends WPWithinError {} }[className];
  Class.code = code;
  ERROR_CLASSES[code] = Class;
  errorClasses[className] = Class;
}

/** Codes of WPWithinClientError, mirroring the Swift client's WPWithinClientError.Code. */
const CLIENT_ERROR_CODES = Object.freeze([
  'noSuchSocket', // ENOENT / ENOTDIR: nothing at the socket path
  'connectionRefused', // ECONNREFUSED: a stale socket file, the daemon is not running
  'permissionDenied', // EACCES / EPERM
  'notASocket', // the path exists but is not a socket
  'pathTooLong', // longer than a sockaddr_un holds (107 bytes)
  'connectFailed', // any other connect failure
  'notConnected', // the client was closed
  'connectionClosed', // the daemon closed the connection (or it broke) while a call waited
  'lineTooLong', // the daemon sent a line longer than maxLineLength; the connection was closed
  'invalidResponse', // not JSON / not a JSON-RPC message
  'timeout', // the call's timeoutMs passed
  'aborted', // the call's AbortSignal fired
]);

const CONNECT_FAILURES = new Set(['noSuchSocket', 'connectionRefused', 'permissionDenied', 'notASocket', 'pathTooLong', 'connectFailed']);

class WPWithinClientError extends Error {
  constructor(code, message, { socketPath, errno, cause } = {}) {
    super(socketPath ? `${socketPath}: ${message}` : message, cause ? { cause } : undefined);
    this.code = code;
    if (socketPath !== undefined) this.socketPath = socketPath;
    if (errno !== undefined) this.errno = errno;
  }

  get name() {
    return 'WPWithinClientError';
  }

  /** True for the failures that mean "could not reach the daemon". */
  get isConnectFailure() {
    return CONNECT_FAILURES.has(this.code);
  }

  /** The error for a failed connect(2) on `socketPath`, from Node's system error. */
  static fromConnectError(error, socketPath) {
    const options = { socketPath, errno: error.code, cause: error };
    switch (error.code) {
      case 'ENOENT':
        return new WPWithinClientError('noSuchSocket', 'no such socket (is wpwithind running?)', options);
      case 'ENOTDIR':
        return new WPWithinClientError('noSuchSocket', 'no such socket (a path component is not a directory)', options);
      case 'ECONNREFUSED':
        return new WPWithinClientError('connectionRefused', 'stale socket, daemon not running (connection refused)', options);
      case 'EACCES':
      case 'EPERM':
        return new WPWithinClientError('permissionDenied', 'permission denied', options);
      case 'ENOTSOCK':
        return new WPWithinClientError('notASocket', 'not a socket', options);
      case 'ENAMETOOLONG':
        return new WPWithinClientError('pathTooLong', 'socket path is too long for a Unix socket address', options);
      default:
        return new WPWithinClientError('connectFailed', `cannot connect: ${error.message}`, options);
    }
  }
}

module.exports = {
  WPWithinError,
  WPWithinClientError,
  CODES,
  CODE_NAMES,
  CLIENT_ERROR_CODES,
  ERROR_CLASSES,
  ...errorClasses,
};
