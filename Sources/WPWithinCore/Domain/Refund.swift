/// Why the undelivered units of a paid order were refunded.
public enum RefundReason: String, Sendable, Hashable, CaseIterable {
    /// The token expired with units left (`refundOnExpiry`).
    case expiry
    /// The consumer asked (`requestRefund`) before the token expired.
    case requested
}

/// Where a refund of undelivered units stands.
///
///     (none yet) ──start, units > 0──► pending ──gateway shows it refunded──► issued
///          └────expiry, nothing left──► nothing
///
/// `pending` is durable before the gateway is asked; reconciliation looks the charge up (its
/// `refundedAmount`) before asking again, so one order is refunded at most once, even across a crash.
public enum RefundStatus: String, Sendable, Hashable, CaseIterable {
    /// Recorded; the gateway has not confirmed it yet.
    case pending
    /// The gateway confirmed it.
    case issued
    /// The token expired with nothing left to refund (every unit delivered or in flight): closed, no gateway call.
    case nothing
}

/// The refund of the undelivered units of one paid order: decided once (units and amount never change),
/// then confirmed by the gateway. A value; its transitions return a new value or throw.
public struct UnitRefund: Sendable, Hashable {
    public let reason: RefundReason
    public let status: RefundStatus
    /// Units refunded: the ledger's `remaining` when the refund was decided (never a unit delivered or in flight).
    public let units: Int
    /// `units × unit price`, in minor units of the order's currency.
    public let amount: Money

    public init(reason: RefundReason, status: RefundStatus, units: Int, amount: Money) {
        self.reason = reason
        self.status = status
        self.units = units
        self.amount = amount
    }

    /// A refund from its stored columns (`refund_reason, refund_status, refund_units, refund_amount`), nil
    /// when none is recorded; `internalError` when they do not make one.
    public static func restore(reason: String?, status: String?, units: Int?, amount: Int64?, currency: Currency) throws -> UnitRefund? {
        guard let status else { return nil }
        guard let status = RefundStatus(rawValue: status), let reason = reason.flatMap(RefundReason.init(rawValue:)),
              let units, let amount
        else { throw WPWError(.internalError, "store: inconsistent refund columns") }
        return UnitRefund(reason: reason, status: status, units: units, amount: Money(minorUnits: amount, currency: currency))
    }

    /// The amount of refunding `units` at `unitPrice`: exact integer arithmetic, never more than `total`.
    /// Throws `amountInvalid` on overflow or a negative count.
    public static func amount(units: Int, unitPrice: Money, total: Money) throws -> Money {
        guard units >= 0, let amount = unitPrice.multiplied(by: Int64(units)) else {
            throw WPWError(.amountInvalid, "refund amount of \(units) units overflows")
        }
        guard amount.minorUnits <= total.minorUnits else {
            throw WPWError(.amountInvalid, "refund of \(amount.minorUnits) exceeds the \(total.minorUnits) charged")
        }
        return amount
    }

    /// Decides the refund of what `ledger` has left: its `remaining` units (units in flight are excluded:
    /// they may have been delivered; a later end still settles them). Nothing left: `nothing` for an expiry,
    /// `nothingToRefund` for a request.
    public static func decide(
        reason: RefundReason, ledger: UnitLedger, unitPrice: Money, total: Money, paymentReferenceID: String
    ) throws -> UnitRefund {
        let units = ledger.remaining
        guard units > 0 else {
            if reason == .expiry { return UnitRefund(reason: reason, status: .nothing, units: 0, amount: Money(minorUnits: 0, currency: total.currency)) }
            throw WPWError(
                .nothingToRefund, "nothing to refund: every unit paid for was delivered or is in flight",
                data: ["paymentReferenceId": .string(paymentReferenceID), "ledger": ledger.json])
        }
        return UnitRefund(
            reason: reason, status: .pending, units: units,
            amount: try amount(units: units, unitPrice: unitPrice, total: total))
    }

    /// The gateway confirmed the refund.
    public func issued() throws -> UnitRefund {
        guard status == .pending else {
            throw WPWError(.conflict, "cannot confirm a refund in state \(status.rawValue)")
        }
        return UnitRefund(reason: reason, status: .issued, units: units, amount: amount)
    }

    /// The refund as JSON for events, answers and error `data`.
    public var json: [String: JSONValue] {
        [
            "reason": .string(reason.rawValue), "status": .string(status.rawValue),
            "unitsRefunded": .int(Int64(units)), "amountRefunded": .int(amount.minorUnits),
            "currencyCode": .string(amount.currency.code),
        ]
    }
}

