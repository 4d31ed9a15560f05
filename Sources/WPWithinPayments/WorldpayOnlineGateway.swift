import Logging
import WPWithinCore
import WPWithinHTTP
import WPWithinTLS

/// Settings for ``WorldpayOnlineGateway``.
public struct WorldpayOnlineConfiguration: Sendable {
    /// The API base; `/tokens` and `/orders` are appended.
    public var endpoint: GatewayEndpoint
    /// The producer's keys (the service key authorises `/orders`). Nil on a consumer-only gateway.
    public var merchant: MerchantCredentials?
    /// `https://` endpoints: the PEM file of the certificate authorities trusted for the gateway's
    /// certificate; nil trusts the system's store. The certificate's name is always checked too.
    public var trustedCAFile: String?
    /// Longest wait for the TCP connection and, for `https://`, the TLS handshake.
    public var connectTimeout: Duration
    /// Longest time a whole exchange may take, connection to last byte.
    public var totalTimeout: Duration
    /// Largest response body read; a larger one is abandoned (gatewayProtocol).
    public var maxResponseBytes: Int
    /// Extra attempts for `POST /tokens` when the connection fails (a token is harmless to re-create).
    /// Orders are never retried.
    public var tokenRetryLimit: Int
    /// Delay before the first token retry; doubled for each further one.
    public var tokenRetryDelay: Duration

    public static let defaultEndpoint = GatewayEndpoint.worldpay

    /// TLS for an `https://` endpoint: at least TLS 1.2, ALPN `http/1.1`, trust as configured.
    var tls: TLSClientConfiguration {
        TLSClientConfiguration(trustRoots: trustedCAFile.map { .caFile($0) } ?? .system)
    }

    public init(
        endpoint: GatewayEndpoint = WorldpayOnlineConfiguration.defaultEndpoint,
        merchant: MerchantCredentials? = nil,
        trustedCAFile: String? = nil,
        connectTimeout: Duration = .seconds(10),
        totalTimeout: Duration = .seconds(30),
        maxResponseBytes: Int = 1 << 20,
        tokenRetryLimit: Int = 2,
        tokenRetryDelay: Duration = .milliseconds(100)
    ) {
        self.endpoint = endpoint
        self.merchant = merchant
        self.trustedCAFile = trustedCAFile
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
        self.maxResponseBytes = maxResponseBytes
        self.tokenRetryLimit = tokenRetryLimit
        self.tokenRetryDelay = tokenRetryDelay
    }
}

/// The Worldpay Online JSON API client (`POST /tokens`, `POST /orders`, `GET /orders/{code}`,
/// `POST /orders/{code}/refund`), byte-compatible with the Go SDK's requests.
///
/// Transport: every endpoint goes through the SwiftNIO ``HTTPClient`` (keep-alive pool, at most 8
/// connections): `http://` (the sandbox gateway on loopback, a local proxy) in clear, `https://` (the real
/// Worldpay API) over TLS with the system's libssl, the gateway's certificate verified against
/// ``WorldpayOnlineConfiguration/trustedCAFile`` (or the system store) and its name. A request is written
/// only after a verified handshake: a TLS failure means nothing was sent (an order is then safely not
/// charged). Call ``shutdown()`` when done.
public final class WorldpayOnlineGateway: PaymentGateway, Sendable {
    public let configuration: WorldpayOnlineConfiguration
    private let client: HTTPClient
    private let logger: Logger

    public init(configuration: WorldpayOnlineConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.client = HTTPClient(
            configuration: HTTPClientConfiguration(
                connectTimeout: configuration.connectTimeout, maxResponseBodySize: configuration.maxResponseBytes,
                tls: configuration.tls),
            logger: logger)
    }

    /// Closes the pooled connections; requests in flight fail.
    public func shutdown() {
        let client = self.client
        Task { await client.shutdown() }
    }

    /// Loads the trust anchors an `https://` endpoint needs (the CA file or the system store), so that a
    /// bad CA file shows at start-up rather than at the first payment. Does nothing for `http://`.
    public static func checkTrust(_ configuration: WorldpayOnlineConfiguration) throws(TLSError) {
        guard configuration.endpoint.scheme == .https else { return }
        _ = try TLSClientContext(configuration: configuration.tls)
    }

