public import Logging
public import WPWithinCore
public import WPWithinHTTP
public import WPWithinWire

/// The consumer's side of HTE: the Go client's six calls (PROTOCOL.md §3) over ``HTTPClient``.
///
/// `baseURL` is what the producer's broadcast gives (`scheme + hostname + ":" + port + urlPrefix`, e.g.
/// `http://192.168.1.20:64521`). Unlike the Go client, every route checks the status (Go ignores it on GETs).
///
/// Errors are `WPWError`s:
/// * a Go/`ErrorResponse` body with a non-200 status → `peerRejected` with `data` `{httpStatus, errorCode,
///   message, route}`; except an `errorCode` in -32029…-32010 (our producers fill it with their stable code;
///   Go's is always 0), which is kept (`outOfStock`, `conflict`, `paymentDeclined`, …), and otherwise 404 →
///   `notFound`, 403 → `invalidToken`, 410 → `expired`;
/// * no connection → `peerUnreachable` (`data.requestMayHaveReachedPeer = false`);
/// * timeout or connection lost → `peerUnreachable` with `data.requestMayHaveReachedPeer` saying whether the
///   producer may have acted on it (a `payment` then has an unknown outcome; never resent automatically);
/// * a body that is not the expected JSON, an oversized or malformed response → `peerProtocol`.
public struct HTEClient: Sendable {
    public let http: HTTPClient
    public let timeout: Duration
    public let logger: Logger
    /// Told of every call: its route's name (`discover`, `prices`, `requestTotal`, `payment`, `delivery/begin`,
    /// `delivery/end`) and its outcome (`ok`, `rejected`: a non-200 answer, `unreachable`, `protocol`).
    public let observer: (@Sendable (_ route: String, _ outcome: String) -> Void)?

    public init(
        http: HTTPClient, timeout: Duration = .seconds(10), logger: Logger,
        observer: (@Sendable (_ route: String, _ outcome: String) -> Void)? = nil
    ) {
        self.http = http
        self.timeout = timeout
        self.logger = logger
        self.observer = observer
    }

    /// `GET <base>/service/discover`.
    public func services(baseURL: String) async throws(WPWError) -> ServiceListResponse {
        try await call("discover", "GET", baseURL, "/service/discover", body: nil, as: ServiceListResponse.self)
    }

    /// `GET <base>/service/<id>/prices`.
    public func prices(baseURL: String, serviceID: Int) async throws(WPWError) -> ServicePriceResponse {
        try await call("prices", "GET", baseURL, "/service/\(serviceID)/prices", body: nil, as: ServicePriceResponse.self)
    }

    /// `POST <base>/service/<id>/requestTotal`.
    public func requestTotal(baseURL: String, serviceID: Int, _ request: TotalPriceRequest) async throws(WPWError) -> TotalPriceResponse {
        try await call("requestTotal", "POST", baseURL, "/service/\(serviceID)/requestTotal", body: try encode(request), as: TotalPriceResponse.self)
    }

    /// `POST <base>/payment`.
    public func payment(baseURL: String, _ request: PaymentRequest) async throws(WPWError) -> PaymentResponse {
        try await call("payment", "POST", baseURL, "/payment", body: try encode(request), as: PaymentResponse.self)
    }

    /// `POST <base>/service/<id>/delivery/begin`.
    public func beginDelivery(
        baseURL: String, serviceID: Int, _ request: BeginServiceDeliveryRequest
    ) async throws(WPWError) -> BeginServiceDeliveryResponse {
        try await call("delivery/begin", "POST", baseURL, "/service/\(serviceID)/delivery/begin", body: try encode(request), as: BeginServiceDeliveryResponse.self)
    }

    /// `POST <base>/service/<id>/delivery/end`.
    public func endDelivery(
        baseURL: String, serviceID: Int, _ request: EndServiceDeliveryRequest
    ) async throws(WPWError) -> EndServiceDeliveryResponse {
        try await call("delivery/end", "POST", baseURL, "/service/\(serviceID)/delivery/end", body: try encode(request), as: EndServiceDeliveryResponse.self)
    }

    /// `POST <base>/service/<id>/delivery/begin` with the token as stored at purchase (its Go JSON), spliced
    /// into the body.
    public func beginDelivery(
        baseURL: String, serviceID: Int, clientID: String, tokenJSON: some Collection<UInt8>, unitsToSupply: Int
    ) async throws(WPWError) -> BeginServiceDeliveryResponse {
        let body = BeginServiceDeliveryRequest.goJSON(clientID: clientID, serviceDeliveryTokenJSON: tokenJSON, unitsToSupply: unitsToSupply)
        return try await call("delivery/begin", "POST", baseURL, "/service/\(serviceID)/delivery/begin", body: body, as: BeginServiceDeliveryResponse.self)
    }

    /// `POST <base>/service/<id>/delivery/end` with the stored token spliced into the body.
    public func endDelivery(
        baseURL: String, serviceID: Int, clientID: String, tokenJSON: some Collection<UInt8>, unitsReceived: Int
    ) async throws(WPWError) -> EndServiceDeliveryResponse {
        let body = EndServiceDeliveryRequest.goJSON(clientID: clientID, serviceDeliveryTokenJSON: tokenJSON, unitsReceived: unitsReceived)
        return try await call("delivery/end", "POST", baseURL, "/service/\(serviceID)/delivery/end", body: body, as: EndServiceDeliveryResponse.self)
    }

