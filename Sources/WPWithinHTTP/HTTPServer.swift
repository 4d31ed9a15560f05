import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import WPWithinTLS

/// A small HTTP/1.1 server: keep-alive, pipelining, bounded bodies, graceful shutdown, and the limits a
/// port on a LAN needs: a total and a per-peer cap on connections (503 over them), header, body and idle
/// timeouts (408 for a request that does not arrive in time), one warning per interval summing up what was
/// refused or timed out (see `docs/operations.md`, "Connection floods").
///
/// Shaped like HummingbirdCore's `Server`: an actor with a state machine, bound with NIO's async
/// bootstrap into an `NIOAsyncChannel`, one child task per connection in a discarding task group,
/// and `ServerQuiescingHelper` to stop accepting and let open requests finish on graceful shutdown.
/// It knows nothing about what it serves: every complete request goes to the ``HTTPHandler``.
///
/// Run it inside a `ServiceGroup`, or call ``run()`` in a task and ``shutdownGracefully()`` to stop.
public actor HTTPServer: Service {
    typealias Listener = any Channel

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
            try await listener.close()
            state = .shutdown
            return
        case .starting:
            state = .running(listener: listener, quiescingHelper: quiescingHelper)
        }

        let port = listener.localAddress?.port ?? configuration.port
        logger.info(
            "HTTP server listening",
            metadata: ["http.server.host": "\(configuration.host)", "http.server.port": "\(port)"]
        )

        await withGracefulShutdownHandler {
            await onServerRunning?(port)
            // Connections are served by `HTTPServerConnectionHandler`s on their event loops; this task waits
            // until the listener closes (graceful shutdown quiesces the connections first).
            await withTaskCancellationHandler {
                try? await listener.closeFuture.get()
            } onCancel: {
                logger.debug("HTTP server cancelled")
                listener.close(promise: nil)
            }
        } onGracefulShutdown: {
            Task { try? await self.shutdownGracefully() }
        }
        // After a graceful shutdown, wait for the open connections to finish their requests.
        if case .shuttingDown(let promise) = state { try? await promise.futureResult.get() }
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
        let timeouts = HTTPRequestDeadlines.Timeouts(
            header: TimeAmount(configuration.headerTimeout), body: TimeAmount(configuration.bodyTimeout),
            idle: configuration.idleTimeout.map(TimeAmount.init))
        let answers = HTTPConnectionAnswers(
            refused: configuration.connectionRefusedResponse.closingBytes,
            requestTimeout: configuration.requestTimeoutResponse.closingBytes,
            linger: TimeAmount(configuration.closeLinger))
        // Loads the certificate and key (a bad file fails `run()`).
        let tls = try configuration.tls.map { configuration throws(TLSError) in try TLSServerContext(configuration: configuration) }
        let serve: @Sendable (any Channel) throws -> Void = { [handler, logger] channel in
            let sync = channel.pipeline.syncOperations
            // In front of the connection's guard: the guard's timeouts and answers see plaintext.
            if let tls { try sync.addHandler(TLSHandler(server: tls), position: .first) }
            try sync.configureHTTPServerPipeline(withErrorHandling: true)
            try sync.addHandler(HTTPRequestProgressObserver())
            try sync.addHandler(
                RequestBodyLimitHandler(
                    maxBodySize: configuration.maxBodySize,
                    response: configuration.payloadTooLargeResponse
                )
            )
            try sync.addHandler(NIOHTTPServerRequestAggregator(maxContentLength: configuration.maxBodySize))
            try sync.addHandler(HTTPServerConnectionHandler(handler: handler, logger: logger))
        }
        let bootstrap = ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(ChannelOptions.backlog, value: configuration.backlog)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { [logger] channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    // Out of descriptors, accept(2) fails: wait a second instead of retrying in a busy loop.
                    try sync.addHandler(AcceptBackoffHandler(shouldForwardIOErrorCaught: true))
                    try sync.addHandler(quiescingHelper.makeServerChannelHandler(channel: channel))
                    // Every accepted connection: counted against the caps, given its guard and (when served)
                    // the HTTP handlers. NIO's accept handler after it only applies the child options.
                    try sync.addHandler(
                        HTTPConnectionLimitHandler(
                            limits: configuration.connectionLimits, timeouts: timeouts, answers: answers,
                            logInterval: TimeAmount(configuration.limitLogInterval),
                            trimMemory: configuration.trimMemoryAfterBursts, logger: logger, serve: serve))
                }
            }
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
        let listener: Listener
        do {
            listener = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        } catch {
            throw BindError(host: configuration.host, port: configuration.port, underlying: "\(error)")
        }
        return (listener, quiescingHelper)
    }

    /// The listener could not be bound: names the address and port (a fatal start-up error the operator
    /// must be able to act on: another process on the port, an address not on this host).
    public struct BindError: Swift.Error, Sendable, CustomStringConvertible {
        public let host: String
        public let port: Int
        public let underlying: String
        public var description: String {
            let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            return "cannot listen on \(address): \(underlying)"
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

/// Serves one HTTP/1.1 connection on its event loop: each complete request goes to the ``HTTPHandler`` in a
/// task; responses are written in request order (a pipelined request waits for the one before it).
/// `HTTPServerPipelineHandler` (before this one) handles keep-alive and quiescing.
final class HTTPServerConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOHTTPServerRequestFull
    typealias OutboundOut = HTTPServerResponsePart

    private let handler: HTTPHandler
    private let logger: Logger
    private var context: ChannelHandlerContext?
    private var queue = CircularBuffer<NIOHTTPServerRequestFull>()
    private var busy = false
    private var closed = false

    init(handler: @escaping HTTPHandler, logger: Logger) {
        self.handler = handler
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        queue.append(unwrapInboundIn(data))
        if !busy { next() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        queue.removeAll()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("HTTP connection ended with an error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    private func next() {
        guard !closed, let context, let full = queue.popFirst() else { return }
        busy = true
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
        let handler = self.handler
        let loop = context.eventLoop
        let this = NIOLoopBound(self, eventLoop: loop)
        Task {
            let response = await handler(request)
            if loop.inEventLoop {
                this.value.respond(response, to: head)
            } else {
                loop.execute { this.value.respond(response, to: head) }
            }
        }
    }

    private func respond(_ response: HTTPResponse, to request: HTTPRequestHead) {
        busy = false
        guard !closed, let context else { return }
        let keepAlive = request.isKeepAlive
        var headers = HTTPHeaders()
        for field in response.headers where !field.name.caseInsensitiveEquals("content-length") {
            headers.add(name: field.name, value: field.value)
        }
        headers.replaceOrAdd(name: "content-length", value: String(response.body.count))
        if !keepAlive {
            headers.replaceOrAdd(name: "connection", value: "close")
        } else if request.version.major == 1 && request.version.minor == 0 {
            headers.replaceOrAdd(name: "connection", value: "keep-alive")
        }
        let head = HTTPResponseHead(version: request.version, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !response.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        }
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            next()
        } else {
            let channel = context.channel
            closed = true
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
