import NIOCore
import NIOHTTP1
import NIOPosix
import WPWithinCore

/// Serves one client connection: each complete request is matched against the rules and then forwarded,
/// delayed, answered, held, cut or swallowed. `HTTPServerPipelineHandler` (before it) hands over one request
/// at a time, the next only after the answer to this one, so at most one exchange is open per connection.
///
/// A request the proxy has taken on is carried through even when its client goes away meanwhile: a delayed or
/// held request is still forwarded when its time comes (the late order of a client that gave up), and its
/// answer is dropped (log outcome `clientGone`).
final class ProxyConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOHTTPServerRequestFull
    typealias OutboundOut = HTTPServerResponsePart

    private let state: ProxyState
    private var context: ChannelHandlerContext?
    private var clientOpen = true
    private var current: LogEntry?

    init(state: ProxyState) { self.state = state }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelInactive(context: ChannelHandlerContext) {
        clientOpen = false
        current?.clientGone = true
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let request = unwrapInboundIn(data)
        let (entry, action) = state.admit(method: request.head.method.rawValue, uri: request.head.uri)
        current = entry
        let loop = state.loop.assumeIsolated()
        switch action {
        case .pass:
            forward(request, entry) { self.respond(entry, request, $0) }
        case .delay(let ms):
            loop.scheduleTask(in: .milliseconds(ms)) {
                self.forward(request, entry) { self.respond(entry, request, $0) }
            }
        case .delayResponse(let ms):
            forward(request, entry) { answer in
                loop.scheduleTask(in: .milliseconds(ms)) { self.respond(entry, request, answer) }
            }
        case .drop:
            cut(entry)
        case .blackhole:
            entry.outcome = "blackholed"
            state.finish(entry)
        case .status(let canned), .fabricate(let canned):
            respond(entry, request, canned)
        case .forwardThenStatus(let canned):
            forward(request, entry) { _ in self.respond(entry, request, canned) }
        case .forwardThenCut:
            forward(request, entry) { _ in self.cut(entry) }
        case .hold:
            state.hold(entry, stage: "request") { how in
                switch how {
                case .deliver: self.forward(request, entry) { self.respond(entry, request, $0) }
                case .cut: self.cut(entry)
                case .status(let canned): self.respond(entry, request, canned)
                }
            }
        case .holdResponse:
            forward(request, entry) { answer in
                self.state.hold(entry, stage: "response") { how in
                    switch how {
                    case .deliver: self.respond(entry, request, answer)
                    case .cut: self.cut(entry)
                    case .status(let canned): self.respond(entry, request, canned)
                    }
                }
            }
        }
    }

    // MARK: Steps

    private func forward(_ request: NIOHTTPServerRequestFull, _ entry: LogEntry, then: @escaping (CannedResponse) -> Void) {
        Upstream.send(request, state: state, entry: entry, then: then)
    }

    /// Answers the client (or, when it has gone, drops the answer).
    private func respond(_ entry: LogEntry, _ request: NIOHTTPServerRequestFull, _ answer: CannedResponse) {
        defer { state.finish(entry) }
        guard clientOpen, let context, context.channel.isActive else {
            entry.outcome = "clientGone"
            return
        }
        let keepAlive = request.head.isKeepAlive
        var headers = HTTPHeaders()
        for (name, value) in answer.headers where !Upstream.hopByHop.contains(name.lowercased()) {
            headers.add(name: name, value: value)
        }
        headers.replaceOrAdd(name: "content-length", value: String(answer.body.count))
        if !keepAlive { headers.replaceOrAdd(name: "connection", value: "close") }
        let head = HTTPResponseHead(version: request.head.version, status: HTTPResponseStatus(statusCode: answer.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !answer.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: answer.body)))), promise: nil)
        }
        entry.status = answer.status
        entry.outcome = "answered"
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// Closes the client connection without an answer.
    private func cut(_ entry: LogEntry) {
        defer { state.finish(entry) }
        guard clientOpen, let context else {
            entry.outcome = "clientGone"
            return
        }
        entry.outcome = "closed"
        context.close(promise: nil)
    }
}

