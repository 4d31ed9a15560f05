import WPWithinCore
import WPWithinSQLite

/// The answer to a `/payment` request, after the pending order is durable.
public enum PaymentStart: Sendable, Hashable {
    /// The order is now `paymentPending` with the stock reserved, both committed. Charge the gateway for
    /// `order.quote.total` with `customerOrderCode = order.paymentReferenceID`, then record the outcome.
    case charge(Order)
    /// The order was already paid: answer with `order.token`; charge nothing.
    case alreadyPaid(Order)
}

/// The result of a producer `delivery/begin`.
public struct DeliveryGrant: Sendable, Hashable {
    public let order: Order
    /// Units reserved: `min(requested, remaining)`.
    public let granted: Int

    public init(order: Order, granted: Int) {
        self.order = order
        self.granted = granted
    }
}

/// The result of a producer `delivery/end`.
public struct DeliveryEnd: Sendable, Hashable {
    public let order: Order
    /// Units committed as delivered by this end.
    public let committed: Int

    public init(order: Order, committed: Int) {
        self.order = order
        self.committed = committed
    }
    /// `purchased − delivered`, the HTE `unitsRemaining`.
    public var unitsRemaining: Int { order.ledger?.undelivered ?? 0 }
}

extension Store {
    // MARK: Catalog

    /// The whole catalog with the current stock levels.
    public func catalog() async throws -> Catalog {
        try await read { db in try Rows.loadCatalog(db) }
    }

    /// Adds a service with its prices (`alreadyExists` when the id is taken).
    public func addService(_ service: Service, now: Instant) async throws -> Committed<Catalog> {
        try await transaction { tx in
            let catalog = try Rows.loadCatalog(tx.db).adding(service)
            try Rows.insertService(tx.db, service)
            try tx.append(StoreEventType.serviceAdded, ["serviceId": .int(Int64(service.id))], at: now)
            return catalog
        }
    }

    /// Replaces a service and all its prices, including their stock (`notFound` when missing). Orders already
    /// quoted keep their snapshot.
    public func replaceService(_ service: Service, now: Instant) async throws -> Committed<Catalog> {
        try await transaction { tx in
            let catalog = try Rows.loadCatalog(tx.db).replacing(service)
            try tx.db.run("DELETE FROM service WHERE id = ?", [service.id])
            try Rows.insertService(tx.db, service)
            try tx.append(StoreEventType.serviceReplaced, ["serviceId": .int(Int64(service.id))], at: now)
            return catalog
        }
    }

    /// Removes a service and its prices (`notFound` when missing). Orders already quoted keep their snapshot;
    /// a payment started later on such a quote fails with `notFound`.
    public func removeService(id: Int, now: Instant) async throws -> Committed<Catalog> {
        try await transaction { tx in
            let catalog = try Rows.loadCatalog(tx.db).removing(serviceID: id)
            try tx.db.run("DELETE FROM service WHERE id = ?", [id])
            try tx.append(StoreEventType.serviceRemoved, ["serviceId": .int(Int64(id))], at: now)
            return catalog
        }
    }

    // MARK: Quotes and payments

    /// `requestTotal`: prices `units` of a price for `clientID` (`Quote.make` with the configured policy and
    /// the stored serverID) and stores the order in state `quoted`. Nothing is reserved yet.
    public func createQuote(
        serviceID: Int, priceID: Int, units: Int, clientID: String, now: Instant
    ) async throws -> Committed<Quote> {
        try space.requireRoomForNewMoney()
        let serverID = identity.serverID
        let policy = configuration.quotePolicy
        let random = self.random
        // Not durable: a quote lost in a power cut is refused at payment time, before any charge.
        return try await transaction(durable: false) { tx in
            let catalog = try Rows.loadCatalog(tx.db, serviceID: serviceID)
            let quote = try Quote.make(
                catalog: catalog, serviceID: serviceID, priceID: priceID, units: units, clientID: clientID,
                serverID: serverID, now: now, policy: policy, random: random)
            try Rows.insertOrder(tx.db, Order(quote: quote), nowMS: now.milliseconds)
            try tx.append(StoreEventType.quoteCreated, ProducerEvents.order(quote), at: now)
            return quote
        }
    }

