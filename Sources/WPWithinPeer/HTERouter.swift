public import Logging
public import WPWithinCore
public import WPWithinHTTP
internal import WPWithinWire

/// Serves exactly the Go SDK's HTE routes (PROTOCOL.md §2.3) under a URL prefix and hands decoded requests
/// to an ``HTEProducer``:
///
/// | Method | Path |
/// |---|---|
/// | GET | `<prefix>/service/discover` |
/// | GET | `<prefix>/service/{id}/prices` |
/// | POST | `<prefix>/service/{id}/requestTotal` |
/// | POST | `<prefix>/payment` |
/// | POST | `<prefix>/service/{id}/delivery/begin` |
/// | POST | `<prefix>/service/{id}/delivery/end` |
/// | POST | `<prefix>/service/{id}/refund` (our extension: Go peers never call it, docs/peer.md) |
///
/// Success: 200, `Content-Type: application/json;charset=UTF-8`, Go-ordered JSON plus `\n`. Errors: the Go
/// `ErrorResponse` body (`HTTPStatusCode`, `message`, `errorCode`) with the status from ``HTEStatus``;
/// unknown paths 404 and known paths with the wrong method 405 (with `Allow`), also with that body.
public struct HTERouter: Sendable {
    public static let contentType = "application/json;charset=UTF-8"

    public let producer: any HTEProducer
    public let urlPrefix: String
    public let logger: Logger
    /// Told of every answer: the route's name (``routeLabel(_:)``) and the HTTP status.
    public let observer: (@Sendable (_ route: String, _ status: Int) -> Void)?

    /// - Parameter urlPrefix: prepended to every route (`""` as in Go, or e.g. `"/hte"`; no trailing slash).
    public init(
        producer: any HTEProducer, urlPrefix: String = "", logger: Logger,
        observer: (@Sendable (_ route: String, _ status: Int) -> Void)? = nil
    ) {
        self.observer = observer
        self.producer = producer
        var prefix = urlPrefix
        while prefix.hasSuffix("/") { prefix.removeLast() }
        self.urlPrefix = prefix
        self.logger = logger
    }

    /// The ``HTTPHandler`` to give an ``HTTPServer`` (the caller address is unknown at this level).
    public var handler: HTTPHandler {
        let router = self
        return { request in await router.handle(request, caller: HTECaller()) }
    }

    /// A 413 answer in the Go error shape, for ``HTTPServerConfiguration/payloadTooLargeResponse``.
    public static let payloadTooLargeResponse = errorResponse(status: 413, message: "Request body too large", code: .messageTooLarge)

    /// A 503 answer in the Go error shape, for ``HTTPServerConfiguration/connectionRefusedResponse``.
    public static let connectionRefusedResponse = errorResponse(status: 503, message: "Too many connections", code: .overloaded)

    /// A 408 answer in the Go error shape, for ``HTTPServerConfiguration/requestTimeoutResponse``.
    public static let requestTimeoutResponse = errorResponse(status: 408, message: "Request not received in time", code: .invalidRequest)

    enum Route: Sendable, Equatable {
        case discover, prices(Int), requestTotal(Int), payment, begin(Int), end(Int), refund(Int)
    }

    /// Answers one request; never throws.
    public func handle(_ request: HTTPRequest, caller: HTECaller) async -> HTTPResponse {
        let match = Self.match(path: request.path, prefix: urlPrefix, method: request.method)
        let response = await respond(request, caller: caller, match: match)
        observer?(Self.routeLabel(match), response.status)
        return response
    }

    /// A bounded name for what a request matched (a metrics label): the route (`discover`, `prices`,
    /// `requestTotal`, `payment`, `delivery/begin`, `delivery/end`), else `(unknown)`, `(method)` or
    /// `(bad service id)`.
    static func routeLabel(_ match: Match) -> String {
        switch match {
        case .route(.discover): "discover"
        case .route(.prices): "prices"
        case .route(.requestTotal): "requestTotal"
        case .route(.payment): "payment"
        case .route(.begin): "delivery/begin"
        case .route(.end): "delivery/end"
        case .route(.refund): "refund"
        case .notFound: "(unknown)"
        case .methodNotAllowed: "(method)"
        case .badServiceID: "(bad service id)"
        }
    }

