'use strict';

const net = require('node:net');
const fs = require('node:fs');
const { WPWithinError, WPWithinClientError } = require('./errors');

const NEWLINE = 0x0a;
/** sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

/**
 * One connection to the daemon: newline-delimited JSON-RPC 2.0, pipelined calls matched by id.
 *
 * Calls that are waiting when the connection ends are rejected at once (never left hanging). A line
 * longer than `maxLineLength` ends the connection; nothing past the limit is buffered.
 */
class Connection {
  /**
   * @param {string} socketPath
   * @param {{maxLineLength: number, onNotification: (method: string, params: any) => void,
   *          onClose: (reason: WPWithinClientError) => void}} options
   */
  constructor(socketPath, socket, { maxLineLength, onNotification, onClose }) {
    this.socketPath = socketPath;
    this.socket = socket;
    this.maxLineLength = maxLineLength;
    this.onNotification = onNotification;
    this.onClose = onClose;
    this.pending = new Map();
    this.nextId = 1;
    this.closed = false;
    this.closeReason = null;
    /** A daemon error that could not be matched to a call (id null): explains a following close. */
    this.unmatchedError = null;
    this.chunks = [];
    this.buffered = 0;

    socket.on('data', (chunk) => this._receive(chunk));
    socket.on('error', (error) => {
      if (!this.closeReason) {
        this.closeReason = new WPWithinClientError('connectionClosed', `connection lost: ${error.message}`, {
          socketPath,
          errno: error.code,
          cause: error,
        });
      }
    });
    socket.on('close', () => this._ended());
  }

