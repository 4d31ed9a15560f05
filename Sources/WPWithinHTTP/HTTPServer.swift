import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// A small HTTP/1.1 server: keep-alive, pipelining, bounded bodies, graceful shutdown.
///
/// Shaped like HummingbirdCore's `Server`: an actor with a state machine, bound with NIO's async
/// bootstrap into an `NIOAsyncChannel`, one child task per connection in a discarding task group,
/// and `ServerQuiescingHelper` to stop accepting and let open requests finish on graceful shutdown.
/// It knows nothing about what it serves: every complete request goes to the ``HTTPHandler``.
///
/// Run it inside a `ServiceGroup`, or call ``run()`` in a task and ``shutdownGracefully()`` to stop.
public actor HTTPServer: Service {
    typealias Child = NIOAsyncChannel<NIOHTTPServerRequestFull, HTTPServerResponsePart>
    typealias Listener = NIOAsyncChannel<Child, Never>

    enum State: CustomStringConvertible {
        case initial
        case starting
        case running(listener: Listener, quiescingHelper: ServerQuiescingHelper)
        case shuttingDown(shutdownPromise: EventLoopPromise<Void>)
        case shutdown

        var description: String {
            switch self {
            case .initial: "initial"
            case .starting: "starting"
            case .running: "running"
            case .shuttingDown: "shuttingDown"
            case .shutdown: "shutdown"
            }
        }
    }

    /// Errors from ``run()`` called in the wrong state.
    public enum Error: Swift.Error, Sendable {
        case alreadyRunning
        case shuttingDown
        case shutdown
    }

    private var state: State = .initial {
        didSet { logger.trace("HTTP server state changed", metadata: ["http.server.state": "\(state)"]) }
    }

    public nonisolated let configuration: HTTPServerConfiguration
    nonisolated let handler: HTTPHandler
    nonisolated let onServerRunning: (@Sendable (Int) async -> Void)?
    nonisolated let eventLoopGroup: any EventLoopGroup
    public nonisolated let logger: Logger

    /// - Parameters:
    ///   - configuration: address, limits, timeouts.
    ///   - eventLoopGroup: defaults to NIO's shared singleton group.
    ///   - logger: server and connection events (connection-level detail at debug/trace).
    ///   - onServerRunning: called once after bind with the bound port (useful with port 0).
    ///   - handler: answers every complete request.
    public init(
        configuration: HTTPServerConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        onServerRunning: (@Sendable (Int) async -> Void)? = nil,
        handler: @escaping HTTPHandler
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.onServerRunning = onServerRunning
        self.handler = handler
    }

    /// Binds, serves until graceful shutdown (or cancellation), then returns.
    public func run() async throws {
        switch state {
        case .initial:
            state = .starting
        case .starting, .running:
            throw Error.alreadyRunning
        case .shuttingDown:
            throw Error.shuttingDown
        case .shutdown:
            throw Error.shutdown
        }

        let listener: Listener
        let quiescingHelper: ServerQuiescingHelper
        do {
            (listener, quiescingHelper) = try await bind()
        } catch {
            state = .shutdown
            throw error
        }

        switch state {
        case .initial, .running:
            preconditionFailure("HTTP server started twice")
        case .shuttingDown, .shutdown:
            // Shut down while we were binding.
            try await listener.channel.close()
            state = .shutdown
            return
        case .starting:
            state = .running(listener: listener, quiescingHelper: quiescingHelper)
        }

        let port = listener.channel.localAddress?.port ?? configuration.port
        logger.info(
            "HTTP server listening",
            metadata: ["http.server.host": "\(configuration.host)", "http.server.port": "\(port)"]
        )

        await withGracefulShutdownHandler {
            await onServerRunning?(port)
            let logger = self.logger
            let handler = self.handler
            await withDiscardingTaskGroup { group in
                do {
                    try await listener.executeThenClose { inbound in
                        for try await child in inbound {
                            group.addTask {
                                await HTTPServer.serve(connection: child, handler: handler, logger: logger)
                            }
                        }
                    }
                } catch is CancellationError {
                    logger.debug("HTTP server cancelled")
                } catch {
                    logger.error("HTTP server stopped accepting", metadata: ["error": "\(error)"])
                }
            }
        } onGracefulShutdown: {
            Task { try? await self.shutdownGracefully() }
        }
        state = .shutdown
        logger.info("HTTP server stopped")
    }

    /// Stops accepting, lets in-flight requests finish, closes idle connections; returns when done.
    public func shutdownGracefully() async throws {
        switch state {
        case .initial, .starting:
            state = .shutdown
        case .running(_, let quiescingHelper):
            let promise = eventLoopGroup.next().makePromise(of: Void.self)
            state = .shuttingDown(shutdownPromise: promise)
            quiescingHelper.initiateShutdown(promise: promise)
            try await promise.futureResult.get()
            if case .shuttingDown = state { state = .shutdown }
        case .shuttingDown(let promise):
            try await promise.futureResult.get()
        case .shutdown:
            return
        }
    }

    private nonisolated func bind() async throws -> (Listener, ServerQuiescingHelper) {
        let quiescingHelper = ServerQuiescingHelper(group: eventLoopGroup)
        let configuration = self.configuration
        let listener = try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(ChannelOptions.backlog, value: configuration.backlog)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        quiescingHelper.makeServerChannelHandler(channel: channel)
                    )
                }
            }
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .bind(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let idle = configuration.idleTimeout {
                        try sync.addHandler(IdleStateHandler(allTimeout: TimeAmount(idle)))
                        try sync.addHandler(CloseOnIdleHandler())
                    }
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(
                        RequestBodyLimitHandler(
                            maxBodySize: configuration.maxBodySize,
                            response: configuration.payloadTooLargeResponse
                        )
                    )
                    try sync.addHandler(NIOHTTPServerRequestAggregator(maxContentLength: configuration.maxBodySize))
                    return try Child(wrappingChannelSynchronously: channel)
                }
            }
        return (listener, quiescingHelper)
    }

    /// Serves one connection until the peer closes, asks to close, or the server quiesces.
    static func serve(connection: Child, handler: HTTPHandler, logger: Logger) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                for try await full in inbound {
                    let head = full.head
                    var fields: [(String, String)] = []
                    fields.reserveCapacity(head.headers.count)
                    for (name, value) in head.headers { fields.append((name, value)) }
                    let request = HTTPRequest(
                        method: head.method.rawValue,
                        uri: head.uri,
                        headers: HTTPHeaderFields(fields),
                        body: full.body.map { Array($0.readableBytesView) } ?? []
                    )
                    let response = await handler(request)
                    let keepAlive = head.isKeepAlive
                    try await write(response, version: head.version, keepAlive: keepAlive, to: outbound)
                    if !keepAlive { break }
                }
            }
        } catch {
            logger.debug("HTTP connection ended with an error", metadata: ["error": "\(error)"])
        }
    }

    static func write(
        _ response: HTTPResponse,
        version: HTTPVersion,
        keepAlive: Bool,
        to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
    ) async throws {
        var headers = HTTPHeaders()
        for field in response.headers where !field.name.caseInsensitiveEquals("content-length") {
            headers.add(name: field.name, value: field.value)
        }
        headers.replaceOrAdd(name: "content-length", value: String(response.body.count))
        if !keepAlive {
            headers.replaceOrAdd(name: "connection", value: "close")
        } else if version.major == 1 && version.minor == 0 {
            headers.replaceOrAdd(name: "connection", value: "keep-alive")
        }
        let head = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        if response.body.isEmpty {
            try await outbound.write(contentsOf: [.head(head), .end(nil)])
        } else {
            try await outbound.write(contentsOf: [.head(head), .body(.byteBuffer(ByteBuffer(bytes: response.body))), .end(nil)])
        }
    }
}

