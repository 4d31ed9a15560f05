#if canImport(Glibc)
import Glibc
#endif
import WPWithinCore

/// The sandbox's state (tokens, orders, refunds) and its audit log, in one actor so that a change, its state
/// record and its audit line are written in one step, before the answer.
///
/// Without a state file the state lives in memory only. With one, every change is first appended to the file
/// (one JSON object a line, fsynced) and then applied; at start the file is replayed, so a restarted sandbox
/// knows the tokens, orders and refunds of the one before it. The state file never holds a card number
/// (only the masked form), a CVC or a service key (an order names its merchant by client key).
///
/// State records: `{"type":"token",…}`, `{"type":"order",…}`, `{"type":"refund","orderCode","refundAmount"}`.
actor SandboxLedger {
    struct Token: Sendable {
        var clientKey: String
        var card: SandboxCard
        var magic: SandboxMagicName?
        var used = false
    }

    struct Order: Sendable {
        var orderCode: String
        var customerOrderCode: String
        var token: String
        /// The merchant, by client key (merchants are key pairs; the service key is a secret and not stored).
        var clientKey: String
        var amount: Int64
        var currencyCode: String
        var orderDescription: String
        var paymentStatus: String
        var refundedAmount: Int64 = 0
        var card: SandboxCard
        var magic: SandboxMagicName?

        var responseObject: JSONValue {
            [
                "orderCode": .string(orderCode), "token": .string(token), "orderDescription": .string(orderDescription),
                "amount": .int(amount), "currencyCode": .string(currencyCode), "customerOrderCode": .string(customerOrderCode),
                "paymentStatus": .string(paymentStatus), "paymentResponse": card.responseObject, "environment": "TEST",
                "riskScore": ["value": "1"], "refundedAmount": .int(refundedAmount),
            ]
        }
    }

    enum PlaceOutcome: Sendable {
        case placed(Order)
        case unknownToken
        case tokenUsed
        case wrongMerchant
        case forcedError
    }

    enum RefundOutcome: Sendable {
        case refunded(Order, Int64)
        case notFound
        case notRefundable(String)
        case exceedsRemaining(Int64)
    }

    /// What was found in the state file at start.
    struct Replay: Sendable {
        var tokens = 0
        var orders = 0
        var refunds = 0
        /// Bytes of a half-written last line that were cut off (state file, audit log).
        var droppedStateBytes = 0
        var droppedAuditBytes = 0
    }

    private var tokens: [String: Token] = [:]
    private var orders: [String: Order] = [:]
    /// customerOrderCode → order codes, oldest first.
    private var byCustomerOrderCode: [String: [String]] = [:]
    private let state: SandboxJSONLFile?
    private let audit: SandboxJSONLFile?
    let replay: Replay

    /// - Parameters:
    ///   - stateFile: the state file to replay and append to; nil keeps state in memory only.
    ///   - auditLog: the JSONL audit log to append to (fsynced per line when there is a state file).
    init(stateFile: String?, auditLog: String?) throws {
        let state = try stateFile.map { try SandboxJSONLFile(path: $0, durable: true) }
        let audit = try auditLog.map { try SandboxJSONLFile(path: $0, durable: stateFile != nil) }
        var replay = Replay(droppedStateBytes: state?.droppedBytes ?? 0, droppedAuditBytes: audit?.droppedBytes ?? 0)
        var tokens: [String: Token] = [:]
        var orders: [String: Order] = [:]
        var index: [String: [String]] = [:]
        for (offset, record) in (state?.records ?? []).enumerated() {
            guard SandboxLedger.apply(record, tokens: &tokens, orders: &orders, index: &index) else {
                throw WPWError(
                    .invalidParams, "unknown record \(offset + 1) in \(stateFile ?? "")",
                    data: ["path": .string(stateFile ?? ""), "line": .int(Int64(offset + 1))]
                )
            }
            switch record["type"]?.stringValue {
            case "token": replay.tokens += 1
            case "order": replay.orders += 1
            default: replay.refunds += 1
            }
        }
        self.tokens = tokens
        self.orders = orders
        self.byCustomerOrderCode = index
        self.state = state
        self.audit = audit
        self.replay = replay
    }

    // MARK: Changes (state record first, then memory, then the audit line)

    func addToken(_ value: String, _ token: Token) throws {
        var entry: [String: JSONValue] = [
            "type": "token", "token": .string(value), "clientKey": .string(token.clientKey), "card": token.card.stateObject,
        ]
        if let magic = token.magic { entry["magic"] = .string(magic.rawValue) }
        try commit(.object(entry))
        try record("token.created", ["clientKey": .string(token.clientKey), "card": .string(token.card.maskedNumber), "token": .string(value)])
    }

    func placeOrder(
        token value: String, merchant: SandboxGatewayConfiguration.Merchant, orderCode: String, amount: Int64,
        currencyCode: String, orderDescription: String, customerOrderCode: String
    ) throws -> PlaceOutcome {
        guard let token = tokens[value] else { return .unknownToken }
        guard token.clientKey == merchant.clientKey else { return .wrongMerchant }
        guard !token.used else { return .tokenUsed }
        if token.magic == .error { return .forcedError }
        let order = Order(
            orderCode: orderCode, customerOrderCode: customerOrderCode, token: value, clientKey: merchant.clientKey,
            amount: amount, currencyCode: currencyCode, orderDescription: orderDescription,
            paymentStatus: token.magic == .failed ? "FAILED" : "SUCCESS", card: token.card, magic: token.magic
        )
        try commit(order.stateRecord)
        try record("order.placed", [
            "orderCode": .string(order.orderCode), "customerOrderCode": .string(order.customerOrderCode),
            "amount": .int(order.amount), "currencyCode": .string(order.currencyCode), "card": .string(order.card.maskedNumber),
            "paymentStatus": .string(order.paymentStatus), "token": .string(value), "clientKey": .string(merchant.clientKey),
        ])
        return .placed(order)
    }

    func refund(orderCode: String, merchant: SandboxGatewayConfiguration.Merchant, amount: Int64?) throws -> RefundOutcome {
        guard let order = orders[orderCode], order.clientKey == merchant.clientKey else { return .notFound }
        guard order.paymentStatus == "SUCCESS" || order.paymentStatus == "PARTIALLY_REFUNDED" else {
            return .notRefundable(order.paymentStatus)
        }
        let remaining = order.amount - order.refundedAmount
        let refund = amount ?? remaining
        guard refund <= remaining else { return .exceedsRemaining(remaining) }
        try commit(["type": "refund", "orderCode": .string(orderCode), "refundAmount": .int(refund)])
        guard let refunded = orders[orderCode] else { return .notFound }
        try record("order.refunded", [
            "orderCode": .string(orderCode), "customerOrderCode": .string(refunded.customerOrderCode),
            "refundAmount": .int(refund), "refundedAmount": .int(refunded.refundedAmount),
            "amount": .int(refunded.amount), "currencyCode": .string(refunded.currencyCode),
            "paymentStatus": .string(refunded.paymentStatus),
        ])
        return .refunded(refunded, refund)
    }

    /// Appends `{"ts":…,"event":…, …fields}` to the audit log (keys sorted; `ts` UTC with milliseconds).
    func record(_ event: String, _ fields: [String: JSONValue]) throws {
        guard let audit else { return }
        var object = fields
        object["event"] = .string(event)
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        object["ts"] = .string(Instant(secondsSinceEpoch: Int64(now.tv_sec), nanoseconds: Int32(now.tv_nsec)).rfc3339Milliseconds)
        try audit.append(.object(object))
    }

    // MARK: Lookups

    func order(code: String) -> Order? { orders[code] }

    /// The most recent order with this customerOrderCode for the merchant.
    func order(customerOrderCode: String, merchant: SandboxGatewayConfiguration.Merchant) -> Order? {
        for code in (byCustomerOrderCode[customerOrderCode] ?? []).reversed() {
            if let order = orders[code], order.clientKey == merchant.clientKey { return order }
        }
        return nil
    }

    // MARK: Applying records

    /// Makes `record` durable (when there is a state file), then applies it.
    private func commit(_ record: JSONValue) throws {
        try state?.append(record)
        guard SandboxLedger.apply(record, tokens: &tokens, orders: &orders, index: &byCustomerOrderCode) else {
            preconditionFailure("the sandbox wrote a state record it cannot apply")
        }
    }

    /// Applies one state record; false when it is not one the sandbox writes.
    private static func apply(
        _ record: JSONValue, tokens: inout [String: Token], orders: inout [String: Order], index: inout [String: [String]]
    ) -> Bool {
        switch record["type"]?.stringValue {
        case "token":
            guard let value = record["token"]?.stringValue, let clientKey = record["clientKey"]?.stringValue,
                let card = record["card"].flatMap(SandboxCard.init(stateObject:))
            else { return false }
            tokens[value] = Token(clientKey: clientKey, card: card, magic: record["magic"]?.stringValue.flatMap(SandboxMagicName.init(rawValue:)))
            return true
        case "order":
            guard let order = Order(stateRecord: record) else { return false }
            tokens[order.token]?.used = true
            orders[order.orderCode] = order
            index[order.customerOrderCode, default: []].append(order.orderCode)
            return true
        case "refund":
            guard let code = record["orderCode"]?.stringValue, let amount = record["refundAmount"]?.int64Value,
                var order = orders[code]
            else { return false }
            order.refundedAmount += amount
            order.paymentStatus = order.refundedAmount >= order.amount ? "REFUNDED" : "PARTIALLY_REFUNDED"
            orders[code] = order
            return true
        default:
            return false
        }
    }
}

