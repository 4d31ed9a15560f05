import WPWithinCore

/// The sandbox's in-memory state: tokens and orders.
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
        var serviceKey: String
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

    private var tokens: [String: Token] = [:]
    private var orders: [String: Order] = [:]
    /// customerOrderCode → order codes, oldest first.
    private var byCustomerOrderCode: [String: [String]] = [:]

    func addToken(_ value: String, _ token: Token) {
        tokens[value] = token
    }

    func placeOrder(
        token value: String, merchant: SandboxGatewayConfiguration.Merchant, orderCode: String, amount: Int64,
        currencyCode: String, orderDescription: String, customerOrderCode: String
    ) -> PlaceOutcome {
        guard var token = tokens[value] else { return .unknownToken }
        guard token.clientKey == merchant.clientKey else { return .wrongMerchant }
        guard !token.used else { return .tokenUsed }
        if token.magic == .error { return .forcedError }
        token.used = true
        tokens[value] = token
        let order = Order(
            orderCode: orderCode, customerOrderCode: customerOrderCode, token: value, serviceKey: merchant.serviceKey,
            amount: amount, currencyCode: currencyCode, orderDescription: orderDescription,
            paymentStatus: token.magic == .failed ? "FAILED" : "SUCCESS", card: token.card, magic: token.magic
        )
        orders[orderCode] = order
        byCustomerOrderCode[customerOrderCode, default: []].append(orderCode)
        return .placed(order)
    }

    func order(code: String) -> Order? { orders[code] }

    /// The most recent order with this customerOrderCode for the merchant.
    func order(customerOrderCode: String, serviceKey: String) -> Order? {
        for code in (byCustomerOrderCode[customerOrderCode] ?? []).reversed() {
            if let order = orders[code], order.serviceKey == serviceKey { return order }
        }
        return nil
    }

    func refund(orderCode: String, serviceKey: String, amount: Int64?) -> RefundOutcome {
        guard var order = orders[orderCode], order.serviceKey == serviceKey else { return .notFound }
        guard order.paymentStatus == "SUCCESS" || order.paymentStatus == "PARTIALLY_REFUNDED" else {
            return .notRefundable(order.paymentStatus)
        }
        let remaining = order.amount - order.refundedAmount
        let refund = amount ?? remaining
        guard refund <= remaining else { return .exceedsRemaining(remaining) }
        order.refundedAmount += refund
        order.paymentStatus = order.refundedAmount == order.amount ? "REFUNDED" : "PARTIALLY_REFUNDED"
        orders[orderCode] = order
        return .refunded(order, refund)
    }
}
