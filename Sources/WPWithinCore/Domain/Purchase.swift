/// A delivery call whose answer never came (a timeout, a cut connection): the producer may or may not have
/// acted on it, so the consumer's record cannot say yet. The next call settles it with the producer, whose
/// ledger decides.
public enum UnsettledDelivery: Sendable, Hashable {
    /// A begin for `units` got no answer: the producer may hold them in flight. Ending the delivery (with the
    /// units received) settles it either way.
    case begin(units: Int)
    /// An end reporting `units` got no answer: the producer may have committed them. Sending it again settles it.
    case end(units: Int)

    public var name: String {
        switch self {
        case .begin: "begin"
        case .end: "end"
        }
    }

    public var units: Int {
        switch self {
        case .begin(let units), .end(let units): units
        }
    }

    public init?(name: String?, units: Int?) {
        switch (name, units) {
        case ("begin", let units?): self = .begin(units: units)
        case ("end", let units?): self = .end(units: units)
        default: return nil
        }
    }
}

/// The consumer's record of units bought from a producer, with the same ledger rules as the producer.
public struct Purchase: Sendable, Hashable {
    public let serverID: String
    public let clientID: String
    public let serviceID: Int
    public let priceID: Int
    public let paymentReferenceID: String
    public let totalPaid: Money
    /// The token key (the token itself is kept verbatim by the caller, to echo it back).
    public let tokenKey: String
    /// The expiry the producer stated in the token.
    public let expiry: Instant
    public let ledger: UnitLedger
    /// A delivery call that got no answer, to settle on the next call.
    public let unsettled: UnsettledDelivery?

    public var bought: Int { ledger.purchased }
    public var delivered: Int { ledger.delivered }
    public var inFlight: Int { ledger.inFlight }
    public var remaining: Int { ledger.remaining }

    public init(
        serverID: String, clientID: String, serviceID: Int, priceID: Int, paymentReferenceID: String,
        totalPaid: Money, tokenKey: String, expiry: Instant, ledger: UnitLedger, unsettled: UnsettledDelivery? = nil
    ) {
        self.serverID = serverID
        self.clientID = clientID
        self.serviceID = serviceID
        self.priceID = priceID
        self.paymentReferenceID = paymentReferenceID
        self.totalPaid = totalPaid
        self.tokenKey = tokenKey
        self.expiry = expiry
        self.ledger = ledger
        self.unsettled = unsettled
    }

    public init(
        serverID: String, clientID: String, serviceID: Int, priceID: Int, paymentReferenceID: String,
        totalPaid: Money, tokenKey: String, expiry: Instant, units: Int
    ) throws {
        self.init(
            serverID: serverID, clientID: clientID, serviceID: serviceID, priceID: priceID,
            paymentReferenceID: paymentReferenceID, totalPaid: totalPaid, tokenKey: tokenKey, expiry: expiry,
            ledger: try UnitLedger(purchased: units))
    }

    private func with(_ ledger: UnitLedger, unsettled: UnsettledDelivery?) -> Purchase {
        Purchase(
            serverID: serverID, clientID: clientID, serviceID: serviceID, priceID: priceID,
            paymentReferenceID: paymentReferenceID, totalPaid: totalPaid, tokenKey: tokenKey, expiry: expiry,
            ledger: ledger, unsettled: unsettled)
    }

    public func isExpired(at now: Instant) -> Bool { now >= expiry }

    /// Reserves up to `requested` units locally before asking the producer. Throws `expired`, plus the
    /// ledger's errors.
    ///
    /// Refused (`conflict`) while an earlier delivery is unsettled: a begin that got no answer must be ended
    /// first (only the app knows how many units it received), and an unanswered end must be sent again.
    public func beginDelivery(requested: Int, now: Instant) throws -> (purchase: Purchase, reserved: Int) {
        if let unsettled {
            throw WPWError(
                .conflict,
                unsettled.name == "begin"
                    ? "an earlier delivery of this purchase is unsettled (its begin got no answer from the producer); end it with endServiceDelivery and the units received"
                    : "an earlier end of a delivery of this purchase got no answer from the producer; send it again with endServiceDelivery",
                data: ["unsettled": .string(unsettled.name), "units": .int(Int64(unsettled.units))])
        }
        guard !isExpired(at: now) else { throw DeliveryToken.hasExpired }
        let (next, granted) = try ledger.begin(requested: requested, at: now)
        return (with(next, unsettled: nil), granted)
    }