    // MARK: Consumer

    public func createToken(card: PaymentCard, clientKey: String) async throws -> ClientToken {
        guard !clientKey.isEmpty else { throw WPWError(.credentials, "empty merchant client key") }
        let body = WorldpayOnlineWire.tokenRequest(card: card, clientKey: clientKey)
        var attempt = 0
        while true {
            do {
                let response = try await send("POST", "tokens", body: body, authorization: nil)
                let object = try decodeSuccess(response, operation: "tokens")
                guard let token = WorldpayOnlineWire.member(object, "token")?.stringValue, !token.isEmpty else {
                    throw protocolError("token response has no token", operation: "tokens", status: response.status)
                }
                logger.debug("Gateway token created", metadata: ["payment.card": "\(card.maskedCardNumber)"])
                return ClientToken(token)
            } catch LoadFailure.connectFailed(let reason) where attempt < configuration.tokenRetryLimit {
                attempt += 1
                logger.debug("Gateway connection failed, retrying token", metadata: ["attempt": "\(attempt)", "reason": "\(reason)"])
                try await Task.sleep(for: configuration.tokenRetryDelay * (1 << (attempt - 1)))
            } catch let failure as LoadFailure {
                throw mapFailure(failure, operation: "tokens")
            }
        }
    }

    // MARK: Producer

    public func placeOrder(_ request: OrderRequest) async throws -> OrderResult {
        try PaymentAmount.validate(request.amount)
        guard !request.token.value.isEmpty else { throw WPWError.invalidParams(field: "token", "empty client token") }
        guard !request.orderDescription.isEmpty else {
            throw WPWError.invalidParams(field: "orderDescription", "empty order description")
        }
        guard !request.customerOrderCode.isEmpty else {
            throw WPWError.invalidParams(field: "customerOrderCode", "empty customer order code")
        }
        let serviceKey = try requireServiceKey()
        let body = WorldpayOnlineWire.orderRequest(request)
        let reference: JSONValue = ["customerOrderCode": .string(request.customerOrderCode)]
        let response: LoadedResponse
        do {
            response = try await send("POST", "orders", body: body, authorization: serviceKey)
        } catch LoadFailure.connectFailed(let reason) {
            // Nothing reached the gateway: safe to report as unavailable.
            throw WPWError(.gatewayUnavailable, "payment gateway unreachable", data: ["reason": .string(reason), "operation": "orders"])
        } catch let failure as LoadFailure where failure.isTLSFailure {
            // The handshake did not complete: the order was never written, so it is certainly not charged.
            throw mapFailure(failure, operation: "orders")
        } catch let failure as LoadFailure {
            // The order may or may not have been placed: never guess, never retry.
            logger.warning(
                "Gateway order outcome unknown",
                metadata: ["payment.customerOrderCode": "\(request.customerOrderCode)", "reason": "\(failure)"]
            )
            throw WPWError(
                .paymentOutcomeUnknown,
                "no definite answer from the gateway for the order; reconcile by customerOrderCode",
                data: ["customerOrderCode": .string(request.customerOrderCode), "reason": .string("\(failure)")]
            )
        } catch is CancellationError {
            throw WPWError(
                .paymentOutcomeUnknown, "order request cancelled in flight; reconcile by customerOrderCode", data: reference
            )
        }
        return try Self.orderOutcome(
            status: response.status, body: response.body, request: request, logger: logger,
            gatewayError: { status, body in gatewayError(status: status, body: body, operation: "orders") })
    }