    private func respond(_ request: HTTPRequest, caller: HTECaller, match: Match) async -> HTTPResponse {
        let route: Route
        switch match {
        case .notFound:
            return Self.errorResponse(status: 404, message: "404 page not found", code: .notFound)
        case .methodNotAllowed(let allowed):
            var response = Self.errorResponse(status: 405, message: "Method \(request.method) not allowed", code: .invalidRequest)
            response.headers.add(name: "Allow", value: allowed)
            return response
        case .badServiceID:
            return Self.errorResponse(status: 400, message: "Unable to parse input service id", code: .invalidParams)
        case .route(let matched):
            route = matched
        }
        do {
            switch route {
            case .discover:
                return try Self.ok(try await producer.discover(caller: caller))
            case .prices(let id):
                return try Self.ok(try await producer.prices(serviceID: id, caller: caller))
            case .requestTotal(let id):
                let body = try Self.decode(TotalPriceRequest.self, request.body)
                return try Self.ok(try await producer.requestTotal(serviceID: id, body, caller: caller))
            case .payment:
                let body = try Self.decode(PaymentRequest.self, request.body)
                return try Self.ok(try await producer.payment(body, caller: caller))
            case .begin(let id):
                let body = try Self.decode(BeginServiceDeliveryRequest.self, request.body)
                return try Self.ok(try await producer.beginDelivery(serviceID: id, body, caller: caller))
            case .end(let id):
                let body = try Self.decode(EndServiceDeliveryRequest.self, request.body)
                return try Self.ok(try await producer.endDelivery(serviceID: id, body, caller: caller))
            case .refund(let id):
                let body = try Self.decode(RefundRequest.self, request.body)
                return try Self.ok(try await producer.refund(serviceID: id, body, caller: caller))
            }
        } catch let error as BodyError {
            logger.debug("HTE request body rejected", metadata: ["hte.path": "\(request.path)", "error": "\(error.detail)"])
            return Self.errorResponse(status: 422, message: "Unable to parse POST body", code: .parseError)
        } catch let error as WPWError {
            let status = HTEStatus.forError(error.code)
            guard let withheld = Self.messageForPeers(instead: error.code) else {
                logger.debug(
                    "HTE request refused",
                    metadata: ["hte.path": "\(request.path)", "hte.status": "\(status)", "error.code": "\(error.code)", "error": "\(error.message)"])
                return Self.errorResponse(
                    status: status, message: error.message, code: error.code, ledger: error.data?["ledger"],
                    orderState: error.code == .expired ? error.data?["state"]?.stringValue : nil)
            }
            // The text is for the operator (a store or gateway detail, a file path), not for a remote peer.
            logger.error(
                "HTE request failed",
                metadata: ["hte.path": "\(request.path)", "hte.status": "\(status)", "error.code": "\(error.code)", "error": "\(error.message)"])
            return Self.errorResponse(status: status, message: withheld, code: error.code)
        } catch {
            logger.error("HTE producer failed", metadata: ["hte.path": "\(request.path)", "error": "\(error)"])
            return Self.errorResponse(status: 500, message: "Internal error", code: .internalError)
        }
    }

    /// The message a peer gets instead of the error's own text, or nil when that text is written for peers.
    ///
    /// Peers read the messages of refusals about their own request (not found, bad parameters, declined,
    /// out of stock, …). Internal errors carry store and system details ("store: database or disk is
    /// full"), credential errors name files, and gateway errors (unavailable, protocol, rejected) quote the
    /// gateway's answer to the merchant: those stay in the producer's log. Codes not listed here are withheld
    /// too, so a new code is private until someone decides otherwise.
    static func messageForPeers(instead code: WPWError.Code) -> String? {
        switch code {
        case .notFound, .invalidParams, .invalidRequest, .parseError, .amountInvalid, .unsupportedCurrency,
             .insufficientUnits, .conflict, .alreadyExists, .outOfStock, .paymentOutcomeUnknown, .invalidToken,
             .expired, .paymentDeclined, .invalidCard, .gatewayTimeout, .unavailable, .overloaded, .messageTooLarge,
             .refundNotOffered, .nothingToRefund, .unitsRefunded:
            return nil
        case .credentials: return "This producer cannot take payments"
        case .gatewayUnavailable: return "The payment gateway is unavailable"
        case .gatewayProtocol, .gatewayRejected: return "The payment gateway failed"
        default: return "Internal error"
        }
    }

