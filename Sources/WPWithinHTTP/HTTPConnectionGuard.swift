import NIOCore
import NIOHTTP1

/// What ``HTTPRequestProgressObserver`` tells ``HTTPConnectionGuard`` (outbound user events, from after the
/// HTTP codec down to the front of the pipeline).
enum HTTPRequestProgress: Sendable, Hashable {
    case headReceived
    case requestReceived
    case responseEnding
}

/// Where a guard reports timeouts: the server channel's ``HTTPConnectionLimitHandler``, on its own loop.
struct HTTPConnectionEventSink: Sendable {
    let record: @Sendable (HTTPConnectionEventLog.Event, String?) -> Void
}

/// The answers a guard gives on its own, as bytes on the wire, and how long it lingers after them.
struct HTTPConnectionAnswers: Sendable {
    var refused: [UInt8]
    var requestTimeout: [UInt8]
    var linger: TimeAmount
}

/// The first handler of every accepted connection: it sees raw bytes in and out.
///
/// A refused connection (over a cap) gets the 503 as soon as it is active, without reading its request. A
/// served one runs ``HTTPRequestDeadlines``: bytes in start a keep-alive connection's head deadline, and
/// ``HTTPRequestProgressObserver`` (after the HTTP codec) reports the head, the request's end and the
/// response's end. On a header or body timeout the peer gets the 408. Either answer is written raw (the HTTP
/// handlers behind may be in the middle of a request), then the guard closes its output, discards what still
/// arrives, and closes when the peer does, or after the linger time.
final class HTTPConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = NIOAny
    typealias OutboundOut = ByteBuffer

    private let peer: String
    private let answers: HTTPConnectionAnswers
    private let sink: HTTPConnectionEventSink
    /// nil for a refused connection.
    private var deadlines: HTTPRequestDeadlines?
    private var timer: Scheduled<Void>?
    private var lingerTimer: Scheduled<Void>?
    /// Answered (refused or timed out): reads are discarded, writes from behind refused.
    private(set) var answered = false
    /// A request head has arrived and its response has not ended.
    private var requestInProgress = false

    /// - Parameter timeouts: nil refuses the connection.
    init(peer: String, timeouts: HTTPRequestDeadlines.Timeouts?, answers: HTTPConnectionAnswers, sink: HTTPConnectionEventSink) {
        self.peer = peer
        self.answers = answers
        self.sink = sink
        self.deadlines = timeouts.map(HTTPRequestDeadlines.init(timeouts:))
    }

    func channelActive(context: ChannelHandlerContext) {
        if deadlines == nil {
            answer(answers.refused, context: context)
        } else {
            apply(deadlines?.opened(), context: context)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        apply(deadlines?.bytesReceived(), context: context)
        context.fireChannelRead(data)
    }

    /// On a graceful shutdown, a connection with no request under way (idle, or half a head: a slow or
    /// stalled client) is closed here. Passed on to `HTTPServerPipelineHandler`, such a connection would be
    /// closed there and the HTTP error handler's 400 for the cut-off head then written into a finished
    /// pipeline (an assertion in debug builds). A request under way is left to finish.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, !requestInProgress {
            cancelTimers()
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        _ = deadlines?.closing()
        cancelTimers()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // After an answer the HTTP handlers behind have nothing left to say; a reset while lingering is expected.
        if answered {
            context.close(promise: nil)
        } else {
            context.fireErrorCaught(error)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !answered else {
            promise?.fail(ChannelError.outputClosed)
            return
        }
        context.write(data, promise: promise)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let progress = event as? HTTPRequestProgress else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        switch progress {
        case .headReceived:
            requestInProgress = true
            apply(deadlines?.headReceived(), context: context)
        case .requestReceived: apply(deadlines?.requestReceived(), context: context)
        case .responseEnding:
            requestInProgress = false
            apply(deadlines?.responseEnded(), context: context)
        }
        promise?.succeed(())
    }

    private func apply(_ action: HTTPRequestDeadlines.Action?, context: ChannelHandlerContext) {
        switch action {
        case nil, .some(.none):
            return
        case .disarm:
            timer?.cancel()
            timer = nil
        case .arm(let armed, let after):
            timer?.cancel()
            timer = context.eventLoop.assumeIsolated().scheduleTask(in: after) { [self] in
                self.expired(armed, context: context)
            }
        }
    }

    private func expired(_ armed: HTTPRequestDeadlines.Timer, context: ChannelHandlerContext) {
        guard let expiry = deadlines?.expired(armed) else { return }
        switch expiry {
        case .ignore:
            return
        case .close(let reason):
            timer = nil
            if let reason { report(reason) }
            context.close(promise: nil)
        case .answerAndClose(let reason):
            timer = nil
            report(reason)
            answer(answers.requestTimeout, context: context)
        }
    }

    private func report(_ reason: HTTPRequestDeadlines.Reason) {
        switch reason {
        case .header: sink.record(.headerTimeout, peer)
        case .body: sink.record(.bodyTimeout, peer)
        case .idle: break
        }
    }

    /// Writes `bytes`, closes the output (the peer reads the answer, then end of stream), discards what
    /// arrives, and closes for good when the peer closes or the linger time has passed.
    private func answer(_ bytes: [UInt8], context: ChannelHandlerContext) {
        guard !answered else { return }
        answered = true
        _ = deadlines?.closing()
        timer?.cancel()
        timer = nil
        let written = context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)))
        written.assumeIsolated().whenComplete { result in
            guard case .success = result else {
                context.close(promise: nil)
                return
            }
            let halfClosed = context.eventLoop.makePromise(of: Void.self)
            context.close(mode: .output, promise: halfClosed)
            halfClosed.futureResult.assumeIsolated().whenFailure { _ in context.close(promise: nil) }
        }
        lingerTimer = context.eventLoop.assumeIsolated().scheduleTask(in: answers.linger) {
            context.close(promise: nil)
        }
    }

    private func cancelTimers() {
        timer?.cancel()
        timer = nil
        lingerTimer?.cancel()
        lingerTimer = nil
    }
}

/// Sits after the HTTP codec (and `HTTPServerPipelineHandler`, so it sees one request at a time) and tells
/// the ``HTTPConnectionGuard`` at the front where the request and response are.
final class HTTPRequestProgressObserver: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: context.triggerUserOutboundEvent(HTTPRequestProgress.headReceived, promise: nil)
        case .body: break
        case .end: context.triggerUserOutboundEvent(HTTPRequestProgress.requestReceived, promise: nil)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // Before the write: `HTTPServerPipelineHandler` hands a pipelined next request up while the end passes.
        if case .end = unwrapOutboundIn(data) {
            context.triggerUserOutboundEvent(HTTPRequestProgress.responseEnding, promise: nil)
        }
        context.write(data, promise: promise)
    }
}

extension HTTPResponse {
    /// The whole response as HTTP/1.1 bytes with `Content-Length` and `Connection: close`.
    var closingBytes: [UInt8] {
        let status = HTTPResponseStatus(statusCode: status)
        var text = "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n"
        for field in headers where !field.name.caseInsensitiveEquals("content-length") && !field.name.caseInsensitiveEquals("connection") {
            text += "\(field.name): \(field.value)\r\n"
        }
        text += "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        return Array(text.utf8) + body
    }
}
