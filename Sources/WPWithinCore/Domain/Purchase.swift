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

    public var bought: Int { ledger.purchased }
    public var delivered: Int { ledger.delivered }
    public var inFlight: Int { ledger.inFlight }
    public var remaining: Int { ledger.remaining }

    public init(
        serverID: String, clientID: String, serviceID: Int, priceID: Int, paymentReferenceID: String,
        totalPaid: Money, tokenKey: String, expiry: Instant, ledger: UnitLedger
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

    private func with(_ ledger: UnitLedger) -> Purchase {
        Purchase(
            serverID: serverID, clientID: clientID, serviceID: serviceID, priceID: priceID,
            paymentReferenceID: paymentReferenceID, totalPaid: totalPaid, tokenKey: tokenKey, expiry: expiry,
            ledger: ledger)
    }

    public func isExpired(at now: Instant) -> Bool { now >= expiry }

    /// Reserves up to `requested` units locally before asking the producer. Throws `expired`, plus the
    /// ledger's errors.
    public func beginDelivery(requested: Int, now: Instant) throws -> (purchase: Purchase, reserved: Int) {
        guard !isExpired(at: now) else { throw DeliveryToken.hasExpired }
        let (next, granted) = try ledger.begin(requested: requested)
        return (with(next), granted)
    }

    /// The producer granted `granted` of the `reserved` units: give the difference back.
    public func confirmBegin(reserved: Int, granted: Int) throws -> Purchase {
        guard granted >= 0, granted <= reserved else {
            throw WPWError(.peerProtocol, "producer granted \(granted) units, more than the \(reserved) asked for")
        }
        return with(try ledger.release(units: reserved - granted))
    }

    /// Records the end of a delivery: commits at most the units in flight.
    public func endDelivery(received: Int) throws -> (purchase: Purchase, committed: Int) {
        let (next, committed) = try ledger.end(reported: received)
        return (with(next), committed)
    }
}
