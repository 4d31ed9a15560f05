import NIOCore
import NIOHTTP1

/// One request handed to a connection's ``HTTPClientChannelHandler`` (written into the channel).
struct HTTPClientExchange: Sendable {
    let head: HTTPRequestHead
    let body: ByteBuffer?
    let deadline: NIODeadline
    let maxBodySize: Int
    let promise: EventLoopPromise<HTTPClientCompletion>
}

/// A complete response and whether the connection may carry another request.
struct HTTPClientCompletion: Sendable {
    let response: HTTPClientResponse
    let reusable: Bool
}

/// Asks the handler to abandon the request in flight (task cancelled); the connection is closed.
struct HTTPClientCancelEvent: Sendable {}

/// Runs one request at a time on a connection: writes it, aggregates the response up to the size limit,
/// enforces the total deadline, and turns every failure into an ``HTTPClientError``. Any failure closes the
/// connection, so a broken connection is never reused. Runs on the channel's event loop only.
final class HTTPClientChannelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientExchange
    typealias OutboundOut = HTTPClientRequestPart

    private var context: ChannelHandlerContext?
    private var pending: HTTPClientExchange?
    private var responseHead: HTTPResponseHead?
    private var body = ByteBuffer()
    private var skippingInformational = false
    private var timeout: Scheduled<Void>?
    private var closed = false

    init() {}

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        guard !closed else {
            exchange.promise.fail(HTTPClientError(.connectionClosed, mayHaveReachedServer: false, detail: "connection already closed"))
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        guard pending == nil else {
            exchange.promise.fail(HTTPClientError(.invalidResponse, mayHaveReachedServer: false, detail: "connection busy"))
            promise?.fail(ChannelError.inappropriateOperationForState)
            return
        }
        pending = exchange
        responseHead = nil
        skippingInformational = false
        body.clear()
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timeout = context.eventLoop.scheduleTask(deadline: exchange.deadline) {
            loopBound.value.fail(HTTPClientError(.timeout, mayHaveReachedServer: true, detail: "no complete response before the deadline"))
        }
        context.write(wrapOutboundOut(.head(exchange.head)), promise: nil)
        if let body = exchange.body, body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        if event is HTTPClientCancelEvent {
            fail(HTTPClientError(.cancelled, mayHaveReachedServer: true, detail: "request cancelled"))
            promise?.succeed(())
        } else {
            context.triggerUserOutboundEvent(event, promise: promise)
        }
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closed else { return }
        guard let exchange = pending else {
            fail(HTTPClientError(.invalidResponse, mayHaveReachedServer: true, detail: "unsolicited data on an idle connection"))
            return
        }
        switch unwrapInboundIn(data) {
        case .head(let head):
            if head.status.code >= 100 && head.status.code < 200 && head.status.code != 101 {
                skippingInformational = true
                return
            }
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > exchange.maxBodySize {
                fail(HTTPClientError(.responseTooLarge, mayHaveReachedServer: true, detail: "Content-Length \(length) exceeds \(exchange.maxBodySize)"))
                return
            }
            responseHead = head
        case .body(var part):
            guard responseHead != nil else { return }
            guard body.readableBytes + part.readableBytes <= exchange.maxBodySize else {
                fail(HTTPClientError(.responseTooLarge, mayHaveReachedServer: true, detail: "body exceeds \(exchange.maxBodySize) bytes"))
                return
            }
            body.writeBuffer(&part)
        case .end:
            if skippingInformational {
                skippingInformational = false
                return
            }
            guard let head = responseHead else {
                fail(HTTPClientError(.invalidResponse, mayHaveReachedServer: true, detail: "response ended without a head"))
                return
            }
            var fields: [(String, String)] = []
            fields.reserveCapacity(head.headers.count)
            for (name, value) in head.headers { fields.append((name, value)) }
            let response = HTTPClientResponse(
                status: Int(head.status.code), headers: HTTPHeaderFields(fields), body: Array(body.readableBytesView))
            let reusable = exchange.head.isKeepAlive && head.isKeepAlive && head.version == .http1_1
            timeout?.cancel()
            timeout = nil
            pending = nil
            responseHead = nil
            body.clear()
            if !reusable { close() }
            exchange.promise.succeed(HTTPClientCompletion(response: response, reusable: reusable))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parserError = error as? HTTPParserError, parserError == .invalidEOFState {
            fail(HTTPClientError(.connectionClosed, mayHaveReachedServer: true, detail: "connection closed before the response was complete"))
        } else if error is HTTPParserError {
            fail(HTTPClientError(.invalidResponse, mayHaveReachedServer: true, detail: "\(error)"))
        } else {
            fail(HTTPClientError(.connectionClosed, mayHaveReachedServer: true, detail: "\(error)"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        if let exchange = pending {
            pending = nil
            timeout?.cancel()
            timeout = nil
            exchange.promise.fail(HTTPClientError(.connectionClosed, mayHaveReachedServer: true, detail: "connection closed before the response was complete"))
        }
        context.fireChannelInactive()
    }

    /// Fails the request in flight (if any) and closes the connection.
    private func fail(_ error: HTTPClientError) {
        timeout?.cancel()
        timeout = nil
        let exchange = pending
        pending = nil
        responseHead = nil
        body = ByteBuffer()
        close()
        exchange?.promise.fail(error)
    }

    private func close() {
        guard !closed else { return }
        closed = true
        context?.close(promise: nil)
    }
}
