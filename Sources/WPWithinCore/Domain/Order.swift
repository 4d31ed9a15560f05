/// The producer-side life of a quote.
///
///     quoted ──startPayment──► paymentPending ──succeeded──► paid
///       ▲                          │  │
///       │                          │  └──outcomeUnknown──► outcomeUnknown ──(reconcile)──► paid | failed
///       └───── (retry) ◄── failed ◄┘
///
/// `failed` can start a new payment (the gateway did not charge). `paid` is final; a payment retry on a
/// paid order returns the stored token without charging again (`PaymentStart.alreadyPaid`).
public enum OrderState: String, Sendable, Hashable, CaseIterable {
    case quoted, paymentPending, paid, failed, outcomeUnknown
}

/// A producer order: the quote, the payment state, the token once paid, and the unit ledger.
public struct Order: Sendable, Hashable {
    public let quote: Quote
    public let state: OrderState
    /// Number of payment attempts started (each one charges at most once).
    public let attempts: Int
    public let pspReference: String?
    public let failureReason: String?
    public let token: DeliveryToken?
    /// Present once paid.
    public let ledger: UnitLedger?

    public var paymentReferenceID: String { quote.paymentReferenceID }

    public init(quote: Quote) {
        self.init(quote: quote, state: .quoted, attempts: 0, pspReference: nil, failureReason: nil, token: nil, ledger: nil)
    }

    /// Restores an order from storage (the store is trusted to have saved a value made by these transitions).
    public init(
        quote: Quote, state: OrderState, attempts: Int, pspReference: String?, failureReason: String?,
        token: DeliveryToken?, ledger: UnitLedger?
    ) {
        self.quote = quote
        self.state = state
        self.attempts = attempts
        self.pspReference = pspReference
        self.failureReason = failureReason
        self.token = token
        self.ledger = ledger
    }

    private func with(
        state: OrderState, attempts: Int? = nil, pspReference: String?? = nil, failureReason: String?? = nil,
        token: DeliveryToken?? = nil, ledger: UnitLedger?? = nil
    ) -> Order {
        Order(
            quote: quote, state: state, attempts: attempts ?? self.attempts,
            pspReference: pspReference ?? self.pspReference, failureReason: failureReason ?? self.failureReason,
            token: token ?? self.token, ledger: ledger ?? self.ledger)
    }

    // MARK: Payment

    /// The result of a `/payment` request on this order.
    public enum PaymentStart: Sendable, Hashable {
        /// Charge the gateway for `order.quote.total`, then call `paymentSucceeded`/`paymentFailed`/
        /// `paymentOutcomeUnknown`. `catalog` has the stock reserved; save both in one transaction first.
        case charge(order: Order, catalog: Catalog)
        /// Already paid: answer with the stored token; nothing is charged.
        case alreadyPaid(Order)
    }

    public static let clientMismatch = WPWError(.conflict, "Client ID does not match Order Client ID")

    /// Starts a payment. Throws `conflict` (client id differs, with Go's message; a payment is already in
    /// progress), `paymentOutcomeUnknown` (a previous charge must be reconciled first), `expired` (the quote
    /// expired), `notFound`/`outOfStock` (the price is gone or its stock cannot cover the units).
    public func startPayment(clientID: String, now: Instant, catalog: Catalog) throws -> PaymentStart {
        guard clientID == quote.clientID else { throw Order.clientMismatch }
        switch state {
        case .paid:
            return .alreadyPaid(self)
        case .paymentPending:
            throw WPWError(.conflict, "a payment for this order is already in progress")
        case .outcomeUnknown:
            throw WPWError(.paymentOutcomeUnknown, "the outcome of an earlier payment is unknown; it is being reconciled")
        case .quoted, .failed:
            guard !quote.isExpired(at: now) else { throw WPWError(.expired, "quote \(paymentReferenceID) has expired") }
            let reserved = try catalog.reservingStock(serviceID: quote.serviceID, priceID: quote.priceID, units: quote.units)
            return .charge(order: with(state: .paymentPending, attempts: attempts + 1, failureReason: .some(nil)), catalog: reserved)
        }
    }