  /** Connects to `socketPath`; rejects with a WPWithinClientError naming the path and the reason. */
  static open(socketPath, options) {
    return new Promise((resolve, reject) => {
      if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
        reject(new WPWithinClientError('pathTooLong', `socket path is longer than ${MAX_SOCKET_PATH_BYTES} bytes`, { socketPath }));
        return;
      }
      const socket = net.createConnection({ path: socketPath });
      const failed = (error) => {
        socket.destroy();
        let mapped = WPWithinClientError.fromConnectError(error, socketPath);
        if (mapped.code === 'connectionRefused' && !isSocket(socketPath)) {
          mapped = new WPWithinClientError('notASocket', 'not a socket', { socketPath, errno: error.code, cause: error });
        }
        reject(mapped);
      };
      socket.once('error', failed);
      socket.once('connect', () => {
        socket.removeListener('error', failed);
        resolve(new Connection(socketPath, socket, options));
      });
    });
  }

  get isOpen() {
    return !this.closed && !this.closeReason;
  }

  /**
   * Sends a request and resolves with its `result` (rejects with a WPWithinError for an `error`).
   * @param {string} method
   * @param {object|undefined} params
   * @param {{timeoutMs?: number, signal?: AbortSignal, onResult?: (result: any) => void}} [options]
   *   `onResult` runs synchronously with the answer, before any later line is read.
   */
  call(method, params, { timeoutMs, signal, onResult } = {}) {
    if (!this.isOpen) return Promise.reject(this.closeReason || this._closedError());
    const id = this.nextId++;
    const request = { jsonrpc: '2.0', id, method };
    if (params !== undefined) request.params = params;
    let line;
    try {
      line = JSON.stringify(request) + '\n';
    } catch (error) {
      return Promise.reject(new TypeError(`cannot encode the params of ${method}: ${error.message}`));
    }
    return new Promise((resolve, reject) => {
      const entry = { method, resolve, reject, timer: null, signal, onAbort: null };
      const settle = () => {
        this.pending.delete(id);
        if (entry.timer) clearTimeout(entry.timer);
        if (entry.onAbort) signal.removeEventListener('abort', entry.onAbort);
      };
      entry.resolve = (value) => {
        settle();
        if (onResult) {
          try {
            onResult(value);
          } catch (error) {
            reject(error);
            return;
          }
        }
        resolve(value);
      };
      entry.reject = (error) => {
        settle();
        reject(error);
      };
      if (signal) {
        if (signal.aborted) {
          reject(abortError(method, signal, this.socketPath));
          return;
        }
        entry.onAbort = () => entry.reject(abortError(method, signal, this.socketPath));
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      if (timeoutMs !== undefined && timeoutMs !== null) {
        entry.timer = setTimeout(() => {
          entry.reject(new WPWithinClientError('timeout', `${method}: no answer within ${timeoutMs} ms`, { socketPath: this.socketPath }));
        }, timeoutMs);
      }
      this.pending.set(id, entry);
      this.socket.write(line);
    });
  }

  /** Sends a notification (no id, never answered). */
  notify(method, params) {
    if (!this.isOpen) return;
    const request = { jsonrpc: '2.0', method };
    if (params !== undefined) request.params = params;
    this.socket.write(JSON.stringify(request) + '\n');
  }

  /** Closes the connection; waiting calls are rejected with `reason`. */
  close(reason) {
    if (!this.closeReason) this.closeReason = reason || this._closedError();
    this.socket.destroy();
  }

  /** Stops (or restarts) reading from the socket. Used by tests to simulate a slow reader. */
  pause() {
    this.socket.pause();
  }

  resume() {
    this.socket.resume();
  }

  _closedError() {
    return new WPWithinClientError('notConnected', 'the connection was closed', { socketPath: this.socketPath });
  }

  _receive(chunk) {
    let start = 0;
    while (start < chunk.length && !this.closeReason) {
      const newline = chunk.indexOf(NEWLINE, start);
      const end = newline === -1 ? chunk.length : newline;
      const piece = chunk.subarray(start, end);
      // The limit counts the line without its terminator (a trailing \r included).
      if (this.buffered + piece.length > this.maxLineLength) {
        this.chunks = [];
        this.buffered = 0;
        this.close(
          new WPWithinClientError('lineTooLong', `the daemon sent a line longer than ${this.maxLineLength} bytes; connection closed`, {
            socketPath: this.socketPath,
          }),
        );
        return;
      }
      if (newline === -1) {
        if (piece.length) {
          this.chunks.push(piece);
          this.buffered += piece.length;
        }
        return;
      }
      let line = piece;
      if (this.chunks.length) {
        this.chunks.push(piece);
        line = Buffer.concat(this.chunks, this.buffered + piece.length);
        this.chunks = [];
        this.buffered = 0;
      }
      this._line(line);
      start = newline + 1;
    }
  }

  _line(bytes) {
    const text = bytes.toString('utf8').trim(); // \r\n framing and blank lines are accepted
    if (!text) return;
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      this._violation('the daemon sent a line that is not JSON');
      return;
    }
    if (message === null || typeof message !== 'object' || Array.isArray(message)) {
      this._violation('the daemon sent something other than a JSON-RPC message object');
      return;
    }
    if (typeof message.method === 'string' && !('id' in message)) {
      this.onNotification(message.method, message.params);
      return;
    }
    if (!('result' in message) && !('error' in message)) return; // a request to the client: it serves none
    const error = message.error;
    if (error !== undefined && (error === null || typeof error !== 'object' || typeof error.code !== 'number')) {
      const entry = this.pending.get(message.id);
      const failure = new WPWithinClientError('invalidResponse', 'the daemon sent a malformed error object', { socketPath: this.socketPath });
      if (entry) entry.reject(failure);
      return;
    }
    if (message.id === null || message.id === undefined) {
      if (error) this.unmatchedError = WPWithinError.fromObject(error);
      return;
    }
    const entry = this.pending.get(message.id);
    if (!entry) return; // timed out, aborted, or unknown
    if (error) entry.reject(WPWithinError.fromObject(error));
    else entry.resolve(message.result === undefined ? null : message.result);
  }

  _violation(message) {
    this.close(new WPWithinClientError('invalidResponse', message, { socketPath: this.socketPath }));
  }

  _ended() {
    if (this.closed) return;
    this.closed = true;
    let reason = this.closeReason;
    if (!reason) {
      if (this.buffered > 0) {
        reason = new WPWithinClientError('connectionClosed', 'the daemon closed the connection in the middle of a message', {
          socketPath: this.socketPath,
        });
      } else if (this.unmatchedError) {
        const daemonError = this.unmatchedError;
        reason = new WPWithinClientError(
          'connectionClosed',
          `the daemon closed the connection after error ${daemonError.code}: ${daemonError.message}`,
          { socketPath: this.socketPath, cause: daemonError },
        );
      } else {
        reason = new WPWithinClientError('connectionClosed', 'the daemon closed the connection', { socketPath: this.socketPath });
      }
      this.closeReason = reason;
    }
    const waiting = [...this.pending.values()];
    // With one call waiting, an error the daemon could not address (id null: e.g. messageTooLarge for
    // that very request) is that call's answer.
    if (waiting.length === 1 && this.unmatchedError && reason.code === 'connectionClosed') {
      waiting[0].reject(this.unmatchedError);
    } else {
      for (const entry of waiting) entry.reject(reason);
    }
    this.chunks = [];
    this.buffered = 0;
    this.onClose(reason);
  }
}

function isSocket(path) {
  try {
    return fs.statSync(path).isSocket();
  } catch {
    return true; // vanished: don't claim otherwise
  }
}

function abortError(method, signal, socketPath) {
  return new WPWithinClientError('aborted', `${method}: aborted`, { socketPath, cause: signal.reason });
}

module.exports = { Connection, MAX_SOCKET_PATH_BYTES };
