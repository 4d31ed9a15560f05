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
/// enforces the total deadline, and turns every failure into an ``HTTPClientError``. What to do when is
/// decided by ``HTTPClientConnectionStateMachine`` (any failure closes the connection, so a broken one is
/// never reused); this class performs it. Runs on the channel's event loop only.
final class HTTPClientChannelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientExchange
    typealias OutboundOut = HTTPClientRequestPart

    private var context: ChannelHandlerContext?
    private var state = HTTPClientConnectionStateMachine<HTTPClientExchange>()
    private var timeout: Scheduled<Void>?

    init() {}

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        switch state.requestStarted(exchange, keepAlive: exchange.head.isKeepAlive, maxBodySize: exchange.maxBodySize) {
        case .write:
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            timeout = context.eventLoop.scheduleTask(deadline: exchange.deadline) {
                let handler = loopBound.value
                handler.perform(handler.state.failed(HTTPClientError(.timeout, mayHaveReachedServer: true, detail: "no complete response before the deadline")))
            }
            context.write(wrapOutboundOut(.head(exchange.head)), promise: nil)
            if let body = exchange.body, body.readableBytes > 0 {
                context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: promise)
        case .refuse(let refused, let error):
            refused.promise.fail(error)
            promise?.fail(error.kind == .connectionClosed ? ChannelError.ioOnClosedChannel : ChannelError.inappropriateOperationForState)
        case let action:
            perform(action)
        }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        if event is HTTPClientCancelEvent {
            perform(state.failed(HTTPClientError(.cancelled, mayHaveReachedServer: true, detail: "request cancelled")))
            promise?.succeed(())
        } else {
            context.triggerUserOutboundEvent(event, promise: promise)
        }
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): perform(state.headReceived(head))
        case .body(let part): perform(state.bodyReceived(part))
        case .end: perform(state.endReceived())
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parserError = error as? HTTPParserError, parserError == .invalidEOFState {
            perform(state.failed(HTTPClientError(.connectionClosed, mayHaveReachedServer: true, detail: "connection closed before the response was complete")))
        } else if error is HTTPParserError {
            perform(state.failed(HTTPClientError(.invalidResponse, mayHaveReachedServer: true, detail: "\(error)")))
        } else {
            perform(state.failed(HTTPClientError(.connectionClosed, mayHaveReachedServer: true, detail: "\(error)")))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        perform(state.channelClosed())
        context.fireChannelInactive()
    }

    private func perform(_ action: HTTPClientConnectionStateMachine<HTTPClientExchange>.Action) {
        switch action {
        case .write, .none:
            break
        case .refuse(let exchange, let error):
            exchange.promise.fail(error)
        case .succeed(let exchange, let head, let body, let reusable):
            cancelTimeout()
            var fields: [(String, String)] = []
            fields.reserveCapacity(head.headers.count)
            for (name, value) in head.headers { fields.append((name, value)) }
            let response = HTTPClientResponse(
                status: Int(head.status.code), headers: HTTPHeaderFields(fields), body: Array(body.readableBytesView))
            if !reusable { context?.close(promise: nil) }
            exchange.promise.succeed(HTTPClientCompletion(response: response, reusable: reusable))
        case .fail(let exchange, let error, let close):
            cancelTimeout()
            if close { context?.close(promise: nil) }
            exchange?.promise.fail(error)
        }
    }

    private func cancelTimeout() {
        timeout?.cancel()
        timeout = nil
    }
}
