import WPWithinCore

/// A single-use client token: what the consumer gets for its card and hands to the producer.
public struct ClientToken: Sendable, Hashable, CustomStringConvertible {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { value }
}

/// What the producer asks the gateway to charge.
public struct OrderRequest: Sendable, Hashable {
    /// The consumer's client token (single use).
    public var token: ClientToken
    /// The total, in minor units of a supported currency; must be positive.
    public var amount: Money
    /// Free text; the Go SDK sends `NAME - N units @ GBP 5.00 per unit.` (see ``OrderDescription``).
    public var orderDescription: String
    /// The producer's own reference (the Go SDK sends the order UUID); the key for reconciliation.
    public var customerOrderCode: String

    public init(token: ClientToken, amount: Money, orderDescription: String, customerOrderCode: String) {
        self.token = token
        self.amount = amount
        self.orderDescription = orderDescription
        self.customerOrderCode = customerOrderCode
    }
}

/// An order as the gateway reports it.
public struct OrderResult: Sendable, Hashable {
    /// The gateway's reference for the order (the PSP reference).
    public var orderCode: String
    public var customerOrderCode: String
    /// `SUCCESS`, `FAILED`, `REFUNDED`, `PARTIALLY_REFUNDED`, … as the gateway spells it.
    public var paymentStatus: String
    /// Amount charged, minor units.
    public var amount: Int64
    public var currencyCode: String
    public var orderDescription: String
    /// `************1111` when the gateway reports it.
    public var maskedCardNumber: String?
    /// `TEST` or `LIVE` when the gateway reports it.
    public var environment: String?
    /// Minor units refunded so far, when the gateway reports it (the sandbox does).
    public var refundedAmount: Int64?

    public init(
        orderCode: String, customerOrderCode: String, paymentStatus: String, amount: Int64, currencyCode: String,
        orderDescription: String, maskedCardNumber: String? = nil, environment: String? = nil, refundedAmount: Int64? = nil
    ) {
        self.orderCode = orderCode
        self.customerOrderCode = customerOrderCode
        self.paymentStatus = paymentStatus
        self.amount = amount
        self.currencyCode = currencyCode
        self.orderDescription = orderDescription
        self.maskedCardNumber = maskedCardNumber
        self.environment = environment
        self.refundedAmount = refundedAmount
    }

    /// `paymentStatus` is `SUCCESS` (case-insensitive), as the Go SDK checks it.
    public var isSuccess: Bool { paymentStatus.uppercased() == "SUCCESS" }
}

/// The payment gateway seam: the consumer half tokenises a card, the producer half charges, looks up
/// and refunds. Every failure is a `WPWError` with a payment code (-32020…-32029):
///
/// | code | meaning |
/// |---|---|
/// | `paymentDeclined` | the gateway answered and refused the charge (a decline `paymentStatus` for this order) |
/// | `invalidCard` | the card was refused (bad number, expired) |
/// | `gatewayUnavailable` | connection refused (nothing sent); for lookups and refunds also a 5xx |
/// | `gatewayTimeout` | no answer in time (never for an order POST: see `paymentOutcomeUnknown`) |
/// | `gatewayProtocol` | the answer was not what the API promises (not JSON, too large, missing fields) |
/// | `gatewayRejected` | any other 4xx (unknown token, wrong key, …) |
/// | `amountInvalid`, `unsupportedCurrency` | refused locally before sending |
/// | `paymentOutcomeUnknown` | an order POST may have reached the gateway but no definite answer came back (timeout, reset, 5xx, a 4xx without a Worldpay body, an unreadable, undecided or unmatched answer): reconcile with ``findOrder(customerOrderCode:)`` |
/// | `credentials` | a needed key is missing |
///
/// The gateway's own `customCode`, `message` and HTTP status travel in the error's `data`.
public protocol PaymentGateway: Sendable {
    /// Consumer side: turns the card into a single-use client token for the merchant's client key.
    func createToken(card: PaymentCard, clientKey: String) async throws -> ClientToken

    /// Producer side: charges the token. Never retried blindly; see `paymentOutcomeUnknown`.
    func placeOrder(_ request: OrderRequest) async throws -> OrderResult

    /// Producer side: the order with this gateway order code (`notFound` when there is none).
    func lookupOrder(orderCode: String) async throws -> OrderResult

    /// Producer side: the order placed with this customer order code, or nil when the gateway has none
    /// (used to reconcile an unknown outcome).
    func findOrder(customerOrderCode: String) async throws -> OrderResult?

    /// Producer side: refunds `amount` (nil = the whole remaining amount) of a successful order.
    func refund(orderCode: String, amount: Money?) async throws
}

extension OrderResult {
    /// The answer as the producer's money decisions see it (`GatewayOrder.standing`, `matches`).
    public var gatewayOrder: GatewayOrder {
        GatewayOrder(
            orderCode: orderCode, customerOrderCode: customerOrderCode, paymentStatus: paymentStatus, amount: amount,
            currencyCode: currencyCode, refundedAmount: refundedAmount)
    }
}
