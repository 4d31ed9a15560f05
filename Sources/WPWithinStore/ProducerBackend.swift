import WPWithinCore

/// Where a producer keeps its money and units: the catalog with its stock, orders with their payments,
/// delivery tokens and unit ledgers. The daemon's producer (`ProducerEngine`, `PaymentRecoveryService`)
/// works through this and nothing else, so the same engine runs on one Thing's SQLite file (``Store``, the
/// default) or on a fleet's shared PostgreSQL (`WPWithinFleet`, docs/fleet.md).
///
/// Every method that changes state is one transition: it loads what it needs, applies the pure domain
/// transition (`Order`, `Catalog`, `UnitLedger`), writes the result and its events atomically, and returns
/// the value with the events committed with it (publish them after the call returns). A domain error
/// changes nothing and comes back unchanged as a `WPWError`.
public protocol ProducerBackend: Sendable {
    /// The fleet this producer's store is shared with (told to consumers in the service list), nil for a
    /// single Thing's own store.
    var fleetID: String? { get }
    /// The catalog with the current stock levels.
    func catalog() async throws -> Catalog
    /// Adds a service with its prices (`alreadyExists` when the id is taken).
    func addService(_ service: Service, now: Instant) async throws -> Committed<Catalog>
    /// Replaces a service and all its prices, stock included (`notFound` when missing); orders already quoted
    /// keep their snapshot. Publishes `producer.serviceReplaced`.
    func replaceService(_ service: Service, now: Instant) async throws -> Committed<Catalog>
    /// Removes a service and its prices (`notFound` when missing).
    func removeService(id: Int, now: Instant) async throws -> Committed<Catalog>

    /// `requestTotal`: prices the units and stores the order in state `quoted` (nothing reserved).
    func createQuote(serviceID: Int, priceID: Int, units: Int, clientID: String, now: Instant) async throws -> Committed<Quote>
    /// The order with this payment reference, or nil.
    func order(paymentReferenceID: String) async throws -> Order?

    /// `/payment`, step 1: the pending order and its reserved stock are durable when this returns `.charge`.
    func startPayment(paymentReferenceID: String, clientID: String, now: Instant) async throws -> Committed<PaymentStart>
    func recordPaymentSucceeded(
        paymentReferenceID: String, pspOrderCode: String, tokenTTL: Duration, refundOnExpiry: Bool, now: Instant
    ) async throws -> Committed<Order>
    /// A payment step after the charge started (``PaymentStep``): the order, and any stock it releases,
    /// written with the step's event.
    func record(_ step: PaymentStep, paymentReferenceID: String, now: Instant) async throws -> Committed<Order>
    /// Orders whose money is not accounted for yet (see ``Store/ordersNeedingReconciliation(watchingSince:)``).
    func ordersNeedingReconciliation(watchingSince: Instant?) async throws -> [Order]

    /// `delivery/begin` and `delivery/end` (see ``Store/beginDelivery(token:clientID:serviceID:units:now:lease:policy:)``).
    func beginDelivery(
        token: PresentedToken, clientID: String?, serviceID: Int, units: Int, now: Instant, lease: Duration?,
        policy: UnitLedger.EndPolicy
    ) async throws -> Committed<DeliveryGrant>
    func endDelivery(
        token: PresentedToken, clientID: String?, serviceID: Int, unitsReceived: Int, now: Instant,
        policy: UnitLedger.EndPolicy
    ) async throws -> Committed<DeliveryEnd>

    /// The paid order holding the token with this key, or nil.
    func order(tokenKey: String) async throws -> Order?
    /// Decides the refund of an order's undelivered units (``Order/startingRefund(now:)``) and writes it
    /// (`pending`: durable before the gateway is asked), or returns the refund already decided, unchanged.
    /// A `.token` target is verified as a delivery end is (key, signature, client, service; not the expiry).
    func startRefund(_ target: RefundTarget, now: Instant) async throws -> Committed<Order>
    /// The refunds to work on: orders whose refund is `pending`, and paid orders whose token expired with
    /// their refund undecided (`refundOnExpiry`); and the earliest expiry still to come.
    func refundWork(now: Instant) async throws -> RefundWork

    /// Takes `reference` for one charge or one reconciliation against every other process that shares this
    /// backend; false when another holds it. The caller already excludes its own concurrent work. One Thing's
    /// SQLite file has no other process: always true. A fleet member holds the claim in the database until
    /// ``releaseCharge(_:)`` or until it dies (then another member may reconcile the order). Throws
    /// `unavailable` when the claim cannot be asked for (a fleet's database out of reach): nothing may be
    /// charged then.
    func claimCharge(_ reference: String) async throws -> Bool
    func releaseCharge(_ reference: String) async

    /// Periodic upkeep from the reconciliation loop (the SQLite store re-makes its space reserve).
    func maintain()
    /// Deletes what can no longer become money from a store shared with other processes (a fleet's expired
    /// quotes and old journal rows); returns the rows deleted. The SQLite store prunes its own quotes with
    /// the consumer's (`pruneStaleQuotes`): 0.
    func pruneShared(now: Instant) async throws -> Int
    /// Whether a new payment could be recorded now, and why not (`getStatus.health.producerStore`).
    func producerHealth() -> ProducerBackendHealth
}

/// The payment steps after a charge started, as data: each backend applies them the same way (load and
/// lock the order, `apply`, write the order and released stock, append `eventType` with the payload).
public enum PaymentStep: Sendable, Hashable {
    /// The gateway refused (nothing charged): the order becomes `failed` and the stock goes back.
    case failed(reason: String)
    /// The charge may or may not have happened: the stock stays reserved, reconciliation follows.
    case outcomeUnknown(reason: String)
    /// The gateway never received the attempt: `abandoned`, stock back, watched for a late charge.
    case abandoned(reason: String)
    /// A charge of an abandoned attempt turned up: recorded before the refund is asked for.
    case lateCharge(orderCode: String)
    /// The gateway shows the late charge refunded.
    case refundCompleted
    /// The gateway shows the refund of a paid order's undelivered units (`pending` → `issued`).
    case unitRefundIssued