    /// The producer order with this payment reference, or nil.
    public func order(paymentReferenceID: String) async throws -> Order? {
        try await read { db in try Rows.loadOrder(db, paymentReferenceID: paymentReferenceID) }
    }

    /// The paid order holding the token with this key, or nil.
    public func order(tokenKey: String) async throws -> Order? {
        try await read { db in try Rows.loadOrder(db, tokenKey: tokenKey) }
    }

    /// `/payment`, step 1. In one transaction: loads the order and the price, applies `Order.startPayment`
    /// (client id check, expiry, stock reservation) and persists the pending order and the reserved stock.
    /// Only after this returns `.charge` may the caller contact the gateway. Concurrent calls are
    /// serialised by the writer, so stock can never be oversold.
    ///
    /// Throws `notFound` (unknown reference, or service/price removed), `conflict` (client mismatch, a
    /// payment in progress), `paymentOutcomeUnknown`, `expired`, `outOfStock`.
    public func startPayment(paymentReferenceID: String, clientID: String, now: Instant) async throws -> Committed<PaymentStart> {
        let space = self.space
        return try await transaction { tx in
            let order = try Self.requireOrder(tx.db, paymentReferenceID)
            let catalog = try Rows.loadCatalog(tx.db, serviceID: order.quote.serviceID)
            switch try order.startPayment(clientID: clientID, now: now, catalog: catalog) {
            case .alreadyPaid(let paid):
                return .alreadyPaid(paid)
            case .charge(let pending, let reserved):
                // New money needs room to record its outcome (a retry of a paid order does not).
                try space.requireRoomForNewMoney()
                try Rows.updateOrder(tx.db, pending, from: order, nowMS: now.milliseconds, paymentStarted: true)
                try Rows.saveStock(tx.db, reserved, serviceID: order.quote.serviceID, priceID: order.quote.priceID)
                try tx.append(StoreEventType.paymentStarted, ProducerEvents.paymentStarted(pending), at: now)
                return .charge(pending)
            }
        }
    }

    /// The gateway charged (or reconciliation found the charge): issues the token, opens the ledger.
    public func recordPaymentSucceeded(
        paymentReferenceID: String, pspOrderCode: String, tokenTTL: Duration, refundOnExpiry: Bool = false,
        now: Instant
    ) async throws -> Committed<Order> {
        let random = self.random
        let signer = self.signer
        return try await transaction { tx in
            let order = try Self.requireOrder(tx.db, paymentReferenceID)
            // The price's refund flag goes into the token (a price removed meanwhile refunds nothing).
            let priceRefunds = (try? Rows.loadCatalog(tx.db, serviceID: order.quote.serviceID)
                .price(serviceID: order.quote.serviceID, priceID: order.quote.priceID).refundOnExpiry) ?? false
            let paid = try order.paymentSucceeded(
                pspReference: pspOrderCode, now: now, tokenTTL: tokenTTL, refundOnExpiry: refundOnExpiry || priceRefunds,
                random: random, signer: signer)
            try Rows.updateOrder(tx.db, paid, from: order, nowMS: now.milliseconds)
            try tx.append(StoreEventType.paymentSucceeded, ProducerEvents.paymentSucceeded(paid, pspOrderCode: pspOrderCode), at: now)
            return paid
        }
    }

