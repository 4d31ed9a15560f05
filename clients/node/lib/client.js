'use strict';

const { EventEmitter } = require('node:events');
const { Connection } = require('./connection');
const { WPWithinError, WPWithinClientError } = require('./errors');
const { METHODS, GeneratedMethods } = require('./methods');
const { checkParams, checkCallOptions, isPlainObject } = require('./validate');

const DEFAULT_SOCKET_PATH = '/run/wpwithin.sock';
const SOCKET_ENV = 'WPWITHIN_SOCKET';
const DEFAULT_MAX_LINE_LENGTH = 16 * 1024 * 1024;
const DEFAULT_EVENT_BUFFER_LIMIT = 10000;
const METHODS_BY_NAME = new Map(METHODS.map((method) => [method.name, method]));
const SUBSCRIBE = METHODS_BY_NAME.get('subscribe');
const UNSUBSCRIBE = METHODS_BY_NAME.get('unsubscribe');

/** The socket path: `explicit` if non-empty, else $WPWITHIN_SOCKET, else /run/wpwithin.sock. */
function resolveSocketPath(explicit, env = process.env) {
  if (typeof explicit === 'string' && explicit !== '') return explicit;
  if (env[SOCKET_ENV]) return env[SOCKET_ENV];
  return DEFAULT_SOCKET_PATH;
}

function positiveInteger(options, key, fallback) {
  const value = options[key];
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`WPWithinClient: ${key} must be a positive integer`);
  return value;
}

/** Which daemon process answered: its pid and start time (ms, from its uptime). */
function incarnationOf(status) {
  const pid = status && Number.isSafeInteger(status.pid) ? status.pid : null;
  const uptime = status && typeof status.uptimeSeconds === 'number' ? status.uptimeSeconds : 0;
  return { pid, startedAt: Date.now() - uptime * 1000 };
}

/** Same process: same pid and (within clock jitter) the same start time. */
function sameIncarnation(a, b) {
  return a.pid === b.pid && Math.abs(a.startedAt - b.startedAt) < 500;
}

/** Errors after which a resubscription is worth retrying: the daemon is away, restarting or busy. */
const TRANSIENT_CLIENT_ERRORS = new Set(['noSuchSocket', 'connectionRefused', 'connectFailed', 'connectionClosed', 'timeout']);
function isTransient(error) {
  if (error instanceof WPWithinClientError) return TRANSIENT_CLIENT_ERRORS.has(error.code);
  if (error instanceof WPWithinError) return error.code === -32000 || error.code === -32002;
  return false;
}

/**
 * A client for wpwithind's socket. One client holds one connection at a time; calls are pipelined on it
 * and matched by id. The connection is opened on `connect()` or by the first call, and re-opened by the
 * next call (or at once, when a subscription is active) after the daemon restarts or the connection drops.
 *
 * Events: 'connect' (socketPath), 'disconnect' (WPWithinClientError), 'event' (every event of the
 * subscription, as the subscription emits it).
 */
class WPWithinClient extends EventEmitter {
  /**
   * @param {object} [options]
   * @param {string} [options.socketPath] default $WPWITHIN_SOCKET, else /run/wpwithin.sock
   * @param {number} [options.maxLineLength] longest line accepted from the daemon (default 16 MiB)
   * @param {boolean} [options.reconnect] reconnect after the connection drops (default true)
   * @param {number} [options.reconnectDelayMs] first delay before resubscribing (default 100, doubles)
   * @param {number} [options.maxReconnectDelayMs] the longest delay between attempts (default 2000)
   * @param {number} [options.eventBufferLimit] events held for a subscription with no 'event' listener (default 10000)
   * @param {number} [options.timeoutMs] default per-call timeout (default none: the daemon bounds its own calls)
   */
  constructor(options = {}) {
    super();
    if (!isPlainObject(options)) throw new TypeError('WPWithinClient: options must be an object');
    if (options.socketPath !== undefined && typeof options.socketPath !== 'string') {
      throw new TypeError('WPWithinClient: socketPath must be a string');
    }
    if (options.reconnect !== undefined && typeof options.reconnect !== 'boolean') {
      throw new TypeError('WPWithinClient: reconnect must be a boolean');
    }
    this.socketPath = resolveSocketPath(options.socketPath);
    this.maxLineLength = positiveInteger(options, 'maxLineLength', DEFAULT_MAX_LINE_LENGTH);
    this.reconnect = options.reconnect !== false;
    this.reconnectDelayMs = positiveInteger(options, 'reconnectDelayMs', 100);
    this.maxReconnectDelayMs = positiveInteger(options, 'maxReconnectDelayMs', 2000);
    this.eventBufferLimit = positiveInteger(options, 'eventBufferLimit', DEFAULT_EVENT_BUFFER_LIMIT);
    this.defaultTimeoutMs = checkCallOptions('WPWithinClient', { timeoutMs: options.timeoutMs }).timeoutMs;
    this._connection = null;
    this._connecting = null;
    this._closed = false;
    /** Why the last connection ended, for calls made with reconnect off. */
    this._lastCloseReason = null;
    /** @type {Subscription | null} */
    this._subscription = null;
  }

