/// An order as the gateway reports it, reduced to what the producer's money decisions need.
public struct GatewayOrder: Sendable, Hashable {
    /// The gateway's code for the order.
    public var orderCode: String
    public var customerOrderCode: String
    /// `SUCCESS`, `FAILED`, `REFUNDED`, … as the gateway spells it.
    public var paymentStatus: String
    /// Minor units charged.
    public var amount: Int64
    public var currencyCode: String
    /// Minor units refunded so far, when the gateway says.
    public var refundedAmount: Int64?

    public init(
        orderCode: String, customerOrderCode: String, paymentStatus: String, amount: Int64, currencyCode: String,
        refundedAmount: Int64? = nil
    ) {
        self.orderCode = orderCode
        self.customerOrderCode = customerOrderCode
        self.paymentStatus = paymentStatus
        self.amount = amount
        self.currencyCode = currencyCode
        self.refundedAmount = refundedAmount
    }

    /// What a `paymentStatus` says about the money.
    public enum Standing: Sendable, Hashable {
        /// The card was charged (`SUCCESS`, `SETTLED`, and the partly refunded `PARTIALLY_REFUNDED`).
        case charged
        /// The gateway's documented refusals: nothing was charged (`FAILED`, `DECLINED`, `REFUSED`,
        /// `CANCELLED`, `EXPIRED`, `ERROR`).
        case notCharged
        /// Charged and refunded in full (`REFUNDED`).
        case refunded
        /// Anything else (`AUTHORIZED`, `PENDING`, a status we do not know): not yet definite.
        case undecided
    }

    public var standing: Standing {
        switch paymentStatus.uppercased() {
        case "SUCCESS", "SETTLED", "PARTIALLY_REFUNDED": .charged
        case "FAILED", "DECLINED", "REFUSED", "CANCELLED", "EXPIRED", "ERROR": .notCharged
        case "REFUNDED": .refunded
        default: .undecided
        }
    }

    /// True when this answer is about the order the producer sent: the same customer order code, amount and
    /// currency, and the same gateway order code where one is known. An answer that does not match proves
    /// nothing about our order (a confused or hostile gateway, a proxy's cached answer).
    public func matches(customerOrderCode code: String, total: Money, orderCode known: String? = nil) -> Bool {
        guard customerOrderCode == code, amount == total.minorUnits,
              currencyCode.uppercased() == total.currency.code
        else { return false }
        if let known, known != orderCode { return false }
        return true
    }
}

/// What the producer learned from the gateway about one charge attempt.
public enum ChargeEvidence: Sendable, Hashable {
    /// The gateway charged this attempt (its answer matched the order sent).
    case charged(orderCode: String)
    /// The gateway's own answer proves nothing was charged.
    case notCharged(reason: String)
    /// Anything else: a timeout, a reset, a 5xx, an unreadable or unmatched answer. Never "failed".
    case unknown(reason: String)

    /// Classifies a 200 answer to `POST /orders` for the order sent under `customerOrderCode` for `total`.
    public static func answer(_ order: GatewayOrder, customerOrderCode: String, total: Money) -> ChargeEvidence {
        guard order.matches(customerOrderCode: customerOrderCode, total: total) else {
            return .unknown(reason: "the gateway's answer does not match the order sent")
        }
        switch order.standing {
        case .charged: return .charged(orderCode: order.orderCode)
        case .notCharged: return .notCharged(reason: "paymentStatus \(order.paymentStatus)")
        case .refunded, .undecided: return .unknown(reason: "paymentStatus \(order.paymentStatus)")
        }
    }

    /// The gateway error codes that prove an order request charged nothing: a refusal the gateway stated
    /// (decline, bad card, bad amount or currency, rejected token or key) or a request that never left
    /// (refused connection, local validation, missing key). Every other error — above all
    /// `paymentOutcomeUnknown`, and any code not listed here — leaves the outcome unknown.
    public static let definiteRefusals: Set<WPWError.Code> = [
        .paymentDeclined, .invalidCard, .gatewayRejected, .amountInvalid, .unsupportedCurrency, .credentials,
        .invalidParams, .gatewayUnavailable,
    ]

    /// Classifies an error thrown by the gateway client's order call.
    public static func error(_ error: any Error) -> ChargeEvidence {
        if let error = error as? WPWError, definiteRefusals.contains(error.code) {
            return .notCharged(reason: error.message)
        }
        if let error = error as? WPWError { return .unknown(reason: error.message) }
        return .unknown(reason: String(describing: error))
    }
}

/// How long reconciliation waits before it takes "no such order" as final, and how long it then keeps
/// watching for a late charge.
public struct PaymentRecoveryPolicy: Sendable, Hashable {
    /// An attempt the gateway does not know is abandoned only this long after it was started…
    public var settleAfter: Duration
    /// …and after at least this many lookups that found nothing.
    public var minimumNotFoundLookups: Int
    /// An abandoned attempt is looked up for a late charge until this long after it was started.
    public var watchFor: Duration