    /// One payment step of one order (``PaymentStep``): loads it, applies the step (which may load the
    /// order's catalog and release stock), writes the order (and the stock), appends the step's event.
    public func record(_ step: PaymentStep, paymentReferenceID reference: String, now: Instant) async throws -> Committed<Order> {
        try await transaction { tx in
            let order = try Self.requireOrder(tx.db, reference)
            let (next, released) = try step.apply(to: order) { try Rows.loadCatalog(tx.db, serviceID: order.quote.serviceID) }
            try Rows.updateOrder(tx.db, next, from: order, nowMS: now.milliseconds)
            if let released {
                try Rows.saveStock(tx.db, released, serviceID: order.quote.serviceID, priceID: order.quote.priceID)
            }
            try tx.append(step.eventType, step.payload(next), at: now)
            return next
        }
    }

    /// Orders that need the gateway's answer: `paymentPending` (a charge in progress, or one cut short by a
    /// crash or a failed commit), `outcomeUnknown`, `refundPending`, and `abandoned` ones started at or after
    /// `watchingSince` (a late charge may still turn up). Oldest first.
    public func ordersNeedingReconciliation(watchingSince: Instant? = nil) async throws -> [Order] {
        let cutoff = watchingSince?.milliseconds ?? Int64.min
        return try await read { db in
            try db.query(Self.reconciliationSQL, [cutoff], Rows.order)
        }
    }

    /// The orders reconciliation looks at. The IN list is exactly the partial index `producer_order_open`'s
    /// WHERE clause, so SQLite reads only those rows: with `… IN (3 states) OR (state = 'abandoned' AND …)`
    /// it read every order ever made, at every start and every reconciliation pass (a test checks the plan).
    static let reconciliationSQL = Rows.orderSelect + """
         WHERE state IN ('paymentPending','outcomeUnknown','abandoned','refundPending')
            AND (state <> 'abandoned' OR COALESCE(payment_started_at_ms, 0) >= ?)
         ORDER BY updated_at_ms, payment_reference_id
        """

    // MARK: Refunds of undelivered units

    public func startRefund(_ target: RefundTarget, now: Instant) async throws -> Committed<Order> {
        let signer = self.signer
        return try await transaction { tx in
            let order: Order
            switch target {
            case .reference(let reference):
                order = try Self.requireOrder(tx.db, reference)
            case .token(let token, let clientID, let serviceID):
                guard let found = try Rows.loadOrder(tx.db, tokenKey: token.key) else { throw DeliveryToken.invalidKey }
                try found.verify(token, clientID: clientID, serviceID: serviceID, now: now, checkExpiry: false, signer: signer)
                order = found
            }
            let (next, alreadyDecided) = try order.startingRefund(now: now)
            if !alreadyDecided { try Rows.updateOrder(tx.db, next, from: order, nowMS: now.milliseconds) }
            return next
        }
    }

    public func refundWork(now: Instant) async throws -> RefundWork {
        try await read { db in
            let orders = try db.query(Self.refundWorkSQL, [now.secondsSinceEpoch], Rows.order)
                .filter { $0.refund?.status == .pending || $0.expiryRefundDue(now: now) }
            let next = try db.queryOne(Self.nextExpirySQL, [now.secondsSinceEpoch]) { row in
                try Rows.instant(row.int64(0), row.int64(1), "expiry")
            }
            return RefundWork(orders: orders, nextExpiry: next)
        }
    }

    /// Pending refunds and due expiry refunds, each read through its partial index.
    static let refundWorkSQL = Rows.orderSelect + """
         WHERE refund_status = 'pending'
        UNION ALL
        """ + Rows.orderSelect + """
         WHERE refund_on_expiry = 1 AND refund_status IS NULL AND state = 'paid' AND token_expiry_s <= ?
        """
    static let nextExpirySQL = """
        SELECT token_expiry_s, token_expiry_ns FROM producer_order
         WHERE refund_on_expiry = 1 AND refund_status IS NULL AND state = 'paid' AND token_expiry_s >= ?
         ORDER BY token_expiry_s LIMIT 1
        """

    // MARK: Delivery