  /** Creates a client and connects it. */
  static async connect(options) {
    const client = new WPWithinClient(options);
    await client.connect();
    return client;
  }

  /** True while a connection is open. */
  get isConnected() {
    return Boolean(this._connection && this._connection.isOpen);
  }

  /** The current subscription, if any. */
  get subscription() {
    return this._subscription;
  }

  /** Opens the connection (if not open). Rejects with a WPWithinClientError naming the socket and the reason. */
  async connect() {
    await this._open();
  }

  /**
   * Closes the connection and ends the subscription. Waiting calls reject with 'notConnected'; later calls
   * too. Safe to call more than once.
   */
  async close() {
    if (this._closed) return;
    this._closed = true;
    const reason = new WPWithinClientError('notConnected', 'the client was closed', { socketPath: this.socketPath });
    if (this._subscription) this._subscription._end();
    const connection = this._connection;
    this._connection = null;
    if (connection && !connection.closed) {
      await new Promise((resolve) => {
        connection.socket.once('close', resolve);
        connection.close(reason);
      });
    }
  }

  /**
   * Calls any method by name with named params; known methods have their arguments checked first.
   * @returns {Promise<any>} the result
   */
  async call(method, params, options) {
    if (typeof method !== 'string' || method === '') throw new TypeError('call: method must be a non-empty string');
    const known = METHODS_BY_NAME.get(method);
    if (known) return this._invoke(known, params, options);
    if (params !== undefined && !isPlainObject(params)) {
      throw new TypeError(`${method}: params must be an object of named parameters`);
    }
    return this._send(method, params, checkCallOptions(method, options));
  }

  /** Used by the generated methods: checks the arguments, then sends. */
  async _invoke(method, params, options) {
    const sent = checkParams(method, params);
    return this._send(method.name, sent, checkCallOptions(method.name, options));
  }

  async _send(method, params, { timeoutMs, signal }) {
    const connection = await this._open();
    return connection.call(method, params, { timeoutMs: timeoutMs ?? this.defaultTimeoutMs, signal });
  }

  /**
   * Subscribes to the daemon's events. Resolves, once the daemon has accepted, with the Subscription (an
   * EventEmitter of 'event'). Events are held until an 'event' listener is attached, so none is missed
   * between this promise and `sub.on('event', …)`.
   * After the connection drops (or the daemon restarts, or sends subscriptionLost) the client
   * resubscribes with `resumeFrom` = the last seq it saw: no event is lost or repeated.
   * Subscribing again replaces the subscription (the previous one ends).
   * @param {{types?: string[], resumeFrom?: number}} [params]
   */
  async subscribe(params, options) {
    const checked = checkParams(SUBSCRIBE, params) || {};
    const callOptions = checkCallOptions('subscribe', options);
    if (this._subscription) this._subscription._end();
    const subscription = new Subscription(this, checked.types, checked.resumeFrom);
    this._subscription = subscription;
    try {
      const connection = await this._open();
      if (subscription.ended) throw new WPWithinClientError('notConnected', 'the subscription was replaced or closed', { socketPath: this.socketPath });
      await this._subscribeOn(subscription, connection, callOptions);
    } catch (error) {
      subscription._end();
      throw error;
    }
    return subscription;
  }

