/// Unit accounting for one paid order (producer) or one purchase (consumer).
///
/// Invariants, kept by every transition: `0 ≤ delivered`, `0 ≤ inFlight`, `delivered + inFlight ≤ purchased`,
/// so `remaining ≥ 0`; `delivered` never decreases, so no sequence of calls (replays included) restores a
/// delivered unit. A transition returns a new value or throws a `WPWError`; the receiver never changes.
public struct UnitLedger: Sendable, Hashable {
    public let purchased: Int
    /// Units committed by `end`.
    public let delivered: Int
    /// Units reserved by `begin` and not yet ended.
    public let inFlight: Int
    /// When the oldest delivery still in flight began (nil when nothing is in flight, or not tracked): the
    /// producer's delivery lease is measured from it.
    public let inFlightSince: Instant?

    /// Units that can still be begun.
    public var remaining: Int { purchased - delivered - inFlight }
    /// Units paid for and not yet committed (what the HTE `unitsRemaining` reports after an end).
    public var undelivered: Int { purchased - delivered }

    /// What happens to in-flight units the `end` report does not cover.
    public enum EndPolicy: Sendable, Hashable {
        /// They go back to `remaining` (the Go counters: `unitsRemaining = purchased − received`).
        case releaseUnreported
        /// They count as delivered (a producer that does not trust consumer reports).
        case commitUnreported
    }

    public init(purchased: Int) throws {
        guard purchased > 0 else { throw WPWError.invalidParams(field: "units", "units must be greater than zero") }
        self.init(unchecked: purchased, delivered: 0, inFlight: 0, since: nil)
    }

    /// Restores a ledger from storage, checking the invariants.
    public init(purchased: Int, delivered: Int, inFlight: Int, inFlightSince: Instant? = nil) throws {
        guard purchased > 0, delivered >= 0, inFlight >= 0, delivered <= purchased, inFlight <= purchased - delivered else {
            throw WPWError(.conflict, "inconsistent unit ledger \(delivered)+\(inFlight)/\(purchased)")
        }
        self.init(unchecked: purchased, delivered: delivered, inFlight: inFlight, since: inFlight > 0 ? inFlightSince : nil)
    }

    private init(unchecked purchased: Int, delivered: Int, inFlight: Int, since: Instant?) {
        self.purchased = purchased
        self.delivered = delivered
        self.inFlight = inFlight
        self.inFlightSince = inFlight > 0 ? since : nil
    }

    /// The ledger as JSON for error `data` and events: `{"purchased","delivered","inFlight"}`. A producer
    /// sends it with a refused begin or end so that the consumer can bring its record into line.
    public var json: JSONValue {
        ["purchased": .int(Int64(purchased)), "delivered": .int(Int64(delivered)), "inFlight": .int(Int64(inFlight))]
    }

    /// The ledger a peer sent as ``json``, or nil when `value` is not one.
    public init?(json value: JSONValue?) {
        guard let purchased = value?["purchased"]?.int64Value, let delivered = value?["delivered"]?.int64Value,
              let inFlight = value?["inFlight"]?.int64Value,
              let ledger = try? UnitLedger(purchased: Int(purchased), delivered: Int(delivered), inFlight: Int(inFlight))
        else { return nil }
        self = ledger
    }

    /// Reserves `min(requested, remaining)` units (the Go producer's clamp). Throws `invalidParams` for
    /// `requested ≤ 0` and `insufficientUnits` when nothing remains.
    public func begin(requested: Int, at now: Instant? = nil) throws -> (ledger: UnitLedger, granted: Int) {
        guard requested > 0 else {
            throw WPWError.invalidParams(field: "unitsToSupply", "units must be greater than zero")
        }
        guard remaining > 0 else {
            throw WPWError(.insufficientUnits, "Too many units requested", data: ["remaining": 0, "ledger": json])
        }
        let granted = min(requested, remaining)
        return (UnitLedger(unchecked: purchased, delivered: delivered, inFlight: inFlight + granted, since: inFlightSince ?? now), granted)
    }

    /// Commits `reported` units (or all in flight, by policy) and closes every open delivery (the wire has
    /// no delivery id). Throws `invalidParams` for `reported < 0` or more than the units begun, and `conflict`
    /// when nothing was begun (an end without a begin, or a replayed end). A throw changes nothing.
    public func end(reported: Int, policy: EndPolicy = .releaseUnreported) throws -> (ledger: UnitLedger, committed: Int) {
        guard reported >= 0 else {
            throw WPWError.invalidParams(field: "unitsReceived", "units must not be negative")
        }
        guard inFlight > 0 else {
            throw WPWError(.conflict, "no delivery in progress: end without begin", data: ["ledger": json])
        }
        guard reported <= inFlight else {
            throw WPWError(
                .invalidParams, "unitsReceived (\(reported)) is more than the \(inFlight) units begun",
                data: ["field": "unitsReceived", "unitsInFlight": .int(Int64(inFlight)), "ledger": json])
        }
        let committed: Int
        switch policy {
        case .releaseUnreported: committed = min(reported, inFlight)
        case .commitUnreported: committed = inFlight
        }
        return (UnitLedger(unchecked: purchased, delivered: delivered + committed, inFlight: 0, since: nil), committed)
    }

    /// Gives back `units` in-flight units without delivering them (a peer granted fewer than reserved).
    public func release(units: Int) throws -> UnitLedger {
        guard units >= 0 else { throw WPWError.invalidParams(field: "units", "units must not be negative") }
        guard units <= inFlight else {
            throw WPWError(.conflict, "cannot release \(units) units, only \(inFlight) in flight")
        }
        return UnitLedger(unchecked: purchased, delivered: delivered, inFlight: inFlight - units, since: inFlightSince)
    }

    /// Brings a consumer's mirror into line with the producer's ledger (which decides the units): never
    /// fewer units delivered than already recorded here (a Go producer reports nothing reliable).
    public func synced(to producer: UnitLedger) throws -> UnitLedger {
        guard producer.purchased == purchased else {
            throw WPWError(.peerProtocol, "the producer's ledger has \(producer.purchased) units, not \(purchased)")
        }
        let delivered = max(self.delivered, producer.delivered)
        let inFlight = min(producer.inFlight, purchased - delivered)
        return UnitLedger(unchecked: purchased, delivered: delivered, inFlight: inFlight, since: inFlightSince)
    }
}
