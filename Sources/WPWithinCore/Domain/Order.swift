/// The producer-side life of a quote: the payment state machine. Its one rule: **at most one charge per
/// payment reference, and every charge is honoured (a token) or refunded.** The full table, with which answer
/// of the gateway means what, is in `docs/store.md` ("The order state machine").
///
///     quoted ──startPayment──► paymentPending ──charged──────────────────────► paid
///       ▲                        │  │                                            ▲
///       │                        │  └─unknown──► outcomeUnknown ──charged───────┘
///       │                        │                 │      │
///       └─(retry) ◄── failed ◄───┴─notCharged──────┘      └─settled, not found──► abandoned
///                                                                                   │ late charge found
///                                                                                   ▼
///                                                            refunded ◄──refunded── refundPending
///
/// * `failed` is entered only on the gateway's own proof that nothing was charged (a decline); it can start
///   a new attempt, which goes to the gateway under its own customer order code (``customerOrderCode``), so
///   the fate of every attempt can be looked up on its own.
/// * `outcomeUnknown`: the charge may have happened. No new attempt is ever placed; the stock stays
///   reserved; reconciliation asks the gateway (with backoff) until its answer is definite.
/// * `abandoned`: the gateway has said "no such order" for long enough (``PaymentRecoveryPolicy``) that the
///   attempt is taken as never having arrived: the stock goes back and the reference can no longer be paid
///   (the consumer selects again). The attempt is still watched; a charge that turns up late cannot be
///   honoured and is refunded (`refundPending` → `refunded`).
/// * `paid` is final for payment; a retry returns the stored token without charging
///   (`PaymentStart.alreadyPaid`).
public enum OrderState: String, Sendable, Hashable, CaseIterable {
    case quoted, paymentPending, paid, failed, outcomeUnknown, abandoned, refundPending, refunded

    /// The states in which money may be held by the gateway without a token having been issued: they need
    /// the gateway's answer (reconciliation).
    public var needsReconciliation: Bool {
        switch self {
        case .paymentPending, .outcomeUnknown, .abandoned, .refundPending: true
        case .quoted, .paid, .failed, .refunded: false
        }
    }
}

/// A producer order: the quote, the payment state, the token once paid, and the unit ledger.
public struct Order: Sendable, Hashable {
    public let quote: Quote
    public let state: OrderState
    /// Number of payment attempts started (each one charges at most once).
    public let attempts: Int
    /// The gateway's order code: of the charge once paid; of the late charge to refund in
    /// `refundPending`/`refunded`.
    public let pspReference: String?
    public let failureReason: String?
    public let token: DeliveryToken?
    /// Present once paid.
    public let ledger: UnitLedger?
    /// When the current attempt was started (nil before the first); reconciliation measures from it.
    public let paymentStartedAt: Instant?
    /// The refund of the undelivered units of a paid order (`refundOnExpiry`), once decided.
    public let refund: UnitRefund?

    public var paymentReferenceID: String { quote.paymentReferenceID }

    /// The gateway's `customerOrderCode` for the current attempt: the payment reference itself for the first
    /// (as the Go SDK sends it), `<reference>.<n>` for attempt n > 1. Each attempt has its own code, so a
    /// lookup can never mistake an earlier attempt's answer for the current one's.
    public var customerOrderCode: String { Order.customerOrderCode(paymentReferenceID, attempt: attempts) }

    public static func customerOrderCode(_ reference: String, attempt: Int) -> String {
        attempt <= 1 ? reference : reference + "." + String(attempt)
    }

    /// The payment reference a customer order code belongs to (the inverse of ``customerOrderCode``).
    public static func paymentReference(ofCustomerOrderCode code: String) -> String {
        guard let dot = code.lastIndex(of: "."), Int(code[code.index(after: dot)...]) != nil else { return code }
        return String(code[..<dot])
    }

    public init(quote: Quote) {
        self.init(
            quote: quote, state: .quoted, attempts: 0, pspReference: nil, failureReason: nil, token: nil, ledger: nil,
            paymentStartedAt: nil)
    }

    /// Restores an order from storage (the store is trusted to have saved a value made by these transitions).
    public init(
        quote: Quote, state: OrderState, attempts: Int, pspReference: String?, failureReason: String?,
        token: DeliveryToken?, ledger: UnitLedger?, paymentStartedAt: Instant? = nil, refund: UnitRefund? = nil
    ) {
        self.quote = quote
        self.state = state
        self.attempts = attempts
        self.pspReference = pspReference
        self.failureReason = failureReason
        self.token = token
        self.ledger = ledger
        self.paymentStartedAt = paymentStartedAt
        self.refund = refund
    }