extension SandboxLedger.Order {
    var stateRecord: JSONValue {
        var record: [String: JSONValue] = [
            "type": "order", "orderCode": .string(orderCode), "customerOrderCode": .string(customerOrderCode),
            "token": .string(token), "clientKey": .string(clientKey), "amount": .int(amount),
            "currencyCode": .string(currencyCode), "orderDescription": .string(orderDescription),
            "paymentStatus": .string(paymentStatus), "card": card.stateObject,
        ]
        if let magic { record["magic"] = .string(magic.rawValue) }
        return .object(record)
    }

    init?(stateRecord record: JSONValue) {
        guard let orderCode = record["orderCode"]?.stringValue, let customerOrderCode = record["customerOrderCode"]?.stringValue,
            let token = record["token"]?.stringValue, let clientKey = record["clientKey"]?.stringValue,
            let amount = record["amount"]?.int64Value, let currencyCode = record["currencyCode"]?.stringValue,
            let orderDescription = record["orderDescription"]?.stringValue, let paymentStatus = record["paymentStatus"]?.stringValue,
            let card = record["card"].flatMap(SandboxCard.init(stateObject:))
        else { return nil }
        self.init(
            orderCode: orderCode, customerOrderCode: customerOrderCode, token: token, clientKey: clientKey, amount: amount,
            currencyCode: currencyCode, orderDescription: orderDescription, paymentStatus: paymentStatus, card: card,
            magic: record["magic"]?.stringValue.flatMap(SandboxMagicName.init(rawValue:))
        )
    }
}

extension SandboxCard {
    /// The card as the state file keeps it: the masked number only.
    var stateObject: JSONValue {
        [
            "name": .string(name), "maskedNumber": .string(maskedNumber), "expiryMonth": .int(expiryMonth),
            "expiryYear": .int(expiryYear), "type": .string(type),
        ]
    }

    init?(stateObject object: JSONValue) {
        guard let name = object["name"]?.stringValue, let masked = object["maskedNumber"]?.stringValue,
            let month = object["expiryMonth"]?.int64Value, let year = object["expiryYear"]?.int64Value,
            let type = object["type"]?.stringValue
        else { return nil }
        self.init(name: name, maskedNumber: masked, expiryMonth: month, expiryYear: year, type: type)
    }
}