extension HTTPServer: CustomStringConvertible {
    public nonisolated var description: String { "HTTPServer(\(configuration.host):\(configuration.port))" }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// Closes a connection when `IdleStateHandler` reports it idle.
final class CloseOnIdleHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}

/// Refuses bodies over the limit with the configured 413 response and closes the connection.
///
/// It sits before `NIOHTTPServerRequestAggregator` so that the client gets our body (the
/// aggregator's own 413 is empty); the aggregator then never sees an oversized request.
final class RequestBodyLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let maxBodySize: Int
    private let response: HTTPResponse
    private var received = 0
    private var rejected = false

    init(maxBodySize: Int, response: HTTPResponse) {
        self.maxBodySize = maxBodySize
        self.response = response
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if rejected { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            received = 0
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > maxBodySize {
                reject(context: context, version: head.version)
                return
            }
        case .body(let buffer):
            received += buffer.readableBytes
            if received > maxBodySize {
                reject(context: context, version: .http1_1)
                return
            }
        case .end:
            break
        }
        context.fireChannelRead(data)
    }

    private func reject(context: ChannelHandlerContext, version: HTTPVersion) {
        rejected = true
        var headers = HTTPHeaders()
        for field in response.headers { headers.add(name: field.name, value: field.value) }
        headers.replaceOrAdd(name: "content-length", value: String(response.body.count))
        headers.replaceOrAdd(name: "connection", value: "close")
        let head = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: response.body)))), promise: nil)
        let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            loopBoundContext.value.close(promise: nil)
        }
    }
}
