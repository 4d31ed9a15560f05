#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOExtras
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
        public var maxLineBytes: Int
        public var maxConnections: Int
        public var maxInFlightPerConnection: Int

        public init(listen: Listen, maxLineBytes: Int = 1 << 20, maxConnections: Int = 256, maxInFlightPerConnection: Int = 64) {
            self.listen = listen
            self.maxLineBytes = maxLineBytes
            self.maxConnections = maxConnections
            self.maxInFlightPerConnection = maxInFlightPerConnection
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
    private let stats = NIOLockedValueBox(Stats())

    struct Stats {
        var open = 0
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
        self.dispatcher = dispatcher
        self.bus = bus
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.onListening = onListening
    }

    /// Connections open right now.
    public nonisolated var openConnections: Int { stats.withLockedValue { $0.open } }

    public func run() async throws {
        let maxLine = configuration.maxLineBytes
        let bootstrap = ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
        let initializer: @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<ByteBuffer, ByteBuffer>> = { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    ByteToMessageHandler(LineBasedFrameDecoder(), maximumBufferSize: maxLine)
                )
                return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }

        let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
        var ownedPath: String?
        switch configuration.listen {
        case .path(let path, let mode, let group):
            if try UnixSocketPath.prepare(path) {
                logger.warning("Replaced a stale socket file", metadata: ["rpc.socket": "\(path)"])
            }
            let previousMask = umask(0o177)
            do {
                server = try await bootstrap.bind(unixDomainSocketPath: path, childChannelInitializer: initializer)
                umask(previousMask)
            } catch {
                umask(previousMask)
                throw error
            }
            ownedPath = path
            try UnixSocketPath.applyPermissions(path, mode: mode, group: group)
        case .fileDescriptor(let fd, _):
            server = try await bootstrap.bind(fd, childChannelInitializer: initializer)
        }
        logger.info("RPC socket listening", metadata: [
            "rpc.socket": "\(configuration.displayPath)",
            "rpc.activated": "\(ownedPath == nil)",
        ])
        await onListening()

        try await withThrowingDiscardingTaskGroup { group in
            defer {
                if let ownedPath { unlink(ownedPath) }
            }
            try await server.executeThenClose { inbound in
                // On graceful shutdown the listening channel is closed: the stream then ends after handing
                // over the connections already accepted, which are closed without being served (dropping
                // them unconsumed would trap in NIO).
                try await withGracefulShutdownHandler {
                    for try await connection in inbound {
                        if Task.isShuttingDownGracefully {
                            group.addTask { try? await connection.executeThenClose { _, _ in } }
                        } else {
                            group.addTask { await self.serve(connection) }
                        }
                    }
                } onGracefulShutdown: {
                    server.channel.close(promise: nil)
                }
            }
            if let ownedPath {
                unlink(ownedPath)
                logger.info("RPC socket closed, draining connections", metadata: ["rpc.socket": "\(ownedPath)"])
            }
        }
        logger.info("RPC server stopped")
    }

    private nonisolated func serve(_ channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let (id, open) = stats.withLockedValue { stats -> (UInt64, Int) in
            defer { stats.nextID += 1 }
            stats.open += 1
            return (stats.nextID, stats.open)
        }
        defer { stats.withLockedValue { $0.open -= 1 } }
        let peer = await Self.peerCredentials(channel.channel)
        var logger = self.logger
        logger[metadataKey: "rpc.connection"] = "\(id)"
        if let peer {
            logger[metadataKey: "peer.pid"] = "\(peer.pid)"
            logger[metadataKey: "peer.uid"] = "\(peer.uid)"
            logger[metadataKey: "peer.gid"] = "\(peer.gid)"
        }
        logger.debug("Connection accepted", metadata: ["rpc.connections": "\(open)"])

        do {
            try await channel.executeThenClose { inbound, outbound in
                let writer = LineWriter(outbound: outbound)
                let connection = RPCConnection(id: id, peer: peer, send: { try await writer.write($0) })
                if open > configuration.maxConnections {
                    logger.warning("Too many connections; refusing", metadata: ["rpc.max_connections": "\(configuration.maxConnections)"])
                    try? await writer.write(JSONRPC.response(
                        id: .null,
                        error: WPWError(.overloaded, "Too many connections", data: ["maxConnections": .int(Int64(configuration.maxConnections))])
                    ))
                    return
                }
                defer {
                    let (subscription, forwarder) = connection.close()
                    forwarder?.cancel()
                    if let subscription, let bus { Task { await bus.unsubscribe(subscription) } }
                }
                try await readLoop(inbound: inbound, writer: writer, connection: connection, logger: logger)
            }
        } catch {
            logger.debug("Connection ended with an error", metadata: ["error": "\(error)"])
        }
        logger.debug("Connection closed")
    }

    private nonisolated func readLoop(
        inbound: NIOAsyncChannelInboundStream<ByteBuffer>,
        writer: LineWriter,
        connection: RPCConnection,
        logger: Logger
    ) async throws {
        let dispatcher = self.dispatcher
        let maxInFlight = configuration.maxInFlightPerConnection
        let maxLine = configuration.maxLineBytes
        try await withThrowingTaskGroup(of: Void.self) { group in
            var running = 0
            do {
                for try await line in inbound.cancelOnGracefulShutdown() {
                    if running >= maxInFlight {
                        try await group.next()
                        running -= 1
                    }
                    let bytes = line.readableBytesView
                    if Self.isBlank(bytes) { continue }
                    // A parse error closes the connection: answer it after the calls already in flight.
                    guard let message = RPCDispatcher.parse(bytes) else {
                        try await group.waitForAll()
                        try? await writer.write(RPCDispatcher.parseErrorReply)
                        logger.debug("Closing connection after a parse error")
                        return
                    }
                    running += 1
                    group.addTask {
                        let hooks = ReplyHooks()
                        if let reply = await dispatcher.handle(message: message, connection: connection, hooks: hooks) {
                            do { try await writer.write(reply) } catch { return }
                        }
                        hooks.run()
                    }
                }
            } catch is ByteToMessageDecoderError.PayloadTooLargeError {
                try? await group.waitForAll()
                logger.warning("Line longer than the limit; closing connection", metadata: ["rpc.max_line_bytes": "\(maxLine)"])
                try? await writer.write(JSONRPC.response(
                    id: .null,
                    error: WPWError(.messageTooLarge, "Message too large: a line may hold at most \(maxLine) bytes",
                                    data: ["maxLineBytes": .int(Int64(maxLine))])
                ))
                return
            } catch is NIOExtrasErrors.LeftOverBytesError {
                logger.debug("Client hung up in the middle of a line")
            }
            try await group.waitForAll()
        }
    }

    private static func isBlank(_ bytes: ByteBufferView) -> Bool {
        bytes.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
    }

    private static func peerCredentials(_ channel: any Channel) async -> PeerCredentials? {
        #if os(Linux)
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        // struct ucred {pid_t pid; uid_t uid; gid_t gid;} (needs _GNU_SOURCE in C, so mirrored here).
        let future: EventLoopFuture<UCred> = provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        guard let credentials = try? await future.get() else { return nil }
        return PeerCredentials(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid)
        #else
        return nil
        #endif
    }
}

#if os(Linux)
private struct UCred: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
#endif

/// Writes JSON values as lines on one connection; safe to call from many tasks.
struct LineWriter: Sendable {
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>

    func write(_ value: JSONValue) async throws {
        var bytes = value.serialized()
        bytes.append(0x0A)
        try await outbound.write(ByteBuffer(bytes: bytes))
    }
}