    /// `POST <base>/service/<id>/refund` (our extension) with the stored token spliced into the body. A
    /// producer without the route (a Go producer: 404) is `refundNotOffered`.
    public func refund(
        baseURL: String, serviceID: Int, clientID: String, tokenJSON: some Collection<UInt8>
    ) async throws(WPWError) -> RefundResponse {
        let body = RefundRequest.goJSON(clientID: clientID, serviceDeliveryTokenJSON: tokenJSON)
        do {
            return try await call("refund", "POST", baseURL, "/service/\(serviceID)/refund", body: body, as: RefundResponse.self)
        } catch where error.data?["httpStatus"] == .int(404) || error.data?["httpStatus"] == .int(405) {
            throw WPWError(
                .refundNotOffered, "this producer does not offer refunds",
                data: ["reason": "noRoute", "httpStatus": error.data?["httpStatus"] ?? .null])
        }
    }

    // MARK: Internals

    private func encode<T: Encodable>(_ value: T) throws(WPWError) -> [UInt8] {
        do {
            return try GoJSON.encode(value)
        } catch {
            throw WPWError.invalidParams(field: "request", "cannot encode the request: \(error)")
        }
    }

    private func call<T: GoJSONReadable>(
        _ label: String, _ method: String, _ baseURL: String, _ route: String, body: [UInt8]?, as type: T.Type
    ) async throws(WPWError) -> T {
        do {
            let value = try await exchange(method, baseURL, route, body: body, as: type)
            observer?(label, "ok")
            return value
        } catch {
            if let observer {
                switch error.code {
                case .peerUnreachable: observer(label, "unreachable")
                case .peerProtocol: observer(label, "protocol")
                default: observer(label, "rejected")
                }
            }
            throw error
        }
    }

    private func exchange<T: GoJSONReadable>(_ method: String, _ baseURL: String, _ route: String, body: [UInt8]?, as type: T.Type) async throws(WPWError) -> T {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        var headers: HTTPHeaderFields = ["Accept": "application/json"]
        if body != nil { headers["Content-Type"] = "application/json" }
        let request = HTTPClientRequest(method: method, url: base + route, headers: headers, body: body ?? [])
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: timeout)
        } catch {
            throw Self.transportError(error, route: route)
        }
        if response.status == 200 {
            do {
                return try GoJSON.decode(type, from: response.body)
            } catch {
                logger.debug("HTE response not understood", metadata: ["hte.route": "\(route)", "error": "\(error)"])
                throw WPWError(
                    .peerProtocol, "the producer's response to \(route) is not valid \(type)",
                    data: ["httpStatus": .int(200), "route": .string(route)])
            }
        }
        throw Self.rejection(status: response.status, body: response.body, route: route)
    }

    static func transportError(_ error: HTTPClientError, route: String) -> WPWError {
        let data: JSONValue = [
            "route": .string(route), "reason": .string(error.kind.rawValue),
            "requestMayHaveReachedPeer": .bool(error.mayHaveReachedServer),
        ]
        switch error.kind {
        case .connectionRefused, .timeout, .connectionClosed, .shutdown, .cancelled, .tls:
            return WPWError(.peerUnreachable, "producer unreachable (\(error.kind.rawValue)): \(error.detail)", data: data)
        case .invalidURL:
            return WPWError(.invalidParams, "invalid producer URL: \(error.detail)", data: ["field": "baseURL", "route": .string(route)])
        case .responseTooLarge, .invalidResponse:
            return WPWError(.peerProtocol, "invalid response from the producer (\(error.kind.rawValue)): \(error.detail)", data: data)
        }
    }

    /// Producer codes a consumer passes on as they are: lookups, state and payment outcomes (-32010…-32029),
    /// refunds (-32060…-32069), and `storageLow` (the producer's state volume is full).
    /// Protocol codes (-32602 and the like) are the producer's view of our request and stay `peerRejected`.
    static let passedThrough = Set((-32029)...(-32010)).union((-32069)...(-32060)).union([WPWError.Code.storageLow.rawValue])

    /// A non-200 answer: the Go `ErrorResponse` body mapped to a `WPWError`.
    static func rejection(status: Int, body: [UInt8], route: String) -> WPWError {
        guard let error = try? GoJSON.decode(ErrorResponse.self, from: body), body.first(where: { !isSpace($0) }) == UInt8(ascii: "{") else {
            return WPWError(
                .peerProtocol, "the producer answered \(route) with HTTP \(status) and no error body",
                data: ["httpStatus": .int(Int64(status)), "route": .string(route)])
        }
        var data: JSONValue = [
            "httpStatus": .int(Int64(status)), "errorCode": .int(Int64(error.errorCode)),
            "message": .string(error.message), "route": .string(route),
        ]
        if case .object(var members) = data {
            if let ledger = error.ledger {
                members["ledger"] = [
                    "purchased": .int(Int64(ledger.purchased)), "delivered": .int(Int64(ledger.delivered)),
                    "inFlight": .int(Int64(ledger.inFlight)),
                ]
            }
            if let state = error.orderState { members["state"] = .string(state) }
            data = .object(members)
        }
        let code: WPWError.Code
        switch status {
        case _ where Self.passedThrough.contains(error.errorCode):
            // Our producers put their stable code in `errorCode` (Go's are always 0): keep its meaning.
            code = WPWError.Code(rawValue: error.errorCode)
        case 404: code = .notFound
        case 403: code = .invalidToken
        case 410: code = .expired
        case 422 where error.errorCode == WPWError.Code.insufficientUnits.rawValue: code = .insufficientUnits
        default: code = .peerRejected
        }
        return WPWError(code, error.message, data: data)
    }

    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }
}