    /// Reads the answer to `POST /orders`. Only two answers are definite: a charge (200, `SUCCESS`, for this
    /// customer order code) is returned, and a refusal the gateway itself states (200 with a decline status
    /// for this customer order code, or a 4xx carrying a Worldpay error body with its `customCode`) is thrown
    /// with its code. Everything else — a 5xx (a load balancer's 502 may come after the gateway charged), a
    /// 4xx without a Worldpay body, a redirect, an unreadable or unmatched body, an undecided status — is
    /// `paymentOutcomeUnknown`: reconcile by customer order code, never charge again.
    static func orderOutcome(
        status: Int, body: [UInt8], request: OrderRequest, logger: Logger,
        gatewayError: (Int, [String: JSONValue]?) -> WPWError
    ) throws -> OrderResult {
        let code = request.customerOrderCode
        func unknown(_ message: String, _ extra: [String: JSONValue] = [:]) -> WPWError {
            var data: [String: JSONValue] = ["customerOrderCode": .string(code), "httpStatusCode": .int(Int64(status))]
            data.merge(extra) { $1 }
            logger.warning(
                "Gateway order outcome unknown",
                metadata: [LogKey.customerOrderCode: "\(code)", "http.status": "\(status)", LogKey.reason: "\(message)"])
            return WPWError(.paymentOutcomeUnknown, message + "; reconcile by customerOrderCode", data: .object(data))
        }
        let value = try? JSONValue.parse(body)
        guard status == 200 else {
            let object = value?.objectValue
            let customCode = object.flatMap { WorldpayOnlineWire.member($0, "customCode")?.stringValue }
            guard (400..<500).contains(status), let customCode, !customCode.isEmpty else {
                throw unknown("no definite answer from the gateway for the order (HTTP \(status))", customCode.map { ["customCode": .string($0)] } ?? [:])
            }
            throw gatewayError(status, object)
        }
        guard let object = value?.objectValue else { throw unknown("unreadable answer to the order") }
        guard let result = WorldpayOnlineWire.orderResult(object) else {
            throw unknown("order answer lacks orderCode or paymentStatus")
        }
        let seen = result.gatewayOrder
        guard seen.customerOrderCode == code else {
            throw unknown("the gateway answered for another order", ["answeredCustomerOrderCode": .string(seen.customerOrderCode)])
        }
        switch seen.standing {
        case .charged where result.isSuccess:
            logger.debug("Gateway order placed", metadata: ["payment.orderCode": "\(result.orderCode)"])
            return result
        case .notCharged:
            logger.info(
                "Gateway declined order",
                metadata: ["payment.customerOrderCode": "\(code)", "payment.status": "\(result.paymentStatus)"])
            throw WPWError(
                .paymentDeclined, "Payment failed for customer order \(code)",
                data: [
                    "customerOrderCode": .string(code), "orderCode": .string(result.orderCode),
                    "paymentStatus": .string(result.paymentStatus),
                ])
        case .charged, .refunded, .undecided:
            throw unknown("undecided paymentStatus \(result.paymentStatus)", ["orderCode": .string(result.orderCode)])
        }
    }

    public func lookupOrder(orderCode: String) async throws -> OrderResult {
        let serviceKey = try requireServiceKey()
        let response = try await sendMapping("GET", "orders/\(Self.pathComponent(orderCode))", body: nil, authorization: serviceKey, operation: "orders.lookup")
        if response.status == 404 {
            throw WPWError(.notFound, "no such order at the gateway", data: ["orderCode": .string(orderCode)])
        }
        let object = try decodeSuccess(response, operation: "orders.lookup")
        guard let result = WorldpayOnlineWire.orderResult(object) else {
            throw protocolError("order lookup answer lacks orderCode or paymentStatus", operation: "orders.lookup", status: response.status)
        }
        return result
    }

    public func findOrder(customerOrderCode: String) async throws -> OrderResult? {
        let serviceKey = try requireServiceKey()
        let query = Self.percentEncoded(customerOrderCode)
        let response = try await sendMapping("GET", "orders?customerOrderCode=\(query)", body: nil, authorization: serviceKey, operation: "orders.find")
        if response.status == 404 { return nil }
        let object = try decodeSuccess(response, operation: "orders.find")
        guard let result = WorldpayOnlineWire.orderResult(object) else {
            throw protocolError("order lookup answer lacks orderCode or paymentStatus", operation: "orders.find", status: response.status)
        }
        return result
    }

    public func refund(orderCode: String, amount: Money?) async throws {
        if let amount { try PaymentAmount.validate(amount) }
        let serviceKey = try requireServiceKey()
        let response = try await sendMapping(
            "POST", "orders/\(Self.pathComponent(orderCode))/refund", body: WorldpayOnlineWire.refundRequest(amount: amount),
            authorization: serviceKey, operation: "orders.refund"
        )
        if response.status == 200 { return }
        _ = try decodeSuccess(response, operation: "orders.refund")
    }