    /// `delivery/begin`: finds the order by the presented token's key and verifies the token against the
    /// stored order (`Order.verify`: key, signature, client, expiry, service), then reserves
    /// `min(units, remaining)` units. Unknown key: `DeliveryToken.orderNotFound`.
    public func beginDelivery(
        token: PresentedToken, clientID: String?, serviceID: Int, units: Int, now: Instant,
        lease: Duration? = nil, policy: UnitLedger.EndPolicy = .releaseUnreported
    ) async throws -> Committed<DeliveryGrant> {
        let signer = self.signer
        return try await transaction(durable: configuration.durableDeliveries) { tx in
            guard let found = try Rows.loadOrder(tx.db, tokenKey: token.key) else { throw DeliveryToken.orderNotFound }
            let order = try Self.settlingLease(tx, found, now: now, lease: lease, policy: policy) {
                try found.verify(token, clientID: clientID, serviceID: serviceID, now: now, signer: signer)
            }
            let (next, granted) = try order.beginDelivery(
                token, clientID: clientID, serviceID: serviceID, requestedUnits: units, now: now, signer: signer)
            try Rows.updateOrder(tx.db, next, from: order, nowMS: now.milliseconds)
            try tx.append(StoreEventType.deliveryBegun, ProducerEvents.deliveryBegun(next, requested: units, granted: granted), at: now)
            return DeliveryGrant(order: next, granted: granted)
        }
    }

    /// `delivery/end`: verifies the token (not its expiry) against the stored order, then commits
    /// `min(unitsReceived, inFlight)` and closes the open deliveries. A replayed end is `conflict` and
    /// changes nothing; no sequence of calls restores a delivered unit.
    public func endDelivery(
        token: PresentedToken, clientID: String?, serviceID: Int, unitsReceived: Int, now: Instant,
        policy: UnitLedger.EndPolicy = .releaseUnreported
    ) async throws -> Committed<DeliveryEnd> {
        let signer = self.signer
        return try await transaction(durable: configuration.durableDeliveries) { tx in
            // No lease here: a late end's own report of the units received is better than the lease's guess.
            guard let order = try Rows.loadOrder(tx.db, tokenKey: token.key) else { throw DeliveryToken.orderNotFound }
            let (next, committed) = try order.endDelivery(
                token, clientID: clientID, serviceID: serviceID, receivedUnits: unitsReceived, now: now,
                policy: policy, signer: signer)
            try Rows.updateOrder(tx.db, next, from: order, nowMS: now.milliseconds)
            try tx.append(
                StoreEventType.deliveryEnded, ProducerEvents.deliveryEnded(next, received: unitsReceived, committed: committed), at: now)
            return DeliveryEnd(order: next, committed: committed)
        }
    }

    // MARK: Helpers

    /// Settles an expired delivery lease (`Order.settlingExpiredLease`) inside the caller's transaction,
    /// with its event, before the begin or end that found it. A refused begin or end that follows rolls this
    /// back too, and the next begin settles it again. Only a caller whose token `verify` accepts settles it.
    /// (An end does not settle the lease: the consumer's report of what it received decides then.)
    static func settlingLease(
        _ tx: Transaction, _ order: Order, now: Instant, lease: Duration?, policy: UnitLedger.EndPolicy,
        verify: () throws -> Void
    ) throws -> Order {
        guard let lease, let (settled, units) = order.settlingExpiredLease(now: now, lease: lease, policy: policy) else { return order }
        try verify()
        try Rows.updateOrder(tx.db, settled, from: order, nowMS: now.milliseconds)
        try tx.append(StoreEventType.deliveryLeaseExpired, ProducerEvents.leaseExpired(settled, units: units, policy: policy), at: now)
        return settled
    }

