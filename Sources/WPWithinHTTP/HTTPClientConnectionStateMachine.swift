import NIOCore
import NIOHTTP1

/// One HTTP/1.1 client connection as a value (in the style of async-http-client's HTTP1 connection state
/// machine): one request at a time, its response aggregated up to a size limit, and every way it can end.
/// `HTTPClientChannelHandler` feeds it what the channel does and performs the action it returns; the
/// decisions (when a connection is busy or reusable, when a response is too large, what a close means for
/// the request) are tested on their own.
///
/// Any failure closes the connection, so a broken connection is never reused. `Request` is what the handler
/// keeps for the request in flight (its promise and limits); tests use anything.
struct HTTPClientConnectionStateMachine<Request> {
    struct InFlight {
        let request: Request
        let keepAlive: Bool
        let maxBodySize: Int
    }

    enum State {
        case idle
        /// Written; no final head yet.
        case waitingForHead(InFlight)
        /// A 1xx head arrived (not 101): its end is skipped, then the real head comes.
        case skippingInformational(InFlight)
        case receivingBody(InFlight, HTTPResponseHead, ByteBuffer)
        case closed
    }

    enum Action {
        /// Write the request.
        case write
        /// The request cannot go on this connection (busy, or closed): fail it; nothing was sent.
        case refuse(Request, HTTPClientError)
        /// The response is complete; close the connection unless `reusable`.
        case succeed(Request, HTTPResponseHead, ByteBuffer, reusable: Bool)
        /// Fail the request in flight (if any) and, when `close`, close the connection.
        case fail(Request?, HTTPClientError, close: Bool)
        case none
    }

    private(set) var state = State.idle

    var isIdle: Bool { if case .idle = state { true } else { false } }

    /// A request to send (`keepAlive`: the request asks to keep the connection).
    mutating func requestStarted(_ request: Request, keepAlive: Bool, maxBodySize: Int) -> Action {
        switch state {
        case .idle:
            state = .waitingForHead(InFlight(request: request, keepAlive: keepAlive, maxBodySize: maxBodySize))
            return .write
        case .closed:
            return .refuse(request, HTTPClientError(.connectionClosed, mayHaveReachedServer: false, detail: "connection already closed"))
        case .waitingForHead, .skippingInformational, .receivingBody:
            return .refuse(request, HTTPClientError(.invalidResponse, mayHaveReachedServer: false, detail: "connection busy"))
        }
    }

    mutating func headReceived(_ head: HTTPResponseHead) -> Action {
        switch state {
        case .closed:
            return .none
        case .idle:
            return failed(HTTPClientError(.invalidResponse, mayHaveReachedServer: true, detail: "unsolicited data on an idle connection"))
        case .waitingForHead(let inFlight), .skippingInformational(let inFlight):
            if head.status.code >= 100 && head.status.code < 200 && head.status.code != 101 {
                state = .skippingInformational(inFlight)
                return .none
            }
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > inFlight.maxBodySize {
                return failed(HTTPClientError(
                    .responseTooLarge, mayHaveReachedServer: true, detail: "Content-Length \(length) exceeds \(inFlight.maxBodySize)"))
            }
            state = .receivingBody(inFlight, head, ByteBuffer())
            return .none
        case .receivingBody:
            return failed(HTTPClientError(.invalidResponse, mayHaveReachedServer: true, detail: "a second response head"))
        }
    }

    mutating func bodyReceived(_ part: ByteBuffer) -> Action {
        switch state {
        case .closed, .waitingForHead, .skippingInformational:
            return .none  // an informational response's body, or after the end: not the response's
        case .idle:
            return failed(HTTPClientError(.invalidResponse, mayHaveReachedServer: true, detail: "unsolicited data on an idle connection"))
        case .receivingBody(let inFlight, let head, var body):
            guard body.readableBytes + part.readableBytes <= inFlight.maxBodySize else {
                return failed(HTTPClientError(
                    .responseTooLarge, mayHaveReachedServer: true, detail: "body exceeds \(inFlight.maxBodySize) bytes"))
            }
            // The state lets go of its copy of the buffer while it grows, so the append does not copy it.
            state = .closed
            var part = part
            body.writeBuffer(&part)
            state = .receivingBody(inFlight, head, body)
            return .none
        }
    }

    mutating func endReceived() -> Action {
        switch state {
        case .closed:
            return .none
        case .idle:
            return failed(HTTPClientError(.invalidResponse, mayHaveReachedServer: true, detail: "unsolicited data on an idle connection"))
        case .skippingInformational(let inFlight):
            state = .waitingForHead(inFlight)
            return .none
        case .waitingForHead:
            return failed(HTTPClientError(.invalidResponse, mayHaveReachedServer: true, detail: "response ended without a head"))
        case .receivingBody(let inFlight, let head, let body):
            let reusable = inFlight.keepAlive && head.isKeepAlive && head.version == .http1_1
            state = reusable ? .idle : .closed
            return .succeed(inFlight.request, head, body, reusable: reusable)
        }
    }

    /// The request's deadline passed, its task was cancelled, or the channel reported an error: the request
    /// (if any) fails with `error` and the connection closes.
    mutating func failed(_ error: HTTPClientError) -> Action {
        let request = inFlightRequest
        if case .closed = state, request == nil { return .none }
        state = .closed
        return .fail(request, error, close: true)
    }

    /// The channel closed: a request in flight fails (it may have reached the server).
    mutating func channelClosed() -> Action {
        let request = inFlightRequest
        state = .closed
        guard let request else { return .none }
        return .fail(request, HTTPClientError(
            .connectionClosed, mayHaveReachedServer: true, detail: "connection closed before the response was complete"), close: false)
    }

    private var inFlightRequest: Request? {
        switch state {
        case .waitingForHead(let inFlight), .skippingInformational(let inFlight), .receivingBody(let inFlight, _, _): inFlight.request
        case .idle, .closed: nil
        }
    }
}