  /** Ends the subscription (it emits 'end') and tells the daemon to stop sending events. */
  async unsubscribe(params, options) {
    checkParams(UNSUBSCRIBE, params);
    const callOptions = checkCallOptions('unsubscribe', options);
    if (this._subscription) this._subscription._end();
    if (!this.isConnected) return { subscribed: false };
    return this._connection.call('unsubscribe', undefined, callOptions);
  }

  // MARK: connection

  _open() {
    if (this._closed) {
      return Promise.reject(new WPWithinClientError('notConnected', 'the client was closed', { socketPath: this.socketPath }));
    }
    if (this._connection && this._connection.isOpen) return Promise.resolve(this._connection);
    if (!this.reconnect && this._lastCloseReason) return Promise.reject(this._lastCloseReason);
    if (!this._connecting) {
      let connection;
      const options = {
        maxLineLength: this.maxLineLength,
        onNotification: (method, params) => this._notification(connection, method, params),
        onClose: (reason) => this._connectionClosed(connection, reason),
      };
      this._connecting = Connection.open(this.socketPath, options).then(
        (opened) => {
          connection = opened;
          this._connecting = null;
          if (this._closed) {
            opened.close();
            throw new WPWithinClientError('notConnected', 'the client was closed', { socketPath: this.socketPath });
          }
          this._connection = opened;
          this.emit('connect', this.socketPath);
          // A call reconnected first: the waiting subscription need not sit out its backoff.
          const subscription = this._subscription;
          if (subscription && !subscription.ended && subscription.state === 'disconnected' && subscription.timer) {
            this._resubscribeLater(subscription, 0);
          }
          return opened;
        },
        (error) => {
          this._connecting = null;
          throw error;
        },
      );
    }
    return this._connecting;
  }

  _connectionClosed(connection, reason) {
    if (this._connection === connection) this._connection = null;
    if (this._closed) return;
    this._lastCloseReason = reason;
    this.emit('disconnect', reason);
    const subscription = this._subscription;
    if (subscription && !subscription.ended && subscription.connection === connection) {
      subscription.connection = null;
      subscription.state = 'disconnected';
      if (this.reconnect) {
        subscription.emit('disconnected', reason);
        this._resubscribeLater(subscription, this.reconnectDelayMs);
      } else {
        subscription._end(reason);
      }
    }
  }

  _notification(connection, method, params) {
    const subscription = this._subscription;
    if (!subscription || subscription.ended || subscription.connection !== connection) return;
    if (method === 'event') {
      if (!params || !Number.isSafeInteger(params.seq)) return;
      if (subscription.state === 'active') subscription._receive(params);
      else if (subscription.state === 'probing' && subscription.probe) subscription.probe.add(params.seq);
    } else if (method === 'subscriptionLost') {
      if (subscription.state !== 'active') return;
      subscription.state = 'lost';
      subscription.emit('lost', params || {});
      this._resubscribeNow(subscription, connection);
    }
  }

  /**
   * Sends `subscribe` for `subscription` on `connection`, resuming from its cursor. The subscription turns
   * active synchronously with the reply, before any later line is read, so no event slips between.
   *
   * When the daemon process changed since the cursor was taken (a restart: another pid or start time),
   * the client checks whether the new process continued the seq numbers: it did if its `daemon.started`
   * event has a seq above the cursor (the daemon keeps its journal, and its seqs, in its database). If not
   * (an older daemon that numbered events in memory, or a database that was replaced), the cursor is
   * meaningless: the subscription emits 'reset' and replays the new process's events from the start.
   */
  async _subscribeOn(subscription, connection, callOptions = {}) {
    subscription.connection = connection;
    subscription.state = 'subscribing';
    const status = await connection.call('getStatus', undefined, callOptions);
    const incarnation = incarnationOf(status);
    let resumeFrom = subscription.cursor;
    const previous = subscription.incarnation;
    if (previous && resumeFrom !== null && !sameIncarnation(previous, incarnation)) {
      const started = await this._probeStart(subscription, connection, callOptions);
      if (started !== undefined && (started === null || started <= resumeFrom)) {
        resumeFrom = subscription._reset('daemonRestarted', resumeFrom);
      }
    }
    subscription.incarnation = incarnation;
    for (;;) {
      if (subscription.ended || subscription.connection !== connection) return null;
      subscription.state = 'subscribing';
      const params = {};
      if (subscription.types !== undefined) params.types = subscription.types;
      if (resumeFrom !== null) params.resumeFrom = resumeFrom;
      let behind = false;
      const reply = await connection.call('subscribe', Object.keys(params).length ? params : undefined, {
        ...callOptions,
        onResult: (result) => {
          if (subscription.ended || subscription.connection !== connection) return;
          behind = subscription._accepted(result, resumeFrom);
        },
      });
      if (!behind) return reply;
      // The daemon's journal is behind the cursor (its state was replaced): replay its whole journal.
      resumeFrom = 0;
    }
  }