    private func with(
        state: OrderState, attempts: Int? = nil, pspReference: String?? = nil, failureReason: String?? = nil,
        token: DeliveryToken?? = nil, ledger: UnitLedger?? = nil, paymentStartedAt: Instant?? = nil,
        refund: UnitRefund?? = nil
    ) -> Order {
        Order(
            quote: quote, state: state, attempts: attempts ?? self.attempts,
            pspReference: pspReference ?? self.pspReference, failureReason: failureReason ?? self.failureReason,
            token: token ?? self.token, ledger: ledger ?? self.ledger,
            paymentStartedAt: paymentStartedAt ?? self.paymentStartedAt, refund: refund ?? self.refund)
    }

    // MARK: Payment

    /// The result of a `/payment` request on this order.
    public enum PaymentStart: Sendable, Hashable {
        /// Charge the gateway for `order.quote.total` under `order.customerOrderCode`, then record the
        /// outcome. `catalog` has the stock reserved; save both in one transaction first.
        case charge(order: Order, catalog: Catalog)
        /// Already paid: answer with the stored token; nothing is charged.
        case alreadyPaid(Order)
    }

    public static let clientMismatch = WPWError(.conflict, "Client ID does not match Order Client ID")

    /// The error a payment on an order that can no longer be paid gets: the consumer selects again.
    static func noLongerPayable(_ order: Order) -> WPWError {
        var data: [String: JSONValue] = ["paymentReferenceId": .string(order.paymentReferenceID), "state": .string(order.state.rawValue)]
        if order.state != .abandoned { data["refund"] = .string(order.state == .refunded ? "issued" : "pending") }
        return WPWError(
            .expired,
            "the payment for \(order.paymentReferenceID) was never confirmed by the gateway and this quote can no longer be paid; select again",
            data: .object(data))
    }

    /// Starts a payment. Throws `conflict` (client id differs, with Go's message; a payment is already in
    /// progress), `paymentOutcomeUnknown` (a previous charge must be reconciled first), `expired` (the quote
    /// expired, or an earlier attempt was abandoned), `notFound`/`outOfStock` (the price is gone or its stock
    /// cannot cover the units).
    public func startPayment(clientID: String, now: Instant, catalog: Catalog) throws -> PaymentStart {
        guard clientID == quote.clientID else { throw Order.clientMismatch }
        switch state {
        case .paid:
            return .alreadyPaid(self)
        case .paymentPending:
            throw WPWError(.conflict, "a payment for this order is already in progress")
        case .outcomeUnknown:
            throw WPWError(
                .paymentOutcomeUnknown, "the outcome of an earlier payment is unknown; it is being reconciled",
                data: ["paymentReferenceId": .string(paymentReferenceID)])
        case .abandoned, .refundPending, .refunded:
            throw Order.noLongerPayable(self)
        case .quoted, .failed:
            guard !quote.isExpired(at: now) else { throw WPWError(.expired, "quote \(paymentReferenceID) has expired") }
            let reserved = try catalog.reservingStock(serviceID: quote.serviceID, priceID: quote.priceID, units: quote.units)
            return .charge(
                order: with(state: .paymentPending, attempts: attempts + 1, failureReason: .some(nil), paymentStartedAt: .some(now)),
                catalog: reserved)
        }
    }

    /// The gateway charged (its answer, or a reconciliation lookup, matched this attempt): issue the token
    /// and open the ledger. Allowed from `paymentPending` and `outcomeUnknown`.
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

    /// The gateway's own answer proves nothing was charged: the order can be paid again and the stock goes
    /// back.
    public func paymentFailed(reason: String, catalog: Catalog) throws -> (order: Order, catalog: Catalog) {
        guard state == .paymentPending || state == .outcomeUnknown else {
            throw WPWError(.conflict, "cannot record a failed payment for an order in state \(state.rawValue)")
        }
        return (with(state: .failed, failureReason: .some(reason)), releasingStock(catalog))
    }

    /// The charge may or may not have happened (timeout, 5xx, crash): keep the stock reserved and reconcile.
    public func paymentOutcomeUnknown(reason: String) throws -> Order {
        guard state == .paymentPending else {
            throw WPWError(.conflict, "cannot mark an order in state \(state.rawValue) as unknown")
        }
        return with(state: .outcomeUnknown, failureReason: .some(reason))
    }

    /// Reconciliation gave up waiting for the gateway to know the attempt (``PaymentRecovery``): the stock
    /// goes back, the reference can no longer be paid, and the attempt stays watched for a late charge.
    public func paymentAbandoned(reason: String, catalog: Catalog) throws -> (order: Order, catalog: Catalog) {
        guard state == .outcomeUnknown || state == .paymentPending else {
            throw WPWError(.conflict, "cannot abandon an order in state \(state.rawValue)")
        }
        return (with(state: .abandoned, failureReason: .some(reason)), releasingStock(catalog))
    }