    public var eventType: String {
        switch self {
        case .failed: StoreEventType.paymentFailed
        case .outcomeUnknown: StoreEventType.paymentOutcomeUnknown
        case .abandoned: StoreEventType.paymentAbandoned
        case .lateCharge: StoreEventType.lateChargeFound
        case .refundCompleted, .unitRefundIssued: StoreEventType.refundIssued
        }
    }

    var extra: [String: JSONValue] {
        switch self {
        case .failed(let reason), .outcomeUnknown(let reason), .abandoned(let reason): ["reason": .string(reason)]
        case .lateCharge(let orderCode): ["pspOrderCode": .string(orderCode)]
        case .refundCompleted: ["reason": "lateCharge"]
        case .unitRefundIssued: [:]
        }
    }

    /// The domain transition; `catalog` loads the order's catalog (a backend locks its stock) and is called
    /// only by the steps that release stock. Returns the order and, when stock was released, the catalog.
    public func apply(to order: Order, catalog: () throws -> Catalog) throws -> (order: Order, released: Catalog?) {
        switch self {
        case .failed(let reason):
            let (next, released) = try order.paymentFailed(reason: reason, catalog: try catalog())
            return (next, released)
        case .outcomeUnknown(let reason):
            return (try order.paymentOutcomeUnknown(reason: reason), nil)
        case .abandoned(let reason):
            let (next, released) = try order.paymentAbandoned(reason: reason, catalog: try catalog())
            return (next, released)
        case .lateCharge(let orderCode):
            return (try order.lateChargeFound(orderCode: orderCode), nil)
        case .refundCompleted:
            return (try order.refundCompleted(), nil)
        case .unitRefundIssued:
            return (try order.refundIssued(), nil)
        }
    }

    /// The event's payload for the order after the step.
    public func payload(_ next: Order) -> [String: JSONValue] {
        if case .unitRefundIssued = self, let refund = next.refund {
            return ProducerEvents.unitRefund(next, refund)
        }
        return ProducerEvents.paymentTransition(next, extra: extra)
    }
}

extension ProducerBackend {
    public func recordPaymentFailed(paymentReferenceID: String, reason: String, now: Instant) async throws -> Committed<Order> {
        try await record(.failed(reason: reason), paymentReferenceID: paymentReferenceID, now: now)
    }

    public func recordPaymentOutcomeUnknown(paymentReferenceID: String, reason: String, now: Instant) async throws -> Committed<Order> {
        try await record(.outcomeUnknown(reason: reason), paymentReferenceID: paymentReferenceID, now: now)
    }

    public func recordPaymentAbandoned(paymentReferenceID: String, reason: String, now: Instant) async throws -> Committed<Order> {
        try await record(.abandoned(reason: reason), paymentReferenceID: paymentReferenceID, now: now)
    }

    public func recordLateCharge(paymentReferenceID: String, orderCode: String, now: Instant) async throws -> Committed<Order> {
        try await record(.lateCharge(orderCode: orderCode), paymentReferenceID: paymentReferenceID, now: now)
    }

    public func recordRefundCompleted(paymentReferenceID: String, now: Instant) async throws -> Committed<Order> {
        try await record(.refundCompleted, paymentReferenceID: paymentReferenceID, now: now)
    }

    public func recordUnitRefundIssued(paymentReferenceID: String, now: Instant) async throws -> Committed<Order> {
        try await record(.unitRefundIssued, paymentReferenceID: paymentReferenceID, now: now)
    }
}

/// Which order a refund is for: its payment reference (the producer's own sweep), or a delivery token a
/// consumer presented (the HTE refund route), checked as a delivery end checks it.
public enum RefundTarget: Sendable, Hashable {
    case reference(String)
    case token(PresentedToken, clientID: String?, serviceID: Int)
}

/// What ``ProducerBackend/refundWork(now:)`` found.
public struct RefundWork: Sendable, Hashable {
    /// Orders with a pending refund, and orders whose expiry refund is due.
    public var orders: [Order]
    /// The earliest token expiry of an order whose expiry refund is still to come (to wake up for it).
    public var nextExpiry: Instant?

    public init(orders: [Order], nextExpiry: Instant?) {
        self.orders = orders
        self.nextExpiry = nextExpiry
    }
}

/// `getStatus.health`'s view of the producer's backend.
public struct ProducerBackendHealth: Sendable, Hashable {
    /// `sqlite` or `postgresql`.
    public var backend: String
    /// New payments can be recorded now.
    public var writable: Bool
    /// Why not, when not writable.
    public var reason: String?

    public init(backend: String, writable: Bool, reason: String? = nil) {
        self.backend = backend
        self.writable = writable
        self.reason = reason
    }
}

extension Store: ProducerBackend {
    public var fleetID: String? { nil }
    public func claimCharge(_ reference: String) async throws -> Bool { true }
    public func releaseCharge(_ reference: String) async {}
    public func maintain() { restoreSpaceReserve() }
    public func pruneShared(now: Instant) async throws -> Int { 0 }

    public func producerHealth() -> ProducerBackendHealth {
        let health = health()
        return ProducerBackendHealth(
            backend: "sqlite", writable: health.writable,
            reason: health.writable ? nil : (health.lastCommitFailed ? "the latest commit failed" : "the state volume is low on space"))
    }
}