    /// The gateway charged: issue the token and open the ledger. Allowed from `paymentPending` and from
    /// `outcomeUnknown` (reconciliation found the charge).
    public func paymentSucceeded(
        pspReference: String, now: Instant, tokenTTL: Duration, refundOnExpiry: Bool = false,
        random: some RandomByteSource, signer: some TokenSigner
    ) throws -> Order {
        guard state == .paymentPending || state == .outcomeUnknown else {
            throw WPWError(.conflict, "cannot record a payment for an order in state \(state.rawValue)")
        }
        let token = try DeliveryToken.issue(
            for: quote, now: now, ttl: tokenTTL, refundOnExpiry: refundOnExpiry, random: random, signer: signer)
        let ledger = try UnitLedger(purchased: quote.units)
        return with(state: .paid, pspReference: .some(pspReference), failureReason: .some(nil), token: .some(token), ledger: .some(ledger))
    }

    /// The gateway refused (nothing was charged): the order can be paid again and the stock goes back.
    public func paymentFailed(reason: String, catalog: Catalog) throws -> (order: Order, catalog: Catalog) {
        guard state == .paymentPending || state == .outcomeUnknown else {
            throw WPWError(.conflict, "cannot record a failed payment for an order in state \(state.rawValue)")
        }
        let released: Catalog
        do {
            released = try catalog.releasingStock(serviceID: quote.serviceID, priceID: quote.priceID, units: quote.units)
        } catch let error as WPWError where error.code == .notFound {
            released = catalog  // the price was removed meanwhile; there is no stock to give back
        }
        return (with(state: .failed, failureReason: .some(reason)), released)
    }

    /// The charge may or may not have happened (timeout, crash): keep the stock reserved and reconcile.
    public func paymentOutcomeUnknown(reason: String) throws -> Order {
        guard state == .paymentPending else {
            throw WPWError(.conflict, "cannot mark an order in state \(state.rawValue) as unknown")
        }
        return with(state: .outcomeUnknown, failureReason: .some(reason))
    }

    // MARK: Delivery

    /// Checks a presented token against this order (found by the token key). Only the producer's own
    /// record decides: the stored key, a signature recomputed over the stored claims, the stored client id,
    /// service and expiry. Comparisons of secrets are constant-time.
    ///
    /// - Parameters:
    ///   - clientID: the request's client id; nil skips the check.
    ///   - checkExpiry: false for `delivery/end`, which may close a delivery begun before the expiry.
    public func verify(
        _ presented: PresentedToken, clientID: String?, serviceID: Int, now: Instant, checkExpiry: Bool = true,
        signer: some TokenSigner
    ) throws {
        guard state == .paid, let token else { throw DeliveryToken.invalidKey }
        guard ConstantTime.equal(presented.key, token.key) else { throw DeliveryToken.invalidKey }
        let claims = TokenClaims(
            key: token.key, quote: quote, issued: token.issued, expiry: token.expiry, refundOnExpiry: token.refundOnExpiry)
        guard let signature = presented.signature, signer.verify(signature, for: claims.signingInput) else {
            throw DeliveryToken.invalidSignature
        }
        if let clientID, !ConstantTime.equal(clientID, quote.clientID) { throw DeliveryToken.clientMismatch }
        if checkExpiry && now >= token.expiry { throw DeliveryToken.hasExpired }
        guard serviceID == quote.serviceID else { throw DeliveryToken.wrongService }
    }

    /// `delivery/begin`: verifies the token, then reserves `min(requested, remaining)` units.
    public func beginDelivery(
        _ presented: PresentedToken, clientID: String?, serviceID: Int, requestedUnits: Int, now: Instant,
        signer: some TokenSigner
    ) throws -> (order: Order, granted: Int) {
        try verify(presented, clientID: clientID, serviceID: serviceID, now: now, signer: signer)
        guard let ledger else { throw DeliveryToken.invalidKey }
        let (next, granted) = try ledger.begin(requested: requestedUnits)
        return (with(state: state, ledger: .some(next)), granted)
    }

    /// `delivery/end`: verifies the token (not its expiry), then commits at most the units in flight.
    public func endDelivery(
        _ presented: PresentedToken, clientID: String?, serviceID: Int, receivedUnits: Int, now: Instant,
        policy: UnitLedger.EndPolicy = .releaseUnreported, signer: some TokenSigner
    ) throws -> (order: Order, committed: Int) {
        try verify(presented, clientID: clientID, serviceID: serviceID, now: now, checkExpiry: false, signer: signer)
        guard let ledger else { throw DeliveryToken.invalidKey }
        let (next, committed) = try ledger.end(reported: receivedUnits, policy: policy)
        return (with(state: state, ledger: .some(next)), committed)
    }
}