/// One request to the upstream on a connection of its own (`Connection: close`), its answer read in full.
enum Upstream {
    /// Headers that belong to one connection and are not passed on.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "content-length",
    ]

    /// Forwards `request`; `then` gets the upstream's answer, or a 502 (`X-Fault-Proxy: upstream-error`) when the
    /// upstream cannot be reached or closes without answering.
    static func send(
        _ request: NIOHTTPServerRequestFull, state: ProxyState, entry: LogEntry, then: @escaping (CannedResponse) -> Void
    ) {
        let fail: (String) -> Void = { detail in
            entry.upstreamError = detail
            let body: JSONValue = ["faultProxy": "upstream error", "detail": .string(detail)]
            then(CannedResponse(
                status: 502, headers: [("Content-Type", "application/json"), ("X-Fault-Proxy", "upstream-error")], body: body.serialized()
            ))
        }
        ClientBootstrap(group: state.loop)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHTTPClientHandlers()
                    try sync.addHandler(NIOHTTPClientResponseAggregator(maxContentLength: 64 << 20))
                    try sync.addHandler(UpstreamHandler())
                }
            }
            .connect(host: state.upstreamHost, port: state.upstreamPort)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .failure(let error):
                    fail("connect: \(error)")
                case .success(let channel):
                    guard let handler = try? channel.pipeline.syncOperations.handler(type: UpstreamHandler.self) else {
                        channel.close(promise: nil)
                        fail("pipeline")
                        return
                    }
                    handler.onAnswer = { answer in
                        switch answer {
                        case .success(let response):
                            entry.forwarded = true
                            entry.upstreamStatus = Int(response.head.status.code)
                            var headers: [(String, String)] = []
                            for (name, value) in response.head.headers where !hopByHop.contains(name.lowercased()) {
                                headers.append((name, value))
                            }
                            then(CannedResponse(
                                status: Int(response.head.status.code), headers: headers,
                                body: response.body.map { Array($0.readableBytesView) } ?? []
                            ))
                        case .failure(let error):
                            fail("\(error)")
                        }
                    }
                    write(request, to: channel, entry: entry)
                }
            }
    }

    private static func write(_ request: NIOHTTPServerRequestFull, to channel: any Channel, entry: LogEntry) {
        var headers = HTTPHeaders()
        for (name, value) in request.head.headers where !hopByHop.contains(name.lowercased()) {
            headers.add(name: name, value: value)
        }
        let body = request.body ?? ByteBuffer()
        if body.readableBytes > 0 || request.head.method == .POST || request.head.method == .PUT {
            headers.replaceOrAdd(name: "content-length", value: String(body.readableBytes))
        }
        headers.replaceOrAdd(name: "connection", value: "close")
        let head = HTTPRequestHead(version: .http1_1, method: request.head.method, uri: request.head.uri, headers: headers)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if body.readableBytes > 0 { channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil)).assumeIsolated().whenSuccess { entry.forwarded = true }
    }
}

/// Hands the upstream's whole answer (or the reason there is none) to `onAnswer`, once, then closes.
final class UpstreamHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOHTTPClientResponseFull

    struct Closed: Error, CustomStringConvertible {
        var description: String { "the upstream closed the connection without answering" }
    }

    var onAnswer: ((Result<NIOHTTPClientResponseFull, any Error>) -> Void)? {
        didSet { if let pending { deliver(pending) } }
    }
    private var pending: Result<NIOHTTPClientResponseFull, any Error>?
    private var answered = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        deliver(.success(unwrapInboundIn(data)))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deliver(.failure(Closed()))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        deliver(.failure(error))
        context.close(promise: nil)
    }

    private func deliver(_ result: Result<NIOHTTPClientResponseFull, any Error>) {
        guard !answered else { return }
        guard let onAnswer else {
            pending = result
            return
        }
        answered = true
        pending = nil
        self.onAnswer = nil
        onAnswer(result)
    }
}