  /**
   * The seq of the newest `daemon.started` event the daemon keeps (null: none), read with a throwaway
   * subscription on `connection` (the real one replaces it); undefined when the daemon refuses the probe.
   */
  async _probeStart(subscription, connection, callOptions) {
    const seqs = [];
    let expected = null;
    let settle;
    const complete = new Promise((resolve) => {
      settle = resolve;
    });
    const check = () => {
      if (expected !== null && seqs.length >= expected) settle();
    };
    subscription.probe = {
      add(seq) {
        seqs.push(seq);
        check();
      },
    };
    subscription.state = 'probing';
    try {
      await connection.call('subscribe', { types: ['daemon.started'], resumeFrom: 0 }, {
        ...callOptions,
        onResult: (result) => {
          expected = (result && result.replayed) || 0;
          check();
        },
      });
      const closed = new Promise((_, reject) => {
        if (!connection.isOpen) reject(connection.closeReason);
        connection.socket.once('close', () => reject(connection.closeReason));
      });
      closed.catch(() => {});
      await Promise.race([complete, closed]);
      return seqs.length ? Math.max(...seqs) : null;
    } catch (error) {
      if (error instanceof WPWithinError) return undefined;
      throw error;
    } finally {
      subscription.probe = null;
    }
  }

  _resubscribeNow(subscription, connection) {
    this._subscribeOn(subscription, connection).catch((error) => this._resubscribeFailed(subscription, error, this.reconnectDelayMs));
  }

  _resubscribeLater(subscription, delay) {
    if (subscription.ended || this._closed) return;
    clearTimeout(subscription.timer);
    subscription.timer = setTimeout(async () => {
      subscription.timer = null;
      if (subscription.ended || this._closed) return;
      try {
        const connection = await this._open();
        if (subscription.ended) return;
        if (subscription.connection === connection && subscription.state !== 'disconnected') return; // already on it
        await this._subscribeOn(subscription, connection);
      } catch (error) {
        this._resubscribeFailed(subscription, error, Math.min(delay * 2, this.maxReconnectDelayMs));
      }
    }, delay);
  }

  _resubscribeFailed(subscription, error, nextDelay) {
    if (subscription.ended || this._closed) return;
    if (this.reconnect && isTransient(error)) {
      subscription.state = 'disconnected';
      subscription.emit('retrying', error, nextDelay);
      this._resubscribeLater(subscription, nextDelay);
    } else {
      subscription._end(error);
    }
  }
}

/**
 * An event subscription. Emits:
 *  - 'event' (event): `{seq, type, time, …}` in seq order, never twice, none skipped;
 *  - 'subscribed' (info): after each resubscription: `{lastSeq, replayed, truncated, resumeFrom}`;
 *  - 'truncated' (info): the daemon no longer had every event after the cursor: some are gone;
 *  - 'reset' ({reason, previousSeq}): the daemon's seq numbers started over ('daemonRestarted': a daemon
 *    that numbers events in memory restarted; 'journalBehind': its journal is behind the cursor): the
 *    cursor goes back to 0 and the new journal is replayed from its start. Events the old process
 *    published after the connection dropped cannot be replayed;
 *  - 'lost' (params): the daemon dropped the subscription (subscriptionLost); the client resubscribes;
 *  - 'disconnected' (error): the connection dropped; the client resubscribes when it is back;
 *  - 'retrying' (error, delayMs): a resubscription failed and will be tried again;
 *  - 'end' (error?): the subscription is over: closed, replaced, or failed for good (error).
 */
