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
/// One client is one connection. Calls may be made concurrently from many tasks: they are pipelined on the
/// connection and answers are matched by id, in whatever order the daemon sends them.
///
/// ```swift
/// let client = try await WPWithinClient.connected()          // $WPWITHIN_SOCKET or /run/wpwithin.sock
/// let device = try await client.getDevice()
/// let quote = try await client.selectService(.serverId(id), serviceId: 1, priceId: 1, numberOfUnits: 2)
/// let raw = try await client.call("getServicePrices", params: ["serverId": .string(id), "serviceId": 1])  // JSONValue
/// await client.close()
/// ```
///
/// Errors: the daemon's JSON-RPC errors are thrown as `WPWError` (code, message, data); everything else
/// (cannot connect, connection lost, line too long, malformed answers) as `WPWithinClientError`.
/// Call `close()` when done; dropping the last reference also closes the connection.
public actor WPWithinClient {
    /// Where the daemon listens unless told otherwise.
    public static let defaultSocketPath = "/run/wpwithin.sock"
    /// The environment variable that overrides `defaultSocketPath`.
    public static let socketEnvironmentVariable = "WPWITHIN_SOCKET"
    /// Default cap on one line read from the daemon (16 MiB).
    public static let defaultMaxLineLength = 16 * 1024 * 1024
    /// Default number of events buffered for a slow `events` consumer before the stream fails.
    public static let defaultEventBufferLimit = 10_000

    /// The socket path to use: `explicit` if given and non-empty, else `$WPWITHIN_SOCKET`, else `/run/wpwithin.sock`.
    public static func resolveSocketPath(
        _ explicit: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let fromEnvironment = environment[socketEnvironmentVariable], !fromEnvironment.isEmpty { return fromEnvironment }
        return defaultSocketPath
    }

    /// Creates a client and connects it (see `connect(socketPath:)`).
    public static func connected(
        socketPath: String? = nil,
        maxLineLength: Int = defaultMaxLineLength
    ) async throws(WPWithinClientError) -> WPWithinClient {
        let client = WPWithinClient(maxLineLength: maxLineLength)
        try await client.connect(socketPath: socketPath)
        return client
    }

    /// Longest line accepted from the daemon; a longer one ends the connection with `.lineTooLong`.
    public nonisolated let maxLineLength: Int
    /// Events buffered for a slow consumer before the event stream fails with `.subscriptionLost`.
    public nonisolated let eventBufferLimit: Int
    private nonisolated let group: any EventLoopGroup

    private enum State {
        case idle
        case connecting
        case connected(Connection)
        case closed(WPWithinClientError)
    }

    private struct Connection {
        let path: String
        let channel: any Channel
        let outgoing: AsyncStream<ByteBuffer>.Continuation
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
    private var pending: [Int64: CheckedContinuation<JSONValue, any Error>] = [:]
    private var nextID: Int64 = 1
    private var subscriber: Subscriber?
    private var subscriberGeneration = 0
    /// Set when the client itself ends the connection (close, protocol violation): the reason given to waiters.
    private var closeReason: WPWithinClientError?
    /// An error response the client could not match to a call (null id), kept to explain a following close.
    private var unmatchedError: WPWError?

    public init(
        maxLineLength: Int = WPWithinClient.defaultMaxLineLength,
        eventBufferLimit: Int = WPWithinClient.defaultEventBufferLimit,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        precondition(maxLineLength > 0, "maxLineLength must be positive")
        precondition(eventBufferLimit > 0, "eventBufferLimit must be positive")
        self.maxLineLength = maxLineLength
        self.eventBufferLimit = eventBufferLimit
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

    /// True between a successful `connect` and the end of the connection.
    public var isConnected: Bool {
        if case .connected = state { return true }
        return false
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
        let path = Self.resolveSocketPath(socketPath)
        state = .connecting
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
            if case .connecting = state { state = .idle }
            throw Self.connectError(error, path: path)
        }
        guard case .connecting = state else {
            // close() was called while connecting.
            channel.channel.close(promise: nil)
            throw notConnectedError()
        }

        let (outgoing, outgoingContinuation) = AsyncStream<ByteBuffer>.makeStream()
        state = .connected(Connection(path: path, channel: channel.channel, outgoing: outgoingContinuation))
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
                        }
                        group.cancelAll()
                    }
                }
                await self?.connectionEnded(nil)
            } catch {
                await self?.connectionEnded(error)
            }
        }
    }

    /// Closes the connection. Calls still waiting fail with `.notConnected`; an open event stream finishes normally.
    /// Safe to call more than once.
    public func close() async {
        switch state {
        case .idle, .connecting:
            state = .closed(WPWithinClientError(.notConnected, "the client was closed"))
        case .closed:
            break
        case .connected(let connection):
            let reason = WPWithinClientError(.notConnected, socketPath: connection.path, "the client was closed")
            closeReason = reason
            state = .closed(reason)
            connection.outgoing.finish()
            connection.channel.close(promise: nil)
            await connectionTask?.value
        }
    }

    // MARK: Calls

    /// Calls `method` with named `params` (omitted when nil) and returns the `result`.
    ///
    /// - Throws: `WPWError` when the daemon answers with an error object (its code, message and data);
    ///   `WPWithinClientError` when the connection fails or was closed before the answer; `CancellationError`
    ///   when the calling task is cancelled (the answer, if it comes later, is dropped).
    public func call(_ method: String, params: [String: JSONValue]? = nil) async throws -> JSONValue {
        guard case .connected(let connection) = state else { throw notConnectedError() }
        let id = nextID
        nextID &+= 1
        var request: [String: JSONValue] = ["jsonrpc": "2.0", "id": .int(id), "method": .string(method)]
        if let params { request["params"] = .object(params) }
        let line = ByteBuffer(bytes: JSONValue.object(request).serialized())
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<JSONValue, any Error>) in
                guard case .connected = state else {
                    continuation.resume(throwing: notConnectedError())
                    return
                }
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                pending[id] = continuation
                if case .terminated = connection.outgoing.yield(line) {
                    pending[id] = nil
                    continuation.resume(throwing: notConnectedError())
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
        as type: Result.Type
    ) async throws -> Result {
        try await typedCall(method, params: params)
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

    /// Subscribes to the daemon's events and returns them as a stream.
    ///
    /// Sends `subscribe` with `types` (nil: all types) and `resumeFrom` (replay events after that sequence
    /// number), and yields every `event` notification from then on, in `seq` order (duplicates and older
    /// sequence numbers are dropped). One stream per client: calling `events` again replaces (finishes) the
    /// previous stream. The subscription ends (`unsubscribe` is sent) when the stream is dropped, when the
    /// iterating task is cancelled, or on `unsubscribe()`; merely breaking out of a `for await` loop while
    /// keeping the stream does not end it. The stream fails with `.connectionClosed` when the
    /// daemon goes away, `.subscriptionLost` when the consumer falls `eventBufferLimit` events behind, and
    /// finishes normally on `close()`.
    public func events(types: [String]? = nil, resumeFrom: Int64? = nil) async throws -> AsyncThrowingStream<Event, any Error> {
        guard case .connected = state else { throw notConnectedError() }
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
        guard let continuation = pending.removeValue(forKey: id) else { return }  // cancelled or unknown
        if let errorObject {
            if let error = JSONRPC.decodeError(errorObject) {
                continuation.resume(throwing: error)
            } else {
                continuation.resume(
                    throwing: WPWithinClientError(.invalidResponse, socketPath: socketPath, "the daemon sent a malformed error object")
                )
            }
        } else {
            continuation.resume(returning: object["result"] ?? .null)
        }
    }

    private func deliver(_ event: Event) {
        guard var current = subscriber else { return }
        if let last = current.lastSeq, event.seq <= last { return }
        current.lastSeq = event.seq
        subscriber = current
        if case .dropped = current.continuation.yield(event) {
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
        let reason = WPWithinClientError(.invalidResponse, socketPath: connection.path, message)
        closeReason = reason
        state = .closed(reason)
        connection.outgoing.finish()
        connection.channel.close(promise: nil)
    }

    private func cancelCall(_ id: Int64) {
        pending.removeValue(forKey: id)?.resume(throwing: CancellationError())
    }

    private func connectionEnded(_ error: (any Error)?) {
        let path = connectionPath
        let reason: WPWithinClientError
        if let closeReason {
            reason = closeReason
        } else if error is ByteToMessageDecoderError.PayloadTooLargeError {
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
        state = .closed(reason)
        let waiting = pending
        pending = [:]
        for continuation in waiting.values { continuation.resume(throwing: reason) }
        if let subscriber {
            self.subscriber = nil
            if reason.code == .notConnected {
                subscriber.continuation.finish()
            } else {
                subscriber.continuation.finish(throwing: reason)
            }
        }
    }

    private var connectionPath: String? {
        switch state {
        case .connected(let connection): return connection.path
        case .closed(let reason): return reason.socketPath
        default: return nil
        }
    }

    private func notConnectedError() -> WPWithinClientError {
        switch state {
        case .closed(let reason): return reason
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