    // MARK: Matching

    enum Match: Equatable {
        case route(Route)
        case notFound
        case methodNotAllowed(String)
        case badServiceID
    }

    static func match(path: String, prefix: String, method: String) -> Match {
        guard path.hasPrefix(prefix) else { return .notFound }
        let rest = path.dropFirst(prefix.count)
        guard rest.first == "/" else { return .notFound }
        let segments = rest.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        func require(_ wanted: String, _ route: @autoclosure () -> Route) -> Match {
            method == wanted ? .route(route()) : .methodNotAllowed(wanted)
        }
        func withID(_ text: Substring, _ wanted: String, _ make: (Int) -> Route) -> Match {
            guard method == wanted else { return .methodNotAllowed(wanted) }
            guard let id = parseServiceID(text) else { return .badServiceID }
            return .route(make(id))
        }
        switch segments.count {
        case 1 where segments[0] == "payment":
            return require("POST", .payment)
        case 2 where segments[0] == "service" && segments[1] == "discover":
            return require("GET", .discover)
        case 3 where segments[0] == "service" && !segments[1].isEmpty:
            switch segments[2] {
            case "prices": return withID(segments[1], "GET", Route.prices)
            case "requestTotal": return withID(segments[1], "POST", Route.requestTotal)
            case "refund": return withID(segments[1], "POST", Route.refund)
            default: return .notFound
            }
        case 4 where segments[0] == "service" && !segments[1].isEmpty && segments[2] == "delivery":
            switch segments[3] {
            case "begin": return withID(segments[1], "POST", Route.begin)
            case "end": return withID(segments[1], "POST", Route.end)
            default: return .notFound
            }
        default:
            return .notFound
        }
    }

    /// Go's `strconv.Atoi`: optional sign, ASCII digits, no overflow.
    static func parseServiceID(_ text: Substring) -> Int? {
        guard text.utf8.allSatisfy({ $0 < 0x80 }) else { return nil }
        var digits = text
        if digits.first == "+" || digits.first == "-" { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(text)
    }

    // MARK: Bodies

    struct BodyError: Error {
        let detail: String
    }

    static func decode<T: GoJSONReadable>(_ type: T.Type, _ body: [UInt8]) throws -> T {
        do {
            return try GoJSON.decode(type, from: body)
        } catch {
            throw BodyError(detail: "\(error)")
        }
    }

    static func ok<T: Encodable>(_ value: T) throws -> HTTPResponse {
        HTTPResponse(status: 200, headers: ["Content-Type": contentType], body: try GoJSON.encodeLine(value))
    }

    /// `{"HTTPStatusCode":<status>,"message":"…","errorCode":<WPWError code>}` plus `\n`.
    /// The ledger a domain error carries in `data.ledger`, for the error body.
    static func ledger(_ value: JSONValue?) -> LedgerSnapshot? {
        guard let purchased = value?["purchased"]?.int64Value, let delivered = value?["delivered"]?.int64Value,
              let inFlight = value?["inFlight"]?.int64Value
        else { return nil }
        return LedgerSnapshot(purchased: Int(purchased), delivered: Int(delivered), inFlight: Int(inFlight))
    }

    public static func errorResponse(
        status: Int, message: String, code: WPWError.Code, ledger: JSONValue? = nil, orderState: String? = nil
    ) -> HTTPResponse {
        let error = ErrorResponse(
            httpStatusCode: status, message: message, errorCode: code.rawValue, ledger: Self.ledger(ledger), orderState: orderState)
        let body = (try? GoJSON.encodeLine(error)) ?? Array("{\"HTTPStatusCode\":\(status),\"message\":\"error\",\"errorCode\":0}\n".utf8)
        return HTTPResponse(status: status, headers: ["Content-Type": contentType], body: body)
    }
}
