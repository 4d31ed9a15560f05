#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import WPWithinCore

/// The JSON-RPC server on a Unix domain socket: one JSON value per line, many concurrent connections.
public actor RPCServer: ServiceLifecycle.Service, CustomStringConvertible {
    public nonisolated var description: String { "RPCServer" }

    public struct Configuration: Sendable {
        public enum Listen: Sendable {
            /// Bind this path (a stale socket file is replaced, a live one refuses start-up).
            case path(String, mode: UInt32, group: UInt32?)
            /// A listening socket handed over by systemd (socket activation); the path is for display only.
            case fileDescriptor(Int32, path: String)
        }

        public var listen: Listen
        /// The most bytes a line may hold before its `\n` (see ``RPCLineDecoder``).
        public var maxLineBytes: Int
        public var maxConnections: Int
        /// The most connections one peer uid may hold; nil: half of `maxConnections`.
        public var maxConnectionsPerUid: Int?
        public var maxInFlightPerConnection: Int
        /// A connection with no call in flight, no lines waiting and no subscription that receives no line
        /// for this long is closed; nil: never.
        public var idleTimeout: Duration?
        /// Refused connections are logged at most once per this interval (with the number held back).
        public var refusalLogInterval: Duration

        public init(
            listen: Listen, maxLineBytes: Int = 1 << 20, maxConnections: Int = 256, maxConnectionsPerUid: Int? = nil,
            maxInFlightPerConnection: Int = 64, idleTimeout: Duration? = .seconds(3600), refusalLogInterval: Duration = .seconds(10)
        ) {
            self.listen = listen
            self.maxLineBytes = maxLineBytes
            self.maxConnections = maxConnections
            self.maxConnectionsPerUid = maxConnectionsPerUid
            self.maxInFlightPerConnection = maxInFlightPerConnection
            self.idleTimeout = idleTimeout
            self.refusalLogInterval = refusalLogInterval
        }

        public var displayPath: String {
            switch listen {
            case .path(let path, _, _): return path
            case .fileDescriptor(_, let path): return path
            }
        }
    }

    private let configuration: Configuration
    private let dispatcher: RPCDispatcher
    private let bus: EventBus?
    private let logger: Logger
    private let onListening: @Sendable () async -> Void
    private let eventLoopGroup: MultiThreadedEventLoopGroup
    private let stats: NIOLockedValueBox<Stats>

    /// The connection slots, the ids handed out and the refusal log's rate limit, shared by the event loops.
    struct Stats {
        var accounting: ConnectionAccounting
        var refusals: LogRateLimit
        var nextID: UInt64 = 1
    }

    public init(
        configuration: Configuration,
        dispatcher: RPCDispatcher,
        bus: EventBus?,
        eventLoopGroup: MultiThreadedEventLoopGroup = .singleton,
        logger: Logger,
        onListening: @escaping @Sendable () async -> Void = {}
    ) {
        self.configuration = configuration
        self.stats = NIOLockedValueBox(Stats(
            accounting: ConnectionAccounting(maxConnections: max(1, configuration.maxConnections), maxPerUid: configuration.maxConnectionsPerUid),
            refusals: LogRateLimit(intervalNanoseconds: Self.nanoseconds(configuration.refusalLogInterval))))
        self.dispatcher = dispatcher
        self.bus = bus
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.onListening = onListening
    }

    /// Connections open right now.
    public nonisolated var openConnections: Int { stats.withLockedValue { $0.accounting.open } }

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
    }

    public func run() async throws {
        let maxLine = configuration.maxLineBytes
        let limits = RPCChannelHandler.Limits(
            maxLineBytes: maxLine, maxInFlight: max(1, configuration.maxInFlightPerConnection),
            idleTimeout: configuration.idleTimeout.map { .nanoseconds(Int64(Self.nanoseconds($0))) })
        let dispatcher = self.dispatcher
        let bus = self.bus
        let logger = self.logger
        let stats = self.stats
        let registry = ConnectionRegistry()
        let bootstrap = ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                Self.peerCredentials(channel).flatMap { peer in
                    channel.eventLoop.makeCompletedFuture {
                        let draining = registry.isDraining
                        let uid = peer?.uid
                        let (id, decision, accounting, held) = stats.withLockedValue { stats in
                            defer { stats.nextID += 1 }
                            let decision: ConnectionAccounting.Decision? = draining ? nil : stats.accounting.admit(uid: uid)
                            var held: Int?
                            if case .admitted = decision {} else {
                                held = stats.refusals.occurrence(now: NIODeadline.now().uptimeNanoseconds)
                            }
                            return (stats.nextID, decision, stats.accounting, held)
                        }
                        var connectionLogger = logger
                        connectionLogger[metadataKey: "rpc.connection"] = "\(id)"
                        if let peer {
                            connectionLogger[metadataKey: "peer.pid"] = "\(peer.pid)"
                            connectionLogger[metadataKey: "peer.uid"] = "\(peer.uid)"
                            connectionLogger[metadataKey: "peer.gid"] = "\(peer.gid)"
                        }
                        let refusal: WPWError?
                        switch decision {
                        case .admitted(let open):
                            channel.closeFuture.whenComplete { _ in stats.withLockedValue { $0.accounting.release(uid: uid) } }
                            connectionLogger.debug("Connection accepted", metadata: ["rpc.connections": "\(open)"])
                            refusal = nil
                        case .refused(let reason):
                            refusal = Self.refusalError(reason, accounting: accounting, uid: uid)
                            if let held {
                                connectionLogger.warning("Connection refused: too many connections", metadata: [
                                    "rpc.refusal": "\(reason == .total ? "maxConnections" : "maxConnectionsPerUid")",
                                    "rpc.connections": "\(accounting.open)",
                                    "rpc.max_connections": "\(accounting.maxConnections)",
                                    "rpc.max_connections_per_uid": "\(accounting.maxPerUid)",
                                    "rpc.refusals_not_logged": "\(held)",
                                ])
                            }
                        case nil:
                            refusal = WPWError(.unavailable, "The daemon is stopping")
                        }
                        let handler = RPCChannelHandler(
                            id: id, peer: peer, dispatcher: dispatcher, bus: bus, limits: limits,
                            refusal: refusal, logger: connectionLogger)
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(RPCLineDecoder(maxLineBytes: maxLine)))
                        try channel.pipeline.syncOperations.addHandler(handler)
                        registry.add(channel)
                    }
                }
            }

        let server: any Channel
        var ownedPath: String?
        switch configuration.listen {
        case .path(let path, let mode, let group):
            if try UnixSocketPath.prepare(path) {
                logger.warning("Replaced a stale socket file", metadata: ["rpc.socket": "\(path)"])
            }
            let previousMask = umask(0o177)
            do {
                server = try await bootstrap.bind(unixDomainSocketPath: path).get()
                umask(previousMask)
            } catch {
                umask(previousMask)
                throw error
            }
            ownedPath = path
            try UnixSocketPath.applyPermissions(path, mode: mode, group: group)
        case .fileDescriptor(let fd, _):
            server = try await bootstrap.withBoundSocket(fd).get()
        }
        logger.info("RPC socket listening", metadata: [
            "rpc.socket": "\(configuration.displayPath)",
            "rpc.activated": "\(ownedPath == nil)",
        ])
        await onListening()

        // On graceful shutdown (or cancellation) the listening socket closes; every connection stops reading,
        // finishes the calls it has in flight, writes their replies and closes.
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                try? await server.closeFuture.get()
            } onCancel: {
                server.close(promise: nil)
            }
        } onGracefulShutdown: {
            server.close(promise: nil)
        }
        if let ownedPath {
            unlink(ownedPath)
            logger.info("RPC socket closed, draining connections", metadata: ["rpc.socket": "\(ownedPath)"])
        }
        // Cancelled (the service group gave up waiting): close at once instead of waiting for the calls.
        for channel in registry.drain() {
            if Task.isCancelled {
                channel.close(promise: nil)
            } else {
                channel.pipeline.fireUserInboundEventTriggered(RPCChannelHandler.Drain())
            }
            await withTaskCancellationHandler {
                try? await channel.closeFuture.get()
            } onCancel: {
                channel.close(promise: nil)
            }
        }
        logger.info("RPC server stopped")
    }

    /// The error line a refused connection gets before it is closed: -32002 `overloaded`, `data.reason`
    /// says which limit.
    static func refusalError(_ reason: ConnectionAccounting.Refusal, accounting: ConnectionAccounting, uid: UInt32?) -> WPWError {
        switch reason {
        case .total:
            return WPWError(.overloaded, "Too many connections", data: [
                "reason": "maxConnections", "maxConnections": .int(Int64(accounting.maxConnections)),
            ])
        case .perUid:
            return WPWError(.overloaded, "Too many connections from this user", data: [
                "reason": "maxConnectionsPerUid", "maxConnectionsPerUid": .int(Int64(accounting.maxPerUid)),
                "maxConnections": .int(Int64(accounting.maxConnections)), "uid": .int(Int64(uid ?? 0)),
            ])
        }
    }

    private static func peerCredentials(_ channel: any Channel) -> EventLoopFuture<PeerCredentials?> {
        #if os(Linux)
        guard let provider = channel as? any SocketOptionProvider else { return channel.eventLoop.makeSucceededFuture(nil) }
        // struct ucred {pid_t pid; uid_t uid; gid_t gid;} (needs _GNU_SOURCE in C, so mirrored here).
        let future: EventLoopFuture<UCred> = provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        return future.map { Optional(PeerCredentials(pid: $0.pid, uid: $0.uid, gid: $0.gid)) }.recover { _ in nil }
        #else
        return channel.eventLoop.makeSucceededFuture(nil)
        #endif
    }
}