    // MARK: Plumbing

    private func requireServiceKey() throws -> String {
        guard let key = configuration.merchant?.serviceKey, !key.isEmpty else {
            throw WPWError(.credentials, "no merchant service key configured for the gateway")
        }
        return key
    }

    private static func pathComponent(_ value: String) -> String { percentEncoded(value) }

    /// Percent-encodes every byte but the unreserved characters of RFC 3986 (`A-Z a-z 0-9 - . _ ~`): safe
    /// as a path segment and as a query value.
    static func percentEncoded(_ value: String) -> String {
        let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count)
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `send`, with transport failures mapped to typed errors (for idempotent calls).
    private func sendMapping(
        _ method: String, _ path: String, body: [UInt8]?, authorization: String?, operation: String
    ) async throws -> LoadedResponse {
        do {
            return try await send(method, path, body: body, authorization: authorization)
        } catch let failure as LoadFailure {
            throw mapFailure(failure, operation: operation)
        }
    }

    /// One HTTP exchange under the total deadline, over the NIO client; its errors mapped to `LoadFailure`s.
    /// Throws `LoadFailure` or `CancellationError`.
    private func send(_ method: String, _ path: String, body: [UInt8]?, authorization: String?) async throws -> LoadedResponse {
        var headers: HTTPHeaderFields = ["Accept": "application/json"]
        if body != nil { headers.add(name: "Content-Type", value: "application/json") }
        if let authorization { headers.add(name: "Authorization", value: authorization) }
        let url = configuration.endpoint.url(path)
        let started = ContinuousClock.now
        let response: HTTPClientResponse
        do {
            response = try await client.execute(
                HTTPClientRequest(method: method, url: url, headers: headers, body: body ?? []), timeout: configuration.totalTimeout)
        } catch {
            if let tls = error.tlsError {
                // Nothing was sent; a refused certificate or a failed handshake is an operator's matter.
                logger.warning(
                    "Gateway TLS handshake failed; nothing was sent",
                    metadata: [LogKey.tlsError: "\(tls.code.rawValue)", LogKey.reason: "\(tls.detail)", "http.path": "/\(path)"])
            }
            throw try LoadFailure(error)
        }
        if (300..<400).contains(response.status) { throw LoadFailure.redirected(status: response.status) }
        logger.debug(
            "Gateway exchange",
            metadata: [
                "http.method": "\(method)", "http.path": "/\(path)", "http.status": "\(response.status)",
                "duration.ms": "\((ContinuousClock.now - started).milliseconds)",
            ]
        )
        return LoadedResponse(status: response.status, body: response.body)
    }

    private func mapFailure(_ failure: LoadFailure, operation: String) -> WPWError {
        let op: JSONValue = .string(operation)
        switch failure {
        case .connectFailed(let reason):
            return WPWError(.gatewayUnavailable, "payment gateway unreachable", data: ["reason": .string(reason), "operation": op])
        case .timedOut:
            return WPWError(.gatewayTimeout, "payment gateway did not answer in time", data: ["operation": op])
        case .connectionLost(let reason):
            return WPWError(.gatewayUnavailable, "connection to the payment gateway was lost", data: ["reason": .string(reason), "operation": op])
        case .responseTooLarge(let status):
            return WPWError(
                .gatewayProtocol, "gateway response exceeds the size limit",
                data: ["operation": op, "httpStatusCode": .int(Int64(status)), "maxResponseBytes": .int(Int64(configuration.maxResponseBytes))]
            )
        case .redirected(let status):
            return protocolError("gateway answered with a redirect", operation: operation, status: status)
        case .tlsFailed(let code, let reason):
            return WPWError(
                .gatewayUnavailable, "TLS with the payment gateway failed; nothing was sent",
                data: ["reason": .string(reason), "operation": op, "tls": .string(code)])
        }
    }

    private func protocolError(_ message: String, operation: String, status: Int) -> WPWError {
        WPWError(.gatewayProtocol, message, data: ["operation": .string(operation), "httpStatusCode": .int(Int64(status))])
    }