    /// A charge of an abandoned attempt turned up at the gateway: it cannot be honoured (the consumer was
    /// told it was not taken, the stock is gone), so it is to be refunded. Durable before the refund call.
    public func lateChargeFound(orderCode: String) throws -> Order {
        guard state == .abandoned else {
            throw WPWError(.conflict, "cannot refund a late charge of an order in state \(state.rawValue)")
        }
        return with(state: .refundPending, pspReference: .some(orderCode))
    }

    /// The gateway confirmed the refund of the late charge.
    public func refundCompleted() throws -> Order {
        guard state == .refundPending else {
            throw WPWError(.conflict, "cannot complete a refund of an order in state \(state.rawValue)")
        }
        return with(state: .refunded)
    }

    private func releasingStock(_ catalog: Catalog) -> Catalog {
        // A price removed meanwhile has no stock to give back.
        (try? catalog.releasingStock(serviceID: quote.serviceID, priceID: quote.priceID, units: quote.units)) ?? catalog
    }

    // MARK: Refunds of undelivered units

    /// True when the token of this paid order has expired with its refund not decided yet and its price
    /// refunds on expiry.
    public func expiryRefundDue(now: Instant) -> Bool {
        guard state == .paid, refund == nil, let token, token.refundOnExpiry else { return false }
        return now >= token.expiry
    }

    /// Decides the refund of the undelivered units (``UnitRefund/decide(reason:ledger:unitPrice:total:paymentReferenceID:)``):
    /// `expiry` once the token has expired, `requested` before. Durable before the gateway is asked. A
    /// refund already decided is returned unchanged (`alreadyDecided`). Throws `refundNotOffered` when the
    /// order's price does not refund (`refundOnExpiry` off in its token), `nothingToRefund`, `conflict` for an
    /// order that is not paid.
    public func startingRefund(now: Instant) throws -> (order: Order, alreadyDecided: Bool) {
        if refund != nil, state == .paid { return (self, true) }
        guard state == .paid, let token, let ledger else {
            throw WPWError(.conflict, "cannot refund units of an order in state \(state.rawValue)")
        }
        guard token.refundOnExpiry else {
            throw WPWError(
                .refundNotOffered, "this producer does not refund the units of this service",
                data: ["paymentReferenceId": .string(paymentReferenceID), "reason": "notAllowed"])
        }
        let reason: RefundReason = now >= token.expiry ? .expiry : .requested
        let refund = try UnitRefund.decide(
            reason: reason, ledger: ledger, unitPrice: quote.unitPrice, total: quote.total, paymentReferenceID: paymentReferenceID)
        return (with(state: state, refund: .some(refund)), false)
    }

    /// The gateway shows the refund: it is issued.
    public func refundIssued() throws -> Order {
        guard state == .paid, let refund else {
            throw WPWError(.conflict, "no refund to confirm for an order in state \(state.rawValue)")
        }
        return with(state: state, refund: .some(try refund.issued()))
    }

    /// The error a begin gets after the units were refunded.
    func refusingRefundedUnits() throws {
        guard let refund, refund.status != .nothing else { return }
        var data = refund.json
        data["paymentReferenceId"] = .string(paymentReferenceID)
        throw WPWError(.unitsRefunded, "the undelivered units of this purchase were refunded and can no longer be delivered", data: .object(data))
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
        try refusingRefundedUnits()
        guard let ledger else { throw DeliveryToken.invalidKey }
        let (next, granted) = try ledger.begin(requested: requestedUnits, at: now)
        return (with(state: state, ledger: .some(next)), granted)
    }

    /// The delivery lease: units a consumer began and never ended are not held for ever. When the oldest
    /// delivery in flight began at least `lease` ago, they are settled as an end that reports nothing
    /// (`policy`: by default they go back to the consumer's remaining units, as the consumer's own report of
    /// 0 would; a producer that commits unreported units commits them). Returns nil when nothing is due.
    public func settlingExpiredLease(now: Instant, lease: Duration, policy: UnitLedger.EndPolicy = .releaseUnreported) -> (order: Order, units: Int)? {
        guard state == .paid, let ledger, ledger.inFlight > 0, let since = ledger.inFlightSince,
              let due = since.adding(lease), now >= due,
              let (next, _) = try? ledger.end(reported: 0, policy: policy)
        else { return nil }
        return (with(state: state, ledger: .some(next)), ledger.inFlight)
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