    static func requireOrder(_ db: SQLiteConnection, _ paymentReferenceID: String) throws -> Order {
        guard let order = try Rows.loadOrder(db, paymentReferenceID: paymentReferenceID) else {
            throw WPWError(.notFound, "Order not found for paymentReferenceID \(paymentReferenceID)")
        }
        return order
    }
}

/// The payloads of the producer's order events, whichever backend commits them (docs/rpc.md, "Events").
public enum ProducerEvents {
    /// The fields every order event carries.
    public static func order(_ quote: Quote) -> [String: JSONValue] {
        [
            "paymentReferenceId": .string(quote.paymentReferenceID),
            "clientId": .string(quote.clientID),
            "serviceId": .int(Int64(quote.serviceID)),
            "priceId": .int(Int64(quote.priceID)),
            "units": .int(Int64(quote.units)),
            "totalAmount": .int(quote.total.minorUnits),
            "currencyCode": .string(quote.total.currency.code),
        ]
    }

    static func ledger(_ ledger: UnitLedger?) -> [String: JSONValue] {
        guard let ledger else { return [:] }
        return [
            "unitsPurchased": .int(Int64(ledger.purchased)),
            "unitsDelivered": .int(Int64(ledger.delivered)),
            "unitsInFlight": .int(Int64(ledger.inFlight)),
        ]
    }

    public static func paymentStarted(_ pending: Order) -> [String: JSONValue] {
        var payload = order(pending.quote)
        payload["attempt"] = .int(Int64(pending.attempts))
        return payload
    }

    public static func paymentSucceeded(_ paid: Order, pspOrderCode: String) -> [String: JSONValue] {
        var payload = order(paid.quote)
        payload["pspOrderCode"] = .string(pspOrderCode)
        return payload
    }

    /// A payment transition after the charge (failed, unknown, abandoned, late charge, refunded).
    public static func paymentTransition(_ next: Order, extra: [String: JSONValue]) -> [String: JSONValue] {
        var payload = order(next.quote)
        payload["customerOrderCode"] = .string(next.customerOrderCode)
        if next.state == .refunded {
            payload["pspOrderCode"] = .string(next.pspReference ?? "")
            payload["refundAmount"] = .int(next.quote.total.minorUnits)
        }
        payload.merge(extra) { $1 }
        return payload
    }

    /// `producer.refundIssued` for the refund of a paid order's undelivered units.
    public static func unitRefund(_ next: Order, _ refund: UnitRefund) -> [String: JSONValue] {
        var payload = order(next.quote)
        payload["customerOrderCode"] = .string(next.customerOrderCode)
        payload["pspOrderCode"] = .string(next.pspReference ?? "")
        payload["refundAmount"] = .int(refund.amount.minorUnits)
        payload["reason"] = .string(refund.reason.rawValue)
        payload["unitsRefunded"] = .int(Int64(refund.units))
        payload.merge(ledger(next.ledger)) { $1 }
        return payload
    }

    public static func deliveryBegun(_ next: Order, requested: Int, granted: Int) -> [String: JSONValue] {
        var payload = order(next.quote)
        payload["unitsRequested"] = .int(Int64(requested))
        payload["unitsGranted"] = .int(Int64(granted))
        payload.merge(ledger(next.ledger)) { $1 }
        return payload
    }

    public static func deliveryEnded(_ next: Order, received: Int, committed: Int) -> [String: JSONValue] {
        var payload = order(next.quote)
        payload["unitsReceived"] = .int(Int64(received))
        payload["unitsCommitted"] = .int(Int64(committed))
        payload.merge(ledger(next.ledger)) { $1 }
        return payload
    }

    public static func leaseExpired(_ settled: Order, units: Int, policy: UnitLedger.EndPolicy) -> [String: JSONValue] {
        var payload = order(settled.quote)
        payload["units"] = .int(Int64(units))
        payload["settledAs"] = .string(policy == .commitUnreported ? "delivered" : "released")
        payload.merge(ledger(settled.ledger)) { $1 }
        return payload
    }
}