/// The open connections, so that a graceful shutdown can drain them.
final class ConnectionRegistry: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var draining = false
    }
    private let state = NIOLockedValueBox(State())

    var isDraining: Bool { state.withLockedValue { $0.draining } }

    func add(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        state.withLockedValue { $0.channels[id] = channel }
        channel.closeFuture.whenComplete { [self] _ in _ = state.withLockedValue { $0.channels.removeValue(forKey: id) } }
    }

    /// Marks the registry draining (new connections are refused) and returns the open connections.
    func drain() -> [any Channel] {
        state.withLockedValue { state in
            state.draining = true
            return Array(state.channels.values)
        }
    }
}

/// Serves one connection on its event loop: one JSON value per line in, one reply per request out.
///
/// Each request runs as a task of its own (up to `maxInFlight` at once; beyond that lines wait here and the
/// socket is not read, so a client that never reads only backs itself up). Replies are written as they are
/// ready, in any order, and flushed once per loop tick, so pipelined replies share a `write`.
final class RPCChannelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Limits: Sendable {
        var maxLineBytes: Int
        var maxInFlight: Int
        /// Close a connection that is idle (nothing in flight or waiting, no subscription) this long.
        var idleTimeout: TimeAmount?
    }

    /// Sent through the pipeline on graceful shutdown: stop reading, finish the calls in flight, close.
    struct Drain: Sendable {}

    private let id: UInt64
    private let peer: PeerCredentials?
    private let dispatcher: RPCDispatcher
    private let bus: EventBus?
    private let limits: Limits
    /// Set for a connection refused at accept: answered with this error, then closed.
    private let refusal: WPWError?
    private let logger: Logger
    private var context: ChannelHandlerContext?
    private var connection: RPCConnection?
    /// The window, back-pressure and closing decisions (tested on their own).
    private var state: RPCConnectionStateMachine<JSONValue>
    private var flushScheduled = false
    private var pumping = false
    /// When the last line arrived or the last call finished (kept only with an idle timeout).
    private var lastActivity = NIODeadline.uptimeNanoseconds(0)
    private var idleCheck: Scheduled<Void>?

    init(
        id: UInt64, peer: PeerCredentials?, dispatcher: RPCDispatcher, bus: EventBus?, limits: Limits, refusal: WPWError?,
        logger: Logger
    ) {
        self.id = id
        self.peer = peer
        self.dispatcher = dispatcher
        self.bus = bus
        self.limits = limits
        self.refusal = refusal
        self.logger = logger
        self.state = RPCConnectionStateMachine(maxInFlight: limits.maxInFlight)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let channel = context.channel
        let loop = context.eventLoop
        // Notifications (events) from any task: written and flushed on the loop; the caller waits until the
        // bytes are handed to the socket, so a subscriber that does not read slows its own forwarder only.
        connection = RPCConnection(id: id, peer: peer, send: { value in
            var bytes = value.serialized()
            bytes.append(0x0A)
            let buffer = channel.allocator.buffer(bytes: bytes)
            if loop.inEventLoop {
                try await channel.writeAndFlush(buffer)
            } else {
                try await loop.flatSubmit { channel.writeAndFlush(buffer) }.get()
            }
        })
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        if let refusal {
            perform(state.closeAfter(JSONRPC.response(id: .null, error: refusal)), context: context)
        } else if let timeout = limits.idleTimeout {
            lastActivity = .now()
            scheduleIdleCheck(at: lastActivity + timeout, context: context)
        }
    }

    private func scheduleIdleCheck(at deadline: NIODeadline, context: ChannelHandlerContext) {
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        idleCheck = context.eventLoop.scheduleTask(deadline: deadline) { handler.value.idleCheckDue() }
    }

    /// One timer per connection, moved on lazily: activity only stamps `lastActivity`, and the check, when
    /// due, either closes the connection or sets itself for the new deadline.
    private func idleCheckDue() {
        idleCheck = nil
        guard let context, state.isOpen, let timeout = limits.idleTimeout else { return }
        let now = NIODeadline.now()
        if !state.isIdle || connection?.currentSubscription != nil {
            lastActivity = now
        }
        let deadline = lastActivity + timeout
        if deadline > now {
            scheduleIdleCheck(at: deadline, context: context)
            return
        }
        // Nothing was read for the whole timeout, so no line of the client is left half-handled: a call it
        // sends from now on is not executed (it sees the end of the stream) and may be sent again.
        logger.debug("Closing an idle connection", metadata: ["rpc.idle_timeout_ms": "\(timeout.nanoseconds / 1_000_000)"])
        perform(state.closeAfter(nil), context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.channelClosed()
        idleCheck?.cancel()
        idleCheck = nil
        if let connection {
            let (subscription, forwarder) = connection.close()
            forwarder?.cancel()
            if let subscription, let bus { Task { await bus.unsubscribe(subscription) } }
        }
        logger.debug("Connection closed")
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard state.isOpen else { return }
        if limits.idleTimeout != nil { lastActivity = .now() }
        let line = unwrapInboundIn(data)
        let bytes = line.readableBytesView
        if Self.isBlank(bytes) { return }
        // A parse error closes the connection: answered after the calls already in flight.
        guard let message = RPCDispatcher.parse(bytes) else {
            logger.debug("Closing connection after a parse error")
            dispatcher.recordParseError()
            perform(state.closeAfter(RPCDispatcher.parseErrorReply), context: context)
            return
        }
        // While replies the client has not read fill the outbound buffer, requests wait (parsed, small)
        // rather than being answered into it: a short request can have a long reply (`rpc.discover`).
        perform(state.received(message, writable: context.channel.isWritable), context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { pump() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        // Not while the calls in flight and the lines waiting fill the window, nor while replies the client
        // has not read fill the outbound buffer: the client's writes then stay in the socket (its own
        // back-pressure).
        perform(state.readRequested(writable: context.channel.isWritable), context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case is RPCLineDecoder.LineTooLong:
            logger.warning("Line longer than the limit; closing connection", metadata: ["rpc.max_line_bytes": "\(limits.maxLineBytes)"])
            perform(state.closeAfter(JSONRPC.response(
                id: .null,
                error: WPWError(.messageTooLarge, "Message too large: a line may hold at most \(limits.maxLineBytes) bytes before its newline",
                                data: ["maxLineBytes": .int(Int64(limits.maxLineBytes))]))), context: context)
        case is RPCLineDecoder.UnterminatedLine:
            logger.debug("Client hung up in the middle of a line")
        default:
            logger.debug("Connection ended with an error", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is Drain:
            perform(state.closeAfter(nil), context: context)
        case let event as ChannelEvent where event == .inputClosed:
            // The client has sent everything: answer the calls in flight (and those waiting), then close.
            perform(state.inputClosed(), context: context)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func start(_ message: JSONValue, context: ChannelHandlerContext) {
        guard let connection else { return }  // counted in flight by the state machine
        let dispatcher = self.dispatcher
        // Methods that never suspend (getDevice, getStatus) and invalid requests: answered here, no task.
        let inlineHooks = ReplyHooks()
        if let line = dispatcher.handleInlineLine(message: message, connection: connection, hooks: inlineHooks) {
            finished(line: line, hooks: inlineHooks)
            return
        }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        Task {
            let hooks = ReplyHooks()
            let reply = await dispatcher.handle(message: message, connection: connection, hooks: hooks)
            if loop.inEventLoop {
                handler.value.finished(reply, hooks: hooks)
            } else {
                loop.execute { handler.value.finished(reply, hooks: hooks) }
            }
        }
    }

    /// One call is done: write its reply (flushed at the end of this loop tick), then start the next waiting.
    private func finished(_ reply: JSONValue?, hooks: ReplyHooks) {
        finished(line: reply.map { value in
            var bytes = value.serialized()
            bytes.append(0x0A)
            return bytes
        }, hooks: hooks)
    }

    private func finished(line: [UInt8]?, hooks: ReplyHooks) {
        guard let context, !state.isClosed else {
            state.callFinished()
            hooks.run()
            return
        }
        if let line {
            let buffer = context.channel.allocator.buffer(bytes: line)
            if hooks.isEmpty {
                // The call is done once its reply is queued; a client that does not read makes the channel
                // unwritable, and then `read` holds the socket (see `channelWritabilityChanged`).
                context.write(wrapOutboundOut(buffer), promise: nil)
                scheduleFlush(context)
                callDone()
            } else {
                let promise = context.eventLoop.makePromise(of: Void.self)
                context.write(wrapOutboundOut(buffer), promise: promise)
                scheduleFlush(context)
                let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
                promise.futureResult.whenComplete { _ in
                    hooks.run()
                    handler.value.callDone()
                }
            }
        } else {
            hooks.run()
            callDone()
        }
    }

    private func callDone() {
        state.callFinished()
        if state.inFlight == 0, limits.idleTimeout != nil { lastActivity = .now() }
        pump()
    }

    /// Starts waiting calls while the window and the outbound buffer allow, then reads on (or closes).
    /// Not re-entered: a call answered inline comes back here through `callDone` while the loop below runs.
    private func pump() {
        guard !pumping, let context else { return }
        pumping = true
        defer { pumping = false }
        while true {
            switch state.next(writable: context.channel.isWritable) {
            case .start(let message):
                start(message, context: context)
            case .read:
                context.read()
                return
            case .close(let lastLine):
                close(lastLine: lastLine, context: context)
                return
            case .none:
                return
            }
        }
    }

    /// Carries out one action of the state machine (outside the pump loop).
    private func perform(_ action: RPCConnectionStateMachine<JSONValue>.Action, context: ChannelHandlerContext) {
        switch action {
        case .start(let message): start(message, context: context)
        case .read: context.read()
        case .close(let lastLine): close(lastLine: lastLine, context: context)
        case .none: break
        }
    }

    /// Writes the last line (if any), then closes.
    private func close(lastLine: JSONValue?, context: ChannelHandlerContext) {
        if let lastLine {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(Self.line(lastLine, allocator: channel.allocator))).whenComplete { _ in
                channel.close(promise: nil)
            }
        } else {
            context.flush()
            context.close(promise: nil)
        }
    }

    private func scheduleFlush(_ context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let this = handler.value
            this.flushScheduled = false
            this.context?.flush()
        }
    }

    static func line(_ value: JSONValue, allocator: ByteBufferAllocator) -> ByteBuffer {
        var bytes = value.serialized()
        bytes.append(0x0A)
        return allocator.buffer(bytes: bytes)
    }

    private static func isBlank(_ bytes: ByteBufferView) -> Bool {
        bytes.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
    }
}

#if os(Linux)
private struct UCred: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
#endif