    /// The JSON object of a 200 answer, or the typed error for anything else.
    private func decodeSuccess(_ response: LoadedResponse, operation: String) throws -> [String: JSONValue] {
        // The strict, fast reader of WPWithinCore (Foundation's JSONDecoder cost ~8% of a flow's CPU).
        let value = try? JSONValue.parse(response.body)
        guard response.status == 200 else {
            throw gatewayError(status: response.status, body: value?.objectValue, operation: operation)
        }
        guard let object = value?.objectValue else {
            throw protocolError("gateway answer is not a JSON object", operation: operation, status: response.status)
        }
        return object
    }

    /// Maps a Worldpay error body (`httpStatusCode`, `customCode`, `message`, `description`, …) to a WPWError.
    private func gatewayError(status: Int, body: [String: JSONValue]?, operation: String) -> WPWError {
        var data: [String: JSONValue] = ["operation": .string(operation), "httpStatusCode": .int(Int64(status))]
        let customCode = body.flatMap { WorldpayOnlineWire.member($0, "customCode")?.stringValue }
        let message = body.flatMap { WorldpayOnlineWire.member($0, "message")?.stringValue }
        if let customCode { data["customCode"] = .string(customCode) }
        if let message { data["message"] = .string(message) }
        if let description = body.flatMap({ WorldpayOnlineWire.member($0, "description")?.stringValue }) {
            data["description"] = .string(description)
        }
        let text = "HTTP Status: \(status) - CustomCode: \(customCode ?? "") - Message: \(message ?? "")"
        logger.info(
            "Gateway refused request",
            metadata: ["http.status": "\(status)", "gateway.customCode": "\(customCode ?? "")", "operation": "\(operation)"]
        )
        if status >= 500 {
            return WPWError(.gatewayUnavailable, text, data: .object(data))
        }
        guard status >= 400, body != nil else {
            return WPWError(.gatewayProtocol, "unexpected gateway answer: " + text, data: .object(data))
        }
        switch customCode?.uppercased() ?? "" {
        case "INVALID_PAYMENT_DETAILS", "INVALID_CARD", "CARD_EXPIRED", "EXPIRED_CARD", "INVALID_CARD_NUMBER":
            return WPWError(.invalidCard, text, data: .object(data))
        case "PAYMENT_DECLINED", "DECLINED":
            return WPWError(.paymentDeclined, text, data: .object(data))
        case "UNSUPPORTED_CURRENCY":
            return WPWError(.unsupportedCurrency, text, data: .object(data))
        case "INVALID_AMOUNT":
            return WPWError(.amountInvalid, text, data: .object(data))
        default:
            return WPWError(.gatewayRejected, text, data: .object(data))
        }
    }
}

/// The result of one HTTP exchange with the gateway.
struct LoadedResponse: Sendable {
    var status: Int
    var body: [UInt8]
}

/// Why one HTTP exchange failed before a complete response was read.
enum LoadFailure: Error, Sendable {
    /// The connection could not be made: the request never reached the gateway.
    case connectFailed(String)
    /// `https://`: the TLS handshake failed or the gateway's certificate was refused (`code` is the
    /// `TLSError` code): the request was never written.
    case tlsFailed(code: String, String)
    /// The total deadline passed after the request may have been sent.
    case timedOut
    /// The connection broke after the request may have been sent.
    case connectionLost(String)
    /// The body exceeded the cap (status known).
    case responseTooLarge(status: Int)
    /// A redirect, which the gateway API never sends.
    case redirected(status: Int)

    var isTLSFailure: Bool {
        if case .tlsFailed = self { return true }
        return false
    }

    /// The client's error, as a failure (or a `CancellationError`, thrown).
    init(_ error: HTTPClientError) throws {
        let detail = error.detail.isEmpty ? error.kind.rawValue : error.detail
        switch error.kind {
        case .connectionRefused, .invalidURL, .shutdown:
            self = .connectFailed(detail)
        case .tls:
            self = .tlsFailed(code: error.tlsError?.code.rawValue ?? "handshakeFailed", detail)
        case .timeout:
            self = error.mayHaveReachedServer ? .timedOut : .connectFailed("connect timeout")
        case .connectionClosed, .invalidResponse:
            self = error.mayHaveReachedServer ? .connectionLost(detail) : .connectFailed(detail)
        case .responseTooLarge:
            self = .responseTooLarge(status: 200)
        case .cancelled:
            throw CancellationError()
        }
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
