import Foundation
import Logging
import WPWithinCore
import WPWithinHTTP
import WPWithinTLS

/// Cardholder names that force an outcome (compared case-insensitively, surrounding spaces ignored).
public enum SandboxMagicName: String, Sendable, CaseIterable {
    /// `POST /orders` answers 200 with `paymentStatus: FAILED` (a decline); the token is used up.
    case failed = "FAILED"
    /// `POST /orders` answers 500 (nothing is charged, the token stays usable).
    case error = "ERROR"
    /// `POST /tokens` and `POST /orders` answer after `slowDelayMilliseconds` (the order is placed first).
    case slow = "SLOW"
    /// `POST /tokens` answers 200 with a body that is not JSON.
    case garbage = "GARBAGE"
    /// `POST /tokens` answers 200 with a `hugeResponseBytes` body.
    case huge = "HUGE"
    /// `POST /tokens` answers 500.
    case tokenError = "TOKEN ERROR"
    /// `POST /orders` places the order (SUCCESS) but answers 200 with a body that is not JSON.
    case orderGarbage = "ORDER GARBAGE"

    init?(cardholderName: String) {
        self.init(rawValue: cardholderName.trimmingCharacters(in: .whitespaces).uppercased())
    }
}

/// The sandbox gateway: the Worldpay Online JSON API (`/tokens`, `/orders`) on loopback.
///
/// Routes (an optional `/v1` prefix is accepted, so `api_endpoint` can be `http://127.0.0.1:PORT/v1`):
/// `POST /tokens`, `POST /orders`, `GET /orders/{orderCode}`, `GET /orders?customerOrderCode=…`,
/// `POST /orders/{orderCode}/refund`; with `control`, the fault rules under `/_sandbox/faults`.
/// State is in memory, or replayed from and appended to `configuration.stateFile`. See `docs/sandbox-gateway.md`.
public struct SandboxGateway: Sendable {
    public let configuration: SandboxGatewayConfiguration
    let ledger: SandboxLedger
    /// The fault rules; nil when the control API is off.
    let faults: SandboxFaults?
    let logger: Logger

    /// Opens the state file and the audit log of `configuration` (replaying the state file).
    ///
    /// - Parameter control: serve the control API (`/_sandbox/faults`); only on a loopback `host`.
    /// - Throws: `WPWError(.invalidParams)` for a control API on a non-loopback host or a damaged state file,
    ///   `WPWError(.internalError)` when a file cannot be opened.
    public init(configuration: SandboxGatewayConfiguration, control: Bool = false, logger: Logger) throws {
        if control, !SandboxGatewayConfiguration.isLoopback(host: configuration.host) {
            throw WPWError(
                .invalidParams, "the control API is served on loopback only, not on \(configuration.host)",
                data: ["host": .string(configuration.host)]
            )
        }
        self.configuration = configuration
        self.ledger = try SandboxLedger(stateFile: configuration.stateFile, auditLog: configuration.auditLog)
        self.faults = control ? SandboxFaults() : nil
        self.logger = logger
        let replay = ledger.replay
        if configuration.stateFile != nil {
            logger.info("Sandbox state replayed", metadata: [
                "sandbox.stateFile": "\(configuration.stateFile ?? "")", "sandbox.tokens": "\(replay.tokens)",
                "sandbox.orders": "\(replay.orders)", "sandbox.refunds": "\(replay.refunds)",
            ])
        }
        if replay.droppedStateBytes > 0 || replay.droppedAuditBytes > 0 {
            logger.warning("Sandbox cut off a half-written last line", metadata: [
                "sandbox.stateFileBytes": "\(replay.droppedStateBytes)", "sandbox.auditLogBytes": "\(replay.droppedAuditBytes)",
            ])
        }
    }