    /// The producer granted `granted` of the `reserved` units: give the difference back.
    public func confirmBegin(reserved: Int, granted: Int) throws -> Purchase {
        guard granted >= 0, granted <= reserved else {
            throw WPWError(.peerProtocol, "producer granted \(granted) units, more than the \(reserved) asked for")
        }
        return with(try ledger.release(units: reserved - granted), unsettled: nil)
    }

    /// The producer granted `granted` units of a begin that reserved nothing here beforehand (the consumer
    /// checks with `beginDelivery`, asks, then records the answer in one step): they go in flight, as many
    /// as this record has left (the producer's ledger decides; this is its mirror). No expiry check: the
    /// producer has granted them.
    public func beginGranted(_ granted: Int, at now: Instant) throws -> (purchase: Purchase, inFlight: Int) {
        guard granted >= 0 else { throw WPWError(.peerProtocol, "producer granted \(granted) units") }
        guard granted > 0, remaining > 0 else { return (with(ledger, unsettled: nil), 0) }
        let (next, added) = try ledger.begin(requested: granted, at: now)
        return (with(next, unsettled: nil), added)
    }

    /// A begin for `units` got no answer and nothing was reserved here for it: the units the producer may
    /// have granted (as many as remain) go in flight, marked unsettled, so the next call settles them. When a
    /// concurrent begin took what remained meanwhile, the units already in flight are marked instead (the
    /// next end settles them with the producer, whose ledger decides); with nothing left at all, nothing
    /// changes.
    public func beginSentUnanswered(units: Int, at now: Instant) throws -> Purchase {
        guard remaining > 0 else {
            guard inFlight > 0 else { return self }
            return try beginUnanswered(reserved: min(max(units, 1), inFlight))
        }
        let (next, reserved) = try ledger.begin(requested: units, at: now)
        return try with(next, unsettled: nil).beginUnanswered(reserved: reserved)
    }

    /// The begin for `reserved` units got no answer: they stay in flight here, marked unsettled.
    public func beginUnanswered(reserved: Int) throws -> Purchase {
        guard reserved > 0, reserved <= inFlight else {
            throw WPWError(.conflict, "cannot mark \(reserved) units unsettled, \(inFlight) in flight")
        }
        return with(ledger, unsettled: .begin(units: reserved))
    }

    /// The end reporting `received` units got no answer: nothing changes but the mark.
    public func endUnanswered(received: Int) -> Purchase {
        with(ledger, unsettled: .end(units: received))
    }

    /// Records the end of a delivery: commits at most the units in flight.
    public func endDelivery(received: Int) throws -> (purchase: Purchase, committed: Int) {
        let (next, committed) = try ledger.end(reported: received)
        return (with(next, unsettled: nil), committed)
    }

    /// The producer answered an end: `committed` units were delivered and its ledger now has
    /// `unitsRemaining` undelivered. The record takes the larger delivered count of the two (ours cannot be
    /// ahead of the producer's; a Go producer's remaining count is not kept, so it never lowers ours).
    public func endAnswered(committed: Int, unitsRemaining: Int) throws -> (purchase: Purchase, committed: Int) {
        let local = min(committed, max(inFlight, 0))
        let byProducer = bought - max(0, min(unitsRemaining, bought))
        let delivered = min(bought, max(self.delivered + local, byProducer))
        let next = try UnitLedger(purchased: bought, delivered: delivered, inFlight: 0)
        return (with(next, unsettled: nil), delivered - self.delivered)
    }

    /// Brings the record into line with the producer's ledger (sent with a refused begin or end).
    public func synced(to producer: UnitLedger) throws -> Purchase {
        with(try ledger.synced(to: producer), unsettled: nil)
    }
}