class Subscription extends EventEmitter {
  constructor(client, types, resumeFrom) {
    super();
    this.client = client;
    this.types = types;
    /** The last seq received (the resume point), null until the daemon's first answer. */
    this.cursor = resumeFrom === undefined ? null : resumeFrom;
    /** The daemon's latest subscribe answer: {subscribed, lastSeq, replayed, truncated}. */
    this.info = null;
    this.state = 'subscribing';
    this.ended = false;
    this.connection = null;
    this.timer = null;
    this.queue = [];
    this.flushing = false;
    /** The daemon process the cursor belongs to ({pid, startedAt}). */
    this.incarnation = null;
    /** While probing a restarted daemon: where its daemon.started seqs go. */
    this.probe = null;
    const flushSoon = (name) => {
      if (name === 'event') process.nextTick(() => this._flush());
    };
    this.on('newListener', flushSoon);
    this._clientListener = flushSoon;
    client.on('newListener', flushSoon);
  }

  /** The last seq received: what a resubscription resumes from. */
  get lastSeq() {
    return this.cursor;
  }

  /** Unsubscribes (see client.unsubscribe) if this is still the client's subscription. */
  async close() {
    if (this.ended) return;
    if (this.client._subscription === this) {
      await this.client.unsubscribe().catch(() => {});
    } else {
      this._end();
    }
  }

  /** The daemon answered `subscribe`. Returns true when its journal is behind `resumeFrom`. */
  _accepted(reply, resumeFrom) {
    const info = {
      subscribed: Boolean(reply && reply.subscribed),
      lastSeq: reply && Number.isSafeInteger(reply.lastSeq) ? reply.lastSeq : 0,
      replayed: (reply && reply.replayed) || 0,
      truncated: Boolean(reply && reply.truncated),
      resumeFrom,
    };
    this.info = info;
    if (resumeFrom !== null && info.lastSeq < resumeFrom) {
      this._reset('journalBehind', resumeFrom, info.lastSeq);
      return true;
    }
    if (this.cursor === null) this.cursor = info.lastSeq;
    this.state = 'active';
    this.emit('subscribed', info);
    if (info.truncated) this.emit('truncated', info);
    return false;
  }

  /** The daemon's seq numbers started over: forget the cursor, replay from 0. Returns the new resumeFrom (0). */
  _reset(reason, previousSeq, lastSeq) {
    this.state = 'resetting';
    this.cursor = 0;
    const info = { reason, previousSeq };
    if (lastSeq !== undefined) info.lastSeq = lastSeq;
    this.emit('reset', info);
    return 0;
  }

  _receive(event) {
    if (this.cursor !== null && event.seq <= this.cursor) return; // a repeat
    this.cursor = event.seq;
    this.queue.push(event);
    if (this.queue.length > this.client.eventBufferLimit) {
      const error = new WPWithinClientError(
        'subscriptionLost',
        `${this.queue.length} events waited for an 'event' listener; resubscribe with resumeFrom: ${this.queue[0].seq - 1}`,
        { socketPath: this.client.socketPath },
      );
      this.queue = [];
      this.client.unsubscribe().catch(() => {});
      this._end(error);
      return;
    }
    this._flush();
  }

  _flush() {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length && this.listenerCount('event') + this.client.listenerCount('event') > 0) {
        const event = this.queue.shift();
        this.emit('event', event);
        this.client.emit('event', event);
      }
    } finally {
      this.flushing = false;
    }
  }

  _end(error) {
    if (this.ended) return;
    this.ended = true;
    this.state = 'ended';
    clearTimeout(this.timer);
    this.client.removeListener('newListener', this._clientListener);
    if (this.client._subscription === this) this.client._subscription = null;
    this.emit('end', error);
  }
}

// The generated RPC methods, except those the client defines itself (subscribe, unsubscribe).
for (const name of Object.getOwnPropertyNames(GeneratedMethods.prototype)) {
  if (name === 'constructor' || Object.prototype.hasOwnProperty.call(WPWithinClient.prototype, name)) continue;
  Object.defineProperty(WPWithinClient.prototype, name, Object.getOwnPropertyDescriptor(GeneratedMethods.prototype, name));
}

module.exports = {
  WPWithinClient,
  Subscription,
  resolveSocketPath,
  DEFAULT_SOCKET_PATH,
  DEFAULT_MAX_LINE_LENGTH,
  SOCKET_ENV,
  METHODS,
};
