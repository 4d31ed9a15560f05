#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import NIOExtras
import NIOPosix
import WPWithinCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A client for the `wpwithind` control socket: newline-delimited JSON-RPC 2.0 over a Unix domain socket.
///
/// One client holds one connection at a time. Calls may be made concurrently from many tasks: they are
/// pipelined on the connection and answers are matched by id, in whatever order the daemon sends them.
///
/// ```swift
/// let client = try await WPWithinClient.connected()          // $WPWITHIN_SOCKET or /run/wpwithin.sock
/// let device = try await client.getDevice()
/// let quote = try await client.selectService(.serverId(id), serviceId: 1, priceId: 1, numberOfUnits: 2)
/// let raw = try await client.call("getServicePrices", params: ["serverId": .string(id), "serviceId": 1])  // JSONValue
/// await client.close()
/// ```
///
/// **Timeouts.** Every call has one: `timeout` (default 60 s; nil: no limit) or the `timeout:` given to
/// `call`; a call with a `timeoutMs` param (discovery, broadcast) gets at least that plus 10 s. A call without
/// an answer in time throws `WPWithinClientError` `.timeout` naming the method; its answer, if it comes later,
/// is dropped (never given to another call). The daemon may still complete it.
///
/// **Reconnecting.** When the connection drops (the daemon restarted or stopped, or the client hung up on a
/// bad line), every call waiting on it fails at once with `.connectionClosed` (or the reason) and is not
/// retried: it may have been delivered. The next call opens a new connection to the same socket path; if the
/// daemon is not back yet, that call fails with the connect error (`.noSuchSocket`, `.connectionRefused`, …)
/// and the one after tries again. `reconnect: false` keeps a dropped connection dropped (calls fail with its
/// reason), as `wpwctl` does. `close()` ends the client for good.
///
/// Errors: the daemon's JSON-RPC errors are thrown as `WPWError` (code, message, data); everything else
/// (cannot connect, connection lost, timeout, line too long, malformed answers, a parameter refused before
/// sending) as `WPWithinClientError`. Call `close()` when done; dropping the last reference also closes the
/// connection.
public actor WPWithinClient {
    /// Where the daemon listens unless told otherwise.
    public static let defaultSocketPath = "/run/wpwithin.sock"
    /// The environment variable that overrides `defaultSocketPath`.
    public static let socketEnvironmentVariable = "WPWITHIN_SOCKET"
    /// Default cap on one line read from the daemon (16 MiB).
    public static let defaultMaxLineLength = 16 * 1024 * 1024
    /// Default number of events buffered for a slow `events` consumer before the stream fails.
    public static let defaultEventBufferLimit = 10_000
    /// Default time a call may take (as the Python and Java clients).
    public static let defaultTimeout: Duration = .seconds(60)
    /// What a call with a `timeoutMs` param may take beyond it.
    public static let timeoutMargin: Duration = .seconds(10)

    /// The socket path to use: `explicit` if given and non-empty, else `$WPWITHIN_SOCKET`, else `/run/wpwithin.sock`.
    public static func resolveSocketPath(
        _ explicit: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let fromEnvironment = environment[socketEnvironmentVariable], !fromEnvironment.isEmpty { return fromEnvironment }
        return defaultSocketPath
    }

    /// Creates a client and connects it (see `connect(socketPath:)` and `init`).
    public static func connected(
        socketPath: String? = nil,
        maxLineLength: Int = defaultMaxLineLength,
        timeout: Duration? = defaultTimeout,
        reconnect: Bool = true
    ) async throws(WPWithinClientError) -> WPWithinClient {
        let client = WPWithinClient(maxLineLength: maxLineLength, timeout: timeout, reconnect: reconnect)
        try await client.connect(socketPath: socketPath)
        return client
    }

    /// Longest line accepted from the daemon; a longer one ends the connection with `.lineTooLong`.
    public nonisolated let maxLineLength: Int
    /// Events buffered for a slow consumer before the event stream fails with `.subscriptionLost`.
    public nonisolated let eventBufferLimit: Int
    /// The time a call may take unless `call` is given one (nil: no limit).
    public nonisolated let timeout: Duration?
    /// Whether the next call after a dropped connection opens a new one.
    public nonisolated let reconnects: Bool
    nonisolated let group: any EventLoopGroup

    private enum State {
        case idle
        case connecting(path: String)
        case connected(Connection)
        /// The connection dropped; the next call reconnects to `path`.
        case disconnected(path: String, reason: WPWithinClientError)
        case closed(WPWithinClientError)
    }

    private struct Connection {
        let generation: Int
        let path: String
        let channel: any Channel
        let outgoing: AsyncStream<ByteBuffer>.Continuation
    }

    private struct PendingCall {
        let continuation: CheckedContinuation<JSONValue, any Error>
        let method: String
        let limit: Duration?
        let timer: Scheduled<Void>?

        func resume(with result: Result<JSONValue, any Error>) {
            timer?.cancel()
            continuation.resume(with: result)
        }
    }

    private struct Subscriber {
        let generation: Int
        let continuation: AsyncThrowingStream<Event, any Error>.Continuation
        var lastSeq: Int64?
    }

    /// The daemon's answer to the latest `subscribe` sent by `events` (`lastSeq`, `replayed`, `truncated`).
    public private(set) var lastSubscription: Subscription?

    private var state: State = .idle
    private var connectionTask: Task<Void, Never>?
    private var connectionGeneration = 0
    private var connectWaiters: [CheckedContinuation<Result<Void, WPWithinClientError>, Never>] = []
    private var pending: [Int64: PendingCall] = [:]
    private var nextID: Int64 = 1
    private var subscriber: Subscriber?
    private var subscriberGeneration = 0
    /// An error response the client could not match to a call (null id), kept to explain a following close.
    private var unmatchedError: WPWError?
    /// Set for a resumable stream's connection: when the event buffer is full, stop reading (the daemon's
    /// own limit then applies: it sends `subscriptionLost`) instead of failing the stream.
    private var holdsBackEvents = false
    /// The connection's reader, waiting for room in the event buffer (`holdsBackEvents`).
    private var roomWaiter: CheckedContinuation<Void, Never>?

    /// - Parameters:
    ///   - timeout: how long a call may wait for its answer (nil: no limit); see the type's documentation.
    ///   - reconnect: whether the next call after a dropped connection opens a new one.
    public init(
        maxLineLength: Int = WPWithinClient.defaultMaxLineLength,
        eventBufferLimit: Int = WPWithinClient.defaultEventBufferLimit,
        timeout: Duration? = WPWithinClient.defaultTimeout,
        reconnect: Bool = true,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        precondition(maxLineLength > 0, "maxLineLength must be positive")
        precondition(eventBufferLimit > 0, "eventBufferLimit must be positive")
        precondition(timeout.map { $0 > .zero } ?? true, "timeout must be positive")
        self.maxLineLength = maxLineLength
        self.eventBufferLimit = eventBufferLimit
        self.timeout = timeout
        self.reconnects = reconnect
        self.group = eventLoopGroup
    }

    deinit {
        connectionTask?.cancel()
    }

    /// The socket path this client is connected to, if connected.
    public var socketPath: String? {
        if case .connected(let connection) = state { return connection.path }
        return nil
    }

    /// True between a successful `connect` (or reconnect) and the end of that connection.
    public var isConnected: Bool {
        if case .connected = state { return true }
        return false
    }

    /// The socket path of the current or last connection (nil before `connect`).
    var lastSocketPath: String? {
        switch state {
        case .idle: return nil
        case .connecting(let path), .disconnected(let path, _): return path
        case .connected(let connection): return connection.path
        case .closed(let reason): return reason.socketPath
        }
    }

    // MARK: Connecting and closing

    /// Connects to the daemon's socket.
    ///
    /// - Parameter socketPath: the socket; nil means `$WPWITHIN_SOCKET`, else `/run/wpwithin.sock`.
    /// - Throws: `WPWithinClientError` naming the path and the reason: `.noSuchSocket` (ENOENT),
    ///   `.connectionRefused` (a stale socket file, daemon not running), `.permissionDenied` (EACCES),
    ///   `.notASocket`, `.pathTooLong`, `.connectFailed`; `.alreadyConnected` if this client was used before.
    public func connect(socketPath: String? = nil) async throws(WPWithinClientError) {
        guard case .idle = state else {
            throw WPWithinClientError(.alreadyConnected, "this client is already connected or was closed; create a new one")
        }
        try await open(path: Self.resolveSocketPath(socketPath), reconnecting: false)
    }

    /// Opens a connection to `path` and makes it the current one. A failed first connect leaves the client
    /// idle (connect may be tried again); a failed reconnect leaves it disconnected (the next call tries again).
    private func open(path: String, reconnecting: Bool) async throws(WPWithinClientError) {
        state = .connecting(path: path)
        let maxLineLength = self.maxLineLength
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: group)
                .connect(unixDomainSocketPath: path) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(LineBasedFrameDecoder(), maximumBufferSize: maxLineLength)
                        )
                        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(NewlineEncoder()))
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            let failure = Self.connectError(error, path: path)
            if case .connecting = state { state = reconnecting ? .disconnected(path: path, reason: failure) : .idle }
            finishConnectWaiters(.failure(failure))
            throw failure
        }
        guard case .connecting = state else {
            // close() was called while connecting. Closed through the wrapper, which finishes its writer first:
            // a NIOAsyncChannel dropped with its writer unfinished stops the process (the NIO accept race's
            // sibling on the client side).
            try? await channel.executeThenClose { _, _ in }
            let failure = notConnectedError()
            finishConnectWaiters(.failure(failure))
            throw failure
        }

        connectionGeneration += 1
        let generation = connectionGeneration
        unmatchedError = nil
        let (outgoing, outgoingContinuation) = AsyncStream<ByteBuffer>.makeStream()
        state = .connected(Connection(generation: generation, path: path, channel: channel.channel, outgoing: outgoingContinuation))
        connectionTask = Task.detached { [weak self] in
            do {
                try await channel.executeThenClose { inbound, outbound in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for await line in outgoing {
                                try await outbound.write(line)
                            }
                        }
                        for try await line in inbound {
                            guard let client = self else { break }
                            await client.receive(line)
                            await client.waitForEventRoom()
                        }
                        group.cancelAll()
                    }
                }
                await self?.connectionEnded(generation, nil)
            } catch {
                await self?.connectionEnded(generation, error)
            }
        }
        finishConnectWaiters(.success(()))
    }

    private func finishConnectWaiters(_ result: Result<Void, WPWithinClientError>) {
        let waiters = connectWaiters
        connectWaiters = []
        for waiter in waiters { waiter.resume(returning: result) }
    }

    /// The connection to send on: the current one, or a new one after a drop (reconnecting).
    private func currentConnection() async throws(WPWithinClientError) -> Connection {
        while true {
            switch state {
            case .connected(let connection):
                if connection.channel.isActive { return connection }
                // The daemon hung up and the reader has not told the actor yet: let it, then reconnect.
                await connectionTask?.value
                if case .connected(let still) = state, still.generation == connection.generation {
                    connectionEnded(connection.generation, nil)
                }
            case .connecting:
                let result = await withCheckedContinuation { connectWaiters.append($0) }
                if case .failure(let error) = result { throw error }
            case .disconnected(let path, _):
                try await open(path: path, reconnecting: true)
            case .idle, .closed:
                throw notConnectedError()
            }
        }
    }

    /// Closes the connection. Calls still waiting fail with `.notConnected`; an open event stream finishes normally.
    /// Safe to call more than once.
    public func close() async {
        switch state {
        case .idle, .connecting:
            state = .closed(WPWithinClientError(.notConnected, "the client was closed"))
        case .disconnected(let path, _):
            state = .closed(WPWithinClientError(.notConnected, socketPath: path, "the client was closed"))
        case .closed:
            break
        case .connected(let connection):
            let reason = WPWithinClientError(.notConnected, socketPath: connection.path, "the client was closed")
            end(connection, reason: reason, final: true)
            await connectionTask?.value
        }
    }

    // MARK: Calls

    /// Calls `method` with named `params` (omitted when nil) and returns the `result`.
    ///
    /// `params` are sent as given (the typed methods check theirs first). `timeout` overrides the client's for
    /// this call (nil: the client's, stretched to cover a `timeoutMs` param).
    ///
    /// - Throws: `WPWError` when the daemon answers with an error object (its code, message and data);
    ///   `WPWithinClientError` when the connection fails or was closed before the answer, or `.timeout`;
    ///   `CancellationError` when the calling task is cancelled (the answer, if it comes later, is dropped).
    public func call(_ method: String, params: [String: JSONValue]? = nil, timeout: Duration? = nil) async throws -> JSONValue {
        if let timeout, timeout <= .zero {
            throw WPWithinClientError(.invalidParams, "\(method): the timeout must be positive, got \(timeout) (nothing was sent)")
        }
        let limit = timeout ?? Self.callTimeout(self.timeout, params: params)
        let connection = try await currentConnection()
        let id = nextID
        nextID &+= 1
        var request: [String: JSONValue] = ["jsonrpc": "2.0", "id": .int(id), "method": .string(method)]
        if let params { request["params"] = .object(params) }
        let line = ByteBuffer(bytes: JSONValue.object(request).serialized())
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<JSONValue, any Error>) in
                guard case .connected(let current) = state, current.generation == connection.generation else {
                    continuation.resume(throwing: notConnectedError())
                    return
                }
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                let timer = limit.map { limit in
                    connection.channel.eventLoop.scheduleTask(in: Self.timeAmount(limit)) { [weak self] in
                        _ = Task { await self?.expire(id) }
                    }
                }
                pending[id] = PendingCall(continuation: continuation, method: method, limit: limit, timer: timer)
                if case .terminated = connection.outgoing.yield(line) {
                    pending.removeValue(forKey: id)?.resume(with: .failure(notConnectedError()))
                }
            }
        } onCancel: {
            Task { await self.cancelCall(id) }
        }
    }

    /// Calls `method` and decodes its result as `type` (unknown members ignored; a missing or mistyped one is
    /// `.invalidResponse` naming the member).
    public func call<Result: Decodable>(
        _ method: String,
        params: [String: JSONValue]? = nil,
        as type: Result.Type,
        timeout: Duration? = nil
    ) async throws -> Result {
        try decodeResult(try await call(method, params: params, timeout: timeout), of: method)
    }

    /// The time a call may take: `base`, stretched to cover a `timeoutMs` the daemon will wait, plus a margin.
    public static func callTimeout(_ base: Duration?, params: [String: JSONValue]?) -> Duration? {
        guard let base else { return nil }
        guard let waits = params?["timeoutMs"]?.int64Value, waits > 0 else { return base }
        return max(base, .milliseconds(min(waits, Int64(Int32.max))) + timeoutMargin)
    }

    private static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        let limit = Int64.max / 1_000_000_000 - 1
        return .nanoseconds(min(seconds, limit) * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// `getDevice`: this daemon's identity.
    public func getDevice() async throws -> Device {
        try await call("getDevice", as: Device.self)
    }

    /// `getStatus`: uptime, connections, paths, readiness.
    public func getStatus() async throws -> Status {
        try await call("getStatus", as: Status.self)
    }

    /// `getMetrics`: the daemon's metrics, Prometheus text exposition format 0.0.4.
    public func getMetrics() async throws -> String {
        let result = try await call("getMetrics")
        guard let text = result["text"]?.stringValue else {
            throw WPWithinClientError(.invalidResponse, socketPath: socketPath, "getMetrics answered without text")
        }
        return text
    }

    /// `rpc.discover`: the daemon's OpenRPC document.
    public func discover() async throws -> JSONValue {
        try await call("rpc.discover")
    }

    // MARK: Events

    /// Subscribes to the daemon's events and returns them as a stream on this client's connection.
    ///
    /// Sends `subscribe` with `types` (nil: all types) and `resumeFrom` (replay events after that sequence
    /// number), and yields every `event` notification from then on, in `seq` order (duplicates and older
    /// sequence numbers are dropped). One stream per client: calling `events` again replaces (finishes) the
    /// previous stream. The subscription ends (`unsubscribe` is sent) when the stream is dropped, when the
    /// iterating task is cancelled, or on `unsubscribe()`; merely breaking out of a `for await` loop while
    /// keeping the stream does not end it. The stream fails with `.connectionClosed` when the
    /// daemon goes away, `.subscriptionLost` when the consumer falls `eventBufferLimit` events behind, and
    /// finishes normally on `close()`. `resumableEvents` is the stream that survives all of these.
    public func events(types: [String]? = nil, resumeFrom: Int64? = nil) async throws -> AsyncThrowingStream<Event, any Error> {
        if let resumeFrom { try Self.checkRange("subscribe", "resumeFrom", resumeFrom, 0...Int64.max) }
        _ = try await currentConnection()
        let (stream, continuation) = AsyncThrowingStream<Event, any Error>.makeStream(
            bufferingPolicy: .bufferingOldest(eventBufferLimit)
        )
        subscriberGeneration += 1
        let generation = subscriberGeneration
        subscriber?.continuation.finish()
        subscriber = Subscriber(generation: generation, continuation: continuation, lastSeq: nil)
        continuation.onTermination = { [weak self] _ in
            Task { await self?.subscriberTerminated(generation) }
        }
        var params: [String: JSONValue] = [:]
        if let types { params["types"] = .array(types.map { .string($0) }) }
        if let resumeFrom { params["resumeFrom"] = .int(resumeFrom) }
        do {
            let answer = try await call("subscribe", params: params)
            lastSubscription = try? WPWithinClient.decodeValue(answer, as: Subscription.self)
        } catch {
            if subscriber?.generation == generation { subscriber = nil }
            continuation.finish()
            throw error
        }
        return stream
    }

    /// Ends the current event stream (it finishes normally) and tells the daemon to stop sending events.
    public func unsubscribe() async throws {
        if let subscriber {
            self.subscriber = nil
            subscriber.continuation.finish()
        }
        _ = try await call("unsubscribe")
    }

    private func subscriberTerminated(_ generation: Int) async {
        guard subscriber?.generation == generation else { return }
        subscriber = nil
        guard case .connected = state else { return }
        _ = try? await call("unsubscribe")
    }

    // MARK: Inbound

    private func receive(_ line: ByteBuffer) {
        if line.readableBytesView.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }
        let message: JSONValue
        do {
            message = try JSONValue.parse(line.readableBytesView)
        } catch {
            protocolViolation("the daemon sent a line that is not JSON")
            return
        }
        guard let object = message.objectValue else {
            protocolViolation("the daemon sent a \(message.typeName) instead of a JSON-RPC message object")
            return
        }
        if let method = object["method"]?.stringValue, object["id"] == nil {
            if method == "event", let params = object["params"], let event = Event(params: params) {
                deliver(event)
            } else if method == "subscriptionLost", let current = subscriber {
                subscriber = nil
                let params = object["params"] ?? [:]
                let last = params["lastDeliveredSeq"]?.int64Value ?? current.lastSeq ?? 0
                let reason = params["reason"]?.stringValue ?? "unknown"
                current.continuation.finish(
                    throwing: WPWithinClientError(
                        .subscriptionLost, socketPath: socketPath,
                        "the daemon dropped the event subscription (\(reason)); resubscribe with resumeFrom: \(last)"
                    )
                )
            }
            return
        }
        guard object["result"] != nil || object["error"] != nil else {
            // A request from the daemon, or something unknown: the client serves no methods.
            return
        }
        let errorObject = object["error"]
        guard let id = object["id"]?.int64Value else {
            if let errorObject { unmatchedError = JSONRPC.decodeError(errorObject) }
            return
        }
        guard let call = pending.removeValue(forKey: id) else { return }  // timed out, cancelled or unknown
        if let errorObject {
            if let error = JSONRPC.decodeError(errorObject) {
                call.resume(with: .failure(error))
            } else {
                call.resume(
                    with: .failure(WPWithinClientError(.invalidResponse, socketPath: socketPath, "the daemon sent a malformed error object"))
                )
            }
        } else {
            call.resume(with: .success(object["result"] ?? .null))
        }
    }

    /// A resumable stream's connection: when the event buffer is full, reading waits for `eventTaken()`.
    func holdBackEvents() {
        holdsBackEvents = true
    }

    /// A resumable stream took an event from the buffer: reading may go on.
    func eventTaken() {
        eventBufferFull = false
        roomWaiter?.resume()
        roomWaiter = nil
    }

    private var eventBufferFull = false

    private func waitForEventRoom() async {
        guard holdsBackEvents, eventBufferFull, subscriber != nil, isConnected else { return }
        eventBufferFull = false
        await withCheckedContinuation { continuation in
            roomWaiter?.resume()
            roomWaiter = continuation
        }
    }

    private func deliver(_ event: Event) {
        guard var current = subscriber else { return }
        if let last = current.lastSeq, event.seq <= last { return }
        current.lastSeq = event.seq
        subscriber = current
        let result = current.continuation.yield(event)
        if case .enqueued(let remaining) = result, remaining == 0 { eventBufferFull = true }
        if case .dropped = result {
            subscriber = nil
            current.continuation.finish(
                throwing: WPWithinClientError(
                    .subscriptionLost, socketPath: socketPath,
                    "the event consumer fell \(eventBufferLimit) events behind; resubscribe with resumeFrom: \(event.seq - 1)"
                )
            )
        }
    }

    private func protocolViolation(_ message: String) {
        guard case .connected(let connection) = state else { return }
        end(connection, reason: WPWithinClientError(.invalidResponse, socketPath: connection.path, message), final: false)
    }

    private func cancelCall(_ id: Int64) {
        pending.removeValue(forKey: id)?.resume(with: .failure(CancellationError()))
    }

    private func expire(_ id: Int64) {
        guard let call = pending.removeValue(forKey: id) else { return }
        let within = call.limit.map { " within \($0)" } ?? ""
        call.resume(
            with: .failure(
                WPWithinClientError(
                    .timeout, socketPath: lastSocketPath,
                    "\(call.method): no answer\(within); a late answer is dropped (the daemon may still complete the call)"
                )
            )
        )
    }

    private func connectionEnded(_ generation: Int, _ error: (any Error)?) {
        guard case .connected(let connection) = state, connection.generation == generation else { return }
        let path = connection.path
        let reason: WPWithinClientError
        if error is ByteToMessageDecoderError.PayloadTooLargeError {
            reason = WPWithinClientError(
                .lineTooLong, socketPath: path,
                "the daemon sent a line longer than \(maxLineLength) bytes; connection closed"
            )
        } else if error is NIOExtrasErrors.LeftOverBytesError {
            reason = WPWithinClientError(.connectionClosed, socketPath: path, "the daemon closed the connection in the middle of a message")
        } else if let error {
            reason = WPWithinClientError(.connectionClosed, socketPath: path, "connection lost: \(error)")
        } else if let unmatchedError {
            reason = WPWithinClientError(
                .connectionClosed, socketPath: path,
                "the daemon closed the connection after error \(unmatchedError.code.rawValue): \(unmatchedError.message)"
            )
        } else {
            reason = WPWithinClientError(.connectionClosed, socketPath: path, "the daemon closed the connection")
        }
        end(connection, reason: reason, final: false)
    }

    /// Ends `connection`: waiting calls fail with `reason`, the event stream ends (normally when `final`,
    /// the client being closed), and the client is closed (`final`, or no reconnecting) or disconnected.
    private func end(_ connection: Connection, reason: WPWithinClientError, final: Bool) {
        state = final || !reconnects ? .closed(reason) : .disconnected(path: connection.path, reason: reason)
        eventTaken()
        connection.outgoing.finish()
        connection.channel.close(promise: nil)
        let waiting = pending
        pending = [:]
        for call in waiting.values { call.resume(with: .failure(reason)) }
        if let subscriber {
            self.subscriber = nil
            if final {
                subscriber.continuation.finish()
            } else {
                subscriber.continuation.finish(throwing: reason)
            }
        }
    }

    private func notConnectedError() -> WPWithinClientError {
        switch state {
        case .closed(let reason), .disconnected(_, let reason): return reason
        default: return WPWithinClientError(.notConnected, "not connected: call connect(socketPath:) first")
        }
    }

    // MARK: Connect errors

    static func connectError(_ error: any Error, path: String) -> WPWithinClientError {
        if let ioError = error as? IOError {
            var mapped = WPWithinClientError.connectFailure(path: path, errno: ioError.errnoCode)
            if mapped.code == .connectionRefused, !isSocket(path) {
                mapped = WPWithinClientError(.notASocket, socketPath: path, "not a socket", errno: ioError.errnoCode)
            }
            return mapped
        }
        if let addressError = error as? SocketAddressError, case .unixDomainSocketPathTooLong = addressError {
            return WPWithinClientError(.pathTooLong, socketPath: path, "socket path is too long for a Unix socket address")
        }
        return WPWithinClientError(.connectFailed, socketPath: path, "cannot connect: \(error)")
    }

    private static func isSocket(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return true }  // vanished: don't claim otherwise
        return (info.st_mode & S_IFMT) == S_IFSOCK
    }
}

/// Appends the `\n` that ends every message on the wire.
struct NewlineEncoder: MessageToByteEncoder {
    typealias OutboundIn = ByteBuffer

    func encode(data: ByteBuffer, out: inout ByteBuffer) throws {
        out.reserveCapacity(data.readableBytes + 1)
        out.writeImmutableBuffer(data)
        out.writeInteger(UInt8(ascii: "\n"))
    }
}