/// The reconciliation of a pending refund, as a pure function of what the gateway shows about the charge.
public enum RefundRecovery {
    public enum Step: Sendable, Hashable {
        /// The charge shows no refund: ask the gateway to refund `amount` minor units of `orderCode`.
        case refund(orderCode: String, amount: Int64)
        /// The charge shows the refund (its `refundedAmount` covers it): record it issued.
        case recordIssued
        /// Nothing definite (no answer, another order, a partial refund that is not ours): look again later.
        case wait(mismatch: Bool)
    }

    /// The next step for `order` (with a pending refund) after looking up its charge.
    public static func next(_ order: Order, lookup: PaymentRecovery.Lookup) -> Step {
        guard let refund = order.refund, refund.status == .pending, let code = order.pspReference else { return .wait(mismatch: false) }
        guard case .found(let found) = lookup else { return .wait(mismatch: false) }
        guard found.matches(customerOrderCode: order.customerOrderCode, total: order.quote.total, orderCode: code) else {
            return .wait(mismatch: true)
        }
        let refunded = found.refundedAmount ?? (found.standing == .refunded ? found.amount : 0)
        if refunded >= refund.amount.minorUnits { return .recordIssued }
        // One refund per order: anything refunded already that is less than ours is not ours.
        if refunded > 0 { return .wait(mismatch: true) }
        return .refund(orderCode: code, amount: refund.amount.minorUnits)
    }
}

/// The consumer's record of a producer's refund of a purchase's undelivered units, as the producer answered
/// its refund route (docs/payments.md). `issued` is final: a later answer never changes it.
public struct PurchaseRefund: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable, CaseIterable {
        /// The producer recorded the refund; the gateway has not confirmed it yet (ask again).
        case pending
        /// The producer's gateway confirmed it: the money is back.
        case issued
        /// Nothing to ask for: the producer has nothing to refund, or does not offer refunds (stored `none`).
        case closed = "none"
    }

    public let status: Status
    public let reason: RefundReason?
    public let units: Int
    /// Minor units of the purchase's currency.
    public let amount: Int64

    public init(status: Status, reason: RefundReason?, units: Int, amount: Int64) {
        self.status = status
        self.reason = reason
        self.units = units
        self.amount = amount
    }

    /// No refund to expect (nothing left, or refunds not offered).
    public static let noRefund = PurchaseRefund(status: .closed, reason: nil, units: 0, amount: 0)

    /// The producer's answer (`status`, `reason`, units, amount, currency) checked against the purchase:
    /// never more units than bought nor more money than paid, in the purchase's currency. Throws
    /// `peerProtocol` otherwise.
    public static func answer(
        status: String, reason: String, units: Int, amount: Int64, currencyCode: String, bought: Int, paid: Money
    ) throws -> PurchaseRefund {
        let mapped: Status
        switch status {
        case "pending": mapped = .pending
        case "issued": mapped = .issued
        case "nothing": mapped = .closed
        default: throw WPWError(.peerProtocol, "the producer's refund has an unknown status \(status)")
        }
        guard units >= 0, units <= bought, amount >= 0, amount <= paid.minorUnits, currencyCode == paid.currency.code,
              mapped == .closed || (units > 0 && amount > 0)
        else {
            throw WPWError(
                .peerProtocol, "the producer's refund of \(units) unit(s) for \(amount) \(currencyCode) does not fit the purchase",
                data: ["unitsBought": .int(Int64(bought)), "totalPaid": .int(paid.minorUnits)])
        }
        return PurchaseRefund(status: mapped, reason: RefundReason(rawValue: reason), units: units, amount: amount)
    }

    /// The record after `answer`: an issued refund stays as it is. Returns whether the refund was issued by
    /// this answer (the moment of `consumer.refundReceived`).
    public static func recording(_ answer: PurchaseRefund, over current: PurchaseRefund?) -> (record: PurchaseRefund, issuedNow: Bool) {
        if let current, current.status == .issued { return (current, false) }
        return (answer, answer.status == .issued)
    }

    /// `listPurchases`' view: `unitsRefunded`/`amountRefunded` count only an issued refund.
    public var unitsRefunded: Int { status == .issued ? units : 0 }
    public var amountRefunded: Int64 { status == .issued ? amount : 0 }
}