    /// The HTTP server serving this gateway (bind address and body limit from the configuration).
    public func makeServer(onServerRunning: (@Sendable (Int) async -> Void)? = nil) -> HTTPServer {
        let tooLarge = SandboxGateway.errorBody(
            status: 413, customCode: "REQUEST_TOO_LARGE", message: "Request body too large",
            description: "The request body exceeds \(configuration.maxRequestBytes) bytes.", originalRequest: nil
        )
        let serverConfiguration = HTTPServerConfiguration(
            host: configuration.host,
            port: configuration.port,
            maxBodySize: configuration.maxRequestBytes,
            payloadTooLargeResponse: .json(status: 413, body: tooLarge),
            tls: configuration.tls
        )
        return HTTPServer(configuration: serverConfiguration, logger: logger, onServerRunning: onServerRunning) { request in
            await self.handle(request)
        }
    }

    /// Answers one request (applying a matching fault rule around the gateway's own answer).
    public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        let rawSegments = request.pathSegments.map(String.init)
        if let faults, rawSegments.first == "_sandbox" {
            return await control(request, segments: rawSegments, faults: faults)
        }
        var segments = rawSegments
        if segments.first == "v1" { segments.removeFirst() }
        let route = "\(request.method) /\(segments.joined(separator: "/"))"
        logger.debug("Sandbox request", metadata: ["http.method": "\(request.method)", "http.path": "\(request.path)"])
        guard let fault = await faults?.take(method: request.method, segments: segments) else {
            return await answer(request, segments: segments, route: route)
        }
        logger.debug("Sandbox fault rule applies", metadata: ["sandbox.rule": "\(fault.route)", "sandbox.when": "\(fault.when)"])
        var response: HTTPResponse?
        if fault.when == .after { response = await answer(request, segments: segments, route: route) }
        if fault.delayMilliseconds > 0 { try? await Task.sleep(for: .milliseconds(fault.delayMilliseconds)) }
        if let replaced = fault.response {
            var fields: [String: JSONValue] = [
                "route": .string(route), "rule": .string(fault.route), "when": .string(fault.when.rawValue),
                "httpStatusCode": .int(Int64(replaced.status)),
            ]
            if let original = response { fields["originalStatusCode"] = .int(Int64(original.status)) }
            do {
                try await ledger.record("fault.applied", fields)
            } catch {
                return internalError(route: route, error: error)
            }
            return replaced
        }
        if let response { return response }
        return await answer(request, segments: segments, route: route)
    }

    /// The gateway's own answer.
    private func answer(_ request: HTTPRequest, segments: [String], route: String) async -> HTTPResponse {
        do {
            switch (request.method, segments.count, segments.first) {
            case ("POST", 1, "tokens"):
                return try await createToken(request, route: route)
            case ("POST", 1, "orders"):
                return try await placeOrder(request, route: route)
            case ("GET", 1, "orders"):
                return try await findOrder(request, route: route)
            case ("GET", 2, "orders"):
                return try await lookupOrder(request, orderCode: segments[1], route: route)
            case ("POST", 3, "orders") where segments[2] == "refund":
                return try await refund(request, orderCode: segments[1], route: route)
            case (_, _, "tokens"), (_, _, "orders"):
                throw SandboxError(405, "METHOD_NOT_ALLOWED", "Method not allowed", "This route does not accept \(request.method).")
            default:
                throw SandboxError(404, "NOT_FOUND", "Resource not found", "No such route.")
            }
        } catch let error as SandboxError {
            logger.debug("Sandbox refused request", metadata: ["http.status": "\(error.status)", "gateway.customCode": "\(error.customCode)"])
            do {
                try await ledger.record("request.refused", [
                    "route": .string(route), "httpStatusCode": .int(Int64(error.status)), "customCode": .string(error.customCode),
                ])
            } catch {
                return internalError(route: route, error: error)
            }
            return error.response(originalRequest: route)
        } catch {
            return internalError(route: route, error: error)
        }
    }

    private func internalError(route: String, error: any Error) -> HTTPResponse {
        logger.error("Sandbox failed a request", metadata: ["sandbox.route": "\(route)", "error": "\(error)"])
        return .json(status: 500, body: SandboxGateway.errorBody(
            status: 500, customCode: "INTERNAL_SERVER_ERROR", message: "Internal error",
            description: "The sandbox failed unexpectedly.", originalRequest: route
        ))
    }

    /// The control API: `GET|POST|PUT|DELETE /_sandbox/faults`.
    private func control(_ request: HTTPRequest, segments: [String], faults: SandboxFaults) async -> HTTPResponse {
        let route = "\(request.method) /\(segments.joined(separator: "/"))"
        guard segments == ["_sandbox", "faults"] else {
            return SandboxError(404, "NOT_FOUND", "Resource not found", "The control API has /_sandbox/faults only.")
                .response(originalRequest: route)
        }
        do throws(SandboxError) {
            switch request.method {
            case "GET": break
            case "POST": await faults.append(try SandboxFaultRule.parseList(request.body))
            case "PUT": await faults.replace(with: try SandboxFaultRule.parseList(request.body))
            case "DELETE": await faults.replace(with: [])
            default: throw SandboxError(405, "METHOD_NOT_ALLOWED", "Method not allowed", "Use GET, POST, PUT or DELETE.")
            }
        } catch {
            logger.debug("Sandbox refused a fault rule", metadata: ["error": "\(error.description)"])
            return error.response(originalRequest: route)
        }
        logger.info("Sandbox fault rules changed", metadata: ["http.method": "\(request.method)"])
        return .json(status: 200, value: await faults.listing)
    }

    // MARK: Routes

    private func createToken(_ request: HTTPRequest, route: String) async throws -> HTTPResponse {
        let body = try parseObject(request)
        if body.member("reusable")?.boolValue == true {
            throw SandboxError(400, "BAD_REQUEST", "Reusable tokens are not supported", "The sandbox issues single-use tokens only.")
        }
        guard let clientKey = body.member("clientKey")?.stringValue, !clientKey.isEmpty else {
            throw SandboxError(400, "BAD_REQUEST", "clientKey can't be null/empty", "Some of request parameters are invalid.")
        }
        guard configuration.merchants.contains(where: { $0.clientKey == clientKey }) else {
            throw SandboxError(401, "UNAUTHORIZED", "Unknown client key", "The client key is not registered with the sandbox.")
        }
        guard let method = body.member("paymentMethod")?.objectValue else {
            throw SandboxError(400, "BAD_REQUEST", "paymentMethod can't be null", "Some of request parameters are invalid.")
        }
        let name = method.member("name")?.stringValue ?? ""
        guard let number = method.member("cardNumber")?.stringValue, !number.isEmpty else {
            throw SandboxError(400, "BAD_REQUEST", "cardNumber can't be null/empty", "Some of request parameters are invalid.")
        }
        guard let cvc = method.member("cvc")?.stringValue, !cvc.isEmpty else {
            throw SandboxError(400, "BAD_REQUEST", "CVC can't be null/empty", "Some of request parameters are invalid.")
        }
        guard let month = method.member("expiryMonth")?.int64Value, (1...12).contains(month),
            let year = method.member("expiryYear")?.int64Value
        else {
            throw SandboxError(400, "BAD_REQUEST", "Invalid expiry date", "Some of request parameters are invalid.")
        }
        let masked = SandboxGateway.mask(number)
        guard SandboxGateway.luhnValid(number), cvc.count >= 3, cvc.count <= 4, cvc.utf8.allSatisfy({ (48...57).contains($0) }) else {
            try await ledger.record("token.refused", ["clientKey": .string(clientKey), "card": .string(masked), "customCode": "INVALID_PAYMENT_DETAILS"])
            throw SandboxError(400, "INVALID_PAYMENT_DETAILS", "Invalid card details", "The card number or CVC is not valid.")
        }
        guard !SandboxGateway.isExpired(month: Int(month), year: Int(year)) else {
            try await ledger.record("token.refused", ["clientKey": .string(clientKey), "card": .string(masked), "customCode": "CARD_EXPIRED"])
            throw SandboxError(400, "CARD_EXPIRED", "Card expired", "The card's expiry date has passed.")
        }
        let magic = SandboxMagicName(cardholderName: name)
        if magic == .slow { try await Task.sleep(for: .milliseconds(configuration.slowDelayMilliseconds)) }
        if magic == .tokenError {
            throw SandboxError(500, "INTERNAL_SERVER_ERROR", "Internal server error", "Forced by the TOKEN ERROR cardholder name.")
        }
        let card = SandboxCard(name: name, maskedNumber: masked, expiryMonth: month, expiryYear: year, type: method.member("type")?.stringValue ?? "Card")
        let token = "TEST_SU_" + SandboxGateway.randomUUID()
        try await ledger.addToken(token, SandboxLedger.Token(clientKey: clientKey, card: card, magic: magic))
        switch magic {
        case .garbage:
            return HTTPResponse(status: 200, headers: ["Content-Type": "text/html"], body: Array("<html><body>Gateway is having a bad day</body></html>".utf8))
        case .huge:
            return .json(status: 200, body: SandboxGateway.hugeBody(size: configuration.hugeResponseBytes, token: token))
        default:
            return .json(status: 200, value: [
                "token": .string(token), "reusable": false, "paymentMethod": card.responseObject,
            ])
        }
    }

    private func placeOrder(_ request: HTTPRequest, route: String) async throws -> HTTPResponse {
        let merchant = try authorize(request)
        let body = try parseObject(request)
        guard let token = body.member("token")?.stringValue, !token.isEmpty else {
            throw SandboxError(400, "BAD_REQUEST", "token can't be null/empty", "Some of request parameters are invalid.")
        }
        guard let amount = body.member("amount")?.int64Value else {
            throw SandboxError(400, "BAD_REQUEST", "amount must be an integer", "Some of request parameters are invalid.")
        }
        guard amount > 0 else {
            throw SandboxError(400, "INVALID_AMOUNT", "Amount must be positive", "The amount is in minor units and must be above zero.")
        }
        let currencyCode = body.member("currencyCode")?.stringValue ?? ""
        guard Currency(code: currencyCode) != nil, configuration.currencies?.contains(currencyCode) ?? true else {
            throw SandboxError(400, "UNSUPPORTED_CURRENCY", "Unsupported currency", "The currency code is not accepted by the sandbox.")
        }
        let description = body.member("orderDescription")?.stringValue ?? ""
        let customerOrderCode = body.member("customerOrderCode")?.stringValue ?? ""
        guard !description.isEmpty, !customerOrderCode.isEmpty else {
            throw SandboxError(400, "BAD_REQUEST", "orderDescription and customerOrderCode are required", "Some of request parameters are invalid.")
        }
        let orderCode = SandboxGateway.randomUUID()
        let outcome = try await ledger.placeOrder(
            token: token, merchant: merchant, orderCode: orderCode, amount: amount, currencyCode: currencyCode,
            orderDescription: description, customerOrderCode: customerOrderCode
        )
        let order: SandboxLedger.Order
        switch outcome {
        case .unknownToken:
            throw SandboxError(400, "TKN_NOT_FOUND", "Token not found", "The token does not exist.")
        case .tokenUsed:
            throw SandboxError(400, "TKN_EXPIRED", "Token already used", "A single-use token can pay for one order only.")
        case .wrongMerchant:
            throw SandboxError(401, "UNAUTHORIZED", "Token was issued for another merchant", "The service key does not match the token's client key.")
        case .forcedError:
            throw SandboxError(500, "INTERNAL_SERVER_ERROR", "Internal server error", "Forced by the ERROR cardholder name.")
        case .placed(let placed):
            order = placed
        }
        if order.magic == .slow { try await Task.sleep(for: .milliseconds(configuration.slowDelayMilliseconds)) }
        if order.magic == .orderGarbage {
            return HTTPResponse(status: 200, headers: ["Content-Type": "text/plain"], body: Array("{order placed, probably".utf8))
        }
        return .json(status: 200, value: order.responseObject)
    }

    private func lookupOrder(_ request: HTTPRequest, orderCode: String, route: String) async throws -> HTTPResponse {
        let merchant = try authorize(request)
        guard let order = await ledger.order(code: orderCode), order.clientKey == merchant.clientKey else {
            throw SandboxError(404, "ORDER_NOT_FOUND", "Order not found", "No order with this code for this merchant.")
        }
        return .json(status: 200, value: order.responseObject)
    }

    private func findOrder(_ request: HTTPRequest, route: String) async throws -> HTTPResponse {
        let merchant = try authorize(request)
        guard let code = request.query["customerOrderCode"], !code.isEmpty else {
            throw SandboxError(400, "BAD_REQUEST", "customerOrderCode query parameter required", "Use GET /orders?customerOrderCode=…")
        }
        guard let order = await ledger.order(customerOrderCode: code, merchant: merchant) else {
            throw SandboxError(404, "ORDER_NOT_FOUND", "Order not found", "No order with this customerOrderCode for this merchant.")
        }
        return .json(status: 200, value: order.responseObject)
    }

    private func refund(_ request: HTTPRequest, orderCode: String, route: String) async throws -> HTTPResponse {
        let merchant = try authorize(request)
        var amount: Int64?
        if !request.body.isEmpty {
            let body = try parseObject(request)
            if let value = body.member("refundAmount"), !value.isNull {
                guard let minor = value.int64Value, minor > 0 else {
                    throw SandboxError(400, "INVALID_AMOUNT", "refundAmount must be a positive integer", "The amount is in minor units.")
                }
                amount = minor
            }
        }
        switch try await ledger.refund(orderCode: orderCode, merchant: merchant, amount: amount) {
        case .notFound:
            throw SandboxError(404, "ORDER_NOT_FOUND", "Order not found", "No order with this code for this merchant.")
        case .notRefundable(let status):
            throw SandboxError(400, "ORDER_NOT_REFUNDABLE", "Order cannot be refunded", "The order's status is \(status).")
        case .exceedsRemaining(let remaining):
            throw SandboxError(400, "REFUND_AMOUNT_EXCEEDED", "Refund exceeds the remaining amount", "At most \(remaining) can be refunded.")
        case .refunded:
            return HTTPResponse(status: 200)
        }
    }

    // MARK: Helpers

    /// The merchant whose service key is the raw `Authorization` header.
    private func authorize(_ request: HTTPRequest) throws -> SandboxGatewayConfiguration.Merchant {
        guard let key = request.headers["Authorization"], !key.isEmpty else {
            throw SandboxError(401, "UNAUTHORIZED", "Authorization header missing", "Send the merchant service key in Authorization.")
        }
        guard let merchant = configuration.merchants.first(where: { $0.serviceKey == key }) else {
            throw SandboxError(401, "UNAUTHORIZED", "Unknown service key", "The service key is not registered with the sandbox.")
        }
        return merchant
    }

    private func parseObject(_ request: HTTPRequest) throws -> [String: JSONValue] {
        guard let value = try? JSONValue.parse(request.body), let object = value.objectValue else {
            throw SandboxError(400, "ERROR_PARSING_JSON", "Request body is not valid JSON", "The request body must be a JSON object.")
        }
        return object
    }

    /// A Worldpay-shaped error body.
    static func errorBody(status: Int, customCode: String, message: String, description: String, originalRequest: String?) -> [UInt8] {
        let value: JSONValue = [
            "httpStatusCode": .int(Int64(status)), "customCode": .string(customCode), "message": .string(message),
            "description": .string(description), "errorHelpUrl": nil,
            "originalRequest": originalRequest.map(JSONValue.string) ?? nil,
        ]
        return value.serialized()
    }

    static func hugeBody(size: Int, token: String) -> [UInt8] {
        var bytes = Array(#"{"token":""#.utf8) + Array(token.utf8) + Array(#"","padding":""#.utf8)
        bytes.reserveCapacity(size + 4)
        bytes.append(contentsOf: repeatElement(UInt8(ascii: "x"), count: max(0, size - bytes.count - 2)))
        bytes.append(contentsOf: Array(#""}"#.utf8))
        return bytes
    }

    static func mask(_ number: String) -> String {
        let keep = min(4, number.count / 2)
        return String(repeating: "*", count: number.count - keep) + number.suffix(keep)
    }

    static func luhnValid(_ number: String) -> Bool {
        let digits = number.utf8.map { Int($0) - 48 }
        guard (12...19).contains(digits.count), digits.allSatisfy({ (0...9).contains($0) }) else { return false }
        var sum = 0
        for (offset, digit) in digits.reversed().enumerated() {
            let value = offset % 2 == 1 ? digit * 2 : digit
            sum += value > 9 ? value - 9 : value
        }
        return sum % 10 == 0
    }

    static func isExpired(month: Int, year: Int, now: Date = Date()) -> Bool {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month], from: now)
        let (y, m) = (parts.year ?? 0, parts.month ?? 0)
        return year < y || (year == y && month < m)
    }

    /// A random v4 UUID, lowercase, from the system CSPRNG (getrandom).
    static func randomUUID() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        bytes[6] = bytes[6] & 0x0F | 0x40
        bytes[8] = bytes[8] & 0x3F | 0x80
        let hex = bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
        let h = Array(hex)
        return String(h[0..<8]) + "-" + String(h[8..<12]) + "-" + String(h[12..<16]) + "-" + String(h[16..<20]) + "-" + String(h[20..<32])
    }
}