    public init(settleAfter: Duration = .seconds(900), minimumNotFoundLookups: Int = 3, watchFor: Duration = .seconds(86_400)) {
        self.settleAfter = settleAfter
        self.minimumNotFoundLookups = minimumNotFoundLookups
        self.watchFor = watchFor
    }
}

/// The reconciliation decisions as pure functions of an order, what the gateway said and the time.
public enum PaymentRecovery {
    /// What a lookup returned.
    public enum Lookup: Sendable, Hashable {
        case found(GatewayOrder)
        case notFound
        /// The lookup itself failed (timeout, 5xx, unreadable): no information.
        case failed(reason: String)
    }

    /// What to do next with an order that needs reconciliation.
    public enum Step: Sendable, Hashable {
        /// Record the charge: issue the token (`paymentPending`/`outcomeUnknown` → `paid`).
        case recordPaid(orderCode: String)
        /// Record the gateway's proof that nothing was charged (→ `failed`).
        case recordFailed(reason: String)
        /// Record that the attempt never reached the gateway (→ `abandoned`).
        case abandon(reason: String)
        /// A late charge of an abandoned attempt: record it for refund (→ `refundPending`).
        case recordLateCharge(orderCode: String)
        /// Ask the gateway to refund `amount` minor units of the late charge (its lookup shows it unrefunded).
        case refund(orderCode: String, amount: Int64)
        /// The gateway shows the late charge refunded (→ `refunded`).
        case recordRefunded
        /// Nothing definite yet: look again later. `notFound` counts towards abandoning; `mismatch` says the
        /// gateway answered with some other order (worth an error in the log).
        case wait(notFound: Bool, mismatch: Bool)
        /// An abandoned attempt past its watch: stop looking.
        case stopWatching
    }

    /// Which lookup an order needs: by customer order code (an attempt whose gateway order code is unknown)
    /// or by the gateway's order code (a late charge being refunded).
    public enum LookupKey: Sendable, Hashable {
        case customerOrderCode(String)
        case orderCode(String)
    }

    public static func lookupKey(for order: Order) -> LookupKey {
        if order.state == .refundPending, let code = order.pspReference { return .orderCode(code) }
        return .customerOrderCode(order.customerOrderCode)
    }

    /// The next step for `order` after `lookup`, at `now`, with `notFoundSoFar` earlier lookups of this
    /// attempt that found nothing.
    public static func next(
        _ order: Order, lookup: Lookup, notFoundSoFar: Int, now: Instant, policy: PaymentRecoveryPolicy
    ) -> Step {
        let started = order.paymentStartedAt ?? order.quote.createdAt
        switch order.state {
        case .paymentPending, .outcomeUnknown:
            switch lookup {
            case .found(let found):
                guard found.matches(customerOrderCode: order.customerOrderCode, total: order.quote.total) else {
                    return .wait(notFound: false, mismatch: true)
                }
                switch found.standing {
                case .charged: return .recordPaid(orderCode: found.orderCode)
                case .notCharged: return .recordFailed(reason: "gateway: paymentStatus \(found.paymentStatus)")
                case .refunded: return .recordFailed(reason: "gateway: charged and refunded in full")
                case .undecided: return .wait(notFound: false, mismatch: false)
                }
            case .notFound:
                let settled = started.adding(policy.settleAfter).map { now >= $0 } ?? false
                if settled && notFoundSoFar + 1 >= policy.minimumNotFoundLookups {
                    return .abandon(reason: "the gateway has no order \(order.customerOrderCode) after \(notFoundSoFar + 1) lookups")
                }
                return .wait(notFound: true, mismatch: false)
            case .failed:
                return .wait(notFound: false, mismatch: false)
            }
        case .abandoned:
            if case .found(let found) = lookup {
                guard found.matches(customerOrderCode: order.customerOrderCode, total: order.quote.total) else {
                    return .wait(notFound: false, mismatch: true)
                }
                switch found.standing {
                case .charged: return .recordLateCharge(orderCode: found.orderCode)
                case .notCharged, .refunded, .undecided: break
                }
            }
            let watching = started.adding(policy.watchFor).map { now < $0 } ?? false
            return watching ? .wait(notFound: lookup == .notFound, mismatch: false) : .stopWatching
        case .refundPending:
            guard case .found(let found) = lookup else { return .wait(notFound: false, mismatch: false) }
            guard let code = order.pspReference,
                  found.matches(customerOrderCode: order.customerOrderCode, total: order.quote.total, orderCode: code)
            else { return .wait(notFound: false, mismatch: true) }
            let refunded = found.refundedAmount ?? (found.standing == .refunded ? found.amount : 0)
            if found.standing == .refunded || refunded >= found.amount { return .recordRefunded }
            return .refund(orderCode: code, amount: found.amount - refunded)
        case .quoted, .paid, .failed, .refunded:
            return .stopWatching
        }
    }

    /// The delay before the next lookup of an order after `lookups` lookups: doubling from `base`, at most
    /// `cap`.
    public static func backoff(lookups: Int, base: Duration, cap: Duration) -> Duration {
        var delay = base
        var n = 0
        while n < lookups && delay < cap {
            delay = delay * 2
            n += 1
        }
        return min(delay, cap)
    }
}