/// A refusal, rendered as a Worldpay error body.
struct SandboxError: Error, CustomStringConvertible {
    let status: Int
    let customCode: String
    let message: String
    let description: String
    init(_ status: Int, _ customCode: String, _ message: String, _ description: String) {
        self.status = status
        self.customCode = customCode
        self.message = message
        self.description = description
    }

    func response(originalRequest: String) -> HTTPResponse {
        .json(status: status, body: SandboxGateway.errorBody(
            status: status, customCode: customCode, message: message, description: description, originalRequest: originalRequest
        ))
    }
}

/// What the sandbox remembers of a card: never the full number, never the CVC.
struct SandboxCard: Sendable {
    var name: String
    var maskedNumber: String
    var expiryMonth: Int64
    var expiryYear: Int64
    var type: String

    var responseObject: JSONValue {
        [
            "type": "ObfuscatedCard", "name": .string(name), "expiryMonth": .int(expiryMonth), "expiryYear": .int(expiryYear),
            "issueNumber": nil, "startMonth": nil, "startYear": nil, "cardType": "VISA_CREDIT",
            "maskedCardNumber": .string(maskedNumber), "cardSchemeType": "consumer", "cardSchemeName": "VISA CREDIT",
            "cardProductTypeDescNonContactless": "Visa Credit Personal", "cardProductTypeDescContactless": "CL Visa Credit Pers",
            "cardIssuer": "SANDBOX BANK", "countryCode": "GB", "cardClass": "credit", "prepaid": "false",
        ]
    }
}

extension Dictionary where Key == String, Value == JSONValue {
    /// Case-insensitive member lookup, as Go's encoding/json matches keys.
    func member(_ key: String) -> JSONValue? {
        if let exact = self[key] { return exact }
        let lower = key.lowercased()
        return first { $0.key.lowercased() == lower }?.value
    }
}

extension HTTPResponse {
    static func json(status: Int, value: JSONValue) -> HTTPResponse {
        .json(status: status, body: value.serialized())
    }
}
