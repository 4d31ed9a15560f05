import Logging
import Synchronization
import WPWithinCore
import WPWithinCrypto
import WPWithinPostgres
import WPWithinStore

/// A fleet member's producer backend: the catalog with its stock, the orders with their payments, tokens
/// and unit ledgers in one PostgreSQL database shared by every member (docs/fleet.md).
///
/// Each transition is one `READ COMMITTED` transaction on a pooled connection (on a thread of its own: the
/// event loop never blocks on the database) that locks what it changes: the order row (`FOR UPDATE`), and
/// for a stock change the price rows of its service, always in that order (no deadlock between members).
/// The pure domain decides, exactly as on a single Thing; the database holds the rules as constraints too
/// (stock ≥ 0, one token key, units within the purchase).
///
/// Nothing is kept in memory: every member reads the shared rows. Claims on a payment reference (a charge,
/// a reconciliation) are session advisory locks on a connection of their own, released by the server when
/// a member dies. The events of each transition go to the fleet's journal (`fleet_event`) in the same
/// transaction, and to this member's own journal after the commit (for its subscribers).
public final class FleetStore: ProducerBackend {
    public struct Settings: Sendable {
        /// libpq's connection string.
        public var connection: String
        public var poolSize: Int
        public var quotePolicy: QuotePolicy
        public var random: any RandomByteSource

        public init(connection: String, poolSize: Int = 4, quotePolicy: QuotePolicy = QuotePolicy(), random: any RandomByteSource = SystemRandom()) {
            self.connection = connection
            self.poolSize = poolSize
            self.quotePolicy = quotePolicy
            self.random = random
        }
    }

    /// The fleet's id, made by the first member that opened the database.
    public let fleetID: String?
    /// This member's serverId.
    public let serverID: String
    let settings: Settings
    let pool: PGPool
    let locks: PGSessionLocks
    let local: Store
    let signer: ClosureTokenSigner
    let logger: Logger
    /// The latest database error that stopped a transition, nil once one succeeds again.
    private let outage = Mutex<String?>(nil)

    private init(
        fleetID: String, serverID: String, settings: Settings, signer: ClosureTokenSigner, local: Store, logger: Logger
    ) {
        self.fleetID = fleetID
        self.serverID = serverID
        self.settings = settings
        self.pool = PGPool(connectionString: settings.connection, size: settings.poolSize)
        self.locks = PGSessionLocks(connectionString: settings.connection) { lost in
            logger.warning("Fleet claims lost with their database connection", metadata: ["fleet.claims_lost": "\(lost)"])
        }
        self.signer = signer
        self.local = local
        self.logger = logger
    }

    /// Connects, applies the fleet's pending migrations, creates the fleet (its id and token signing key)
    /// when this is the first member, and registers this member. Blocking: call it at start-up. Throws
    /// `WPWError(.unavailable)` when the database cannot be reached.
    public static func open(settings: Settings, local: Store, serverID: String, logger: Logger) throws -> FleetStore {
        let (fleetID, key): (String, [UInt8])
        do {
            let db = try PGConnection(settings.connection)
            defer { db.close() }
            let applied = try PGMigrator(FleetSchema.migrations).migrate(db)
            if !applied.isEmpty { logger.notice("Fleet schema migrated", metadata: ["fleet.migrations": "\(applied)"]) }
            let newKey = try settings.random.bytes(count: HMACTokenSigner.minimumKeyLength)
            let newID = try Identifiers.uuid(from: settings.random)
            (fleetID, key) = try db.transaction { db in
                _ = try db.query(
                    "INSERT INTO fleet (id, fleet_id, signing_key) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
                    [newID, Identifiers.lowercaseHex(newKey)])
                _ = try db.query(
                    "INSERT INTO fleet_member (server_id) VALUES ($1) ON CONFLICT (server_id) DO UPDATE SET last_seen = now()",
                    [serverID])
                let rows = try db.query("SELECT fleet_id, signing_key FROM fleet WHERE id = 1")
                guard rows.count == 1, let id = rows.text(0, 0), let hex = rows.text(0, 1),
                      let key = Identifiers.bytes(fromHex: hex)
                else { throw FleetRows.broken("the fleet row is missing or unreadable") }
                return (id, key)
            }
        } catch let error as PGError {
            throw mapped(error, nil)
        }
        let hmac = try HMACTokenSigner(key: key)
        let signer = ClosureTokenSigner(sign: { hmac.sign($0) }, verify: { hmac.verify($0, for: $1) })
        logger.info("Fleet store opened", metadata: ["fleet.id": "\(fleetID)", "fleet.pool": "\(settings.poolSize)"])
        return FleetStore(fleetID: fleetID, serverID: serverID, settings: settings, signer: signer, local: local, logger: logger)
    }

    /// Closes the pool and the claims' connection (releasing every claim).
    public func close() async {
        await locks.close()
        await pool.close()
    }

    // MARK: Transactions

    /// An event of a transition, written with it.
    struct PendingEvent: Sendable {
        let type: String
        let payload: [String: JSONValue]
    }

    /// The fleet journal's lock: a transition takes it (last, after its rows) just before it appends its
    /// events, and holds it to its commit, so the journal's seqs become visible in order and a follower that
    /// has read seq N has seen every event before it. Commits that notify are serialised by PostgreSQL
    /// anyway (the `NOTIFY` queue's lock), so this costs nothing more.
    static let journalLockKey = PGSessionLocks.key("wpwithin.fleet", "journal")
    /// The channel each transition with events notifies on commit (``FleetJournalFollower`` listens).
    static let journalChannel = "wpwithin_fleet_event"

    /// Takes the journal's lock, appends one event and notifies (delivered at the commit), in one statement.
    static let appendEventSQL = """
        WITH journal_lock AS (SELECT pg_advisory_xact_lock($1::bigint)),
             appended AS (
                INSERT INTO fleet_event (member, type, time_s, time_ns, payload)
                SELECT $2, $3, $4::bigint, $5::bigint, $6 FROM journal_lock RETURNING seq)
        SELECT seq, pg_notify($7, '') FROM appended
        """

    /// Runs `body` in one transaction on a pooled connection, with the events it appends to the fleet's
    /// journal; then copies the events into this member's journal (with `member` and `fleetSeq`).
    func transaction<T: Sendable>(
        now: Instant, _ body: @escaping @Sendable (PGConnection, inout [PendingEvent]) throws -> T
    ) async throws -> Committed<T> {
        let member = serverID
        let (value, events): (T, [(type: String, payload: [String: JSONValue], time: Instant)])
        do {
            (value, events) = try await pool.run { db in
                try db.transaction { db in
                    var pending: [PendingEvent] = []
                    let value = try body(db, &pending)
                    var events: [(type: String, payload: [String: JSONValue], time: Instant)] = []
                    for event in pending {
                        // One round trip: the journal's lock (a no-op after the first event), the row, the notification.
                        let rows = try db.query(Self.appendEventSQL, [
                            String(Self.journalLockKey), member, event.type, String(now.secondsSinceEpoch), String(now.nanoseconds),
                            JSONValue.object(event.payload).jsonString, Self.journalChannel,
                        ])
                        var payload = event.payload
                        payload["member"] = .string(member)
                        payload["fleetSeq"] = rows.int(0, 0).map(JSONValue.int) ?? .null
                        events.append((event.type, payload, now))
                    }
                    return (value, events)
                }
            }
        } catch let error as PGError {
            throw Self.mapped(error, self)
        }
        outage.withLock { $0 = nil }
        do {
            return Committed(value: value, events: try await local.appendCommittedElsewhere(events))
        } catch {
            // The fleet's journal has them; this member's subscribers miss them.
            logger.warning("Fleet events not copied to the local journal", metadata: [LogKey.error: "\(error)"])
            return Committed(value: value, events: [])
        }
    }

    /// A read on a pooled connection.
    func read<T: Sendable>(_ body: @escaping @Sendable (PGConnection) throws -> T) async throws -> T {
        do {
            let value = try await pool.run(body)
            outage.withLock { $0 = nil }
            return value
        } catch let error as PGError {
            throw Self.mapped(error, self)
        }
    }

    /// A database error as the daemon's: unreachable → `unavailable` (the member stops selling and says so
    /// in `getStatus`), a unique key taken by another member → `alreadyExists`, anything else `internalError`.
    static func mapped(_ error: PGError, _ store: FleetStore?) -> WPWError {
        if error.isConnectionError {
            store?.outage.withLock { $0 = error.message }
            return WPWError(.unavailable, "the fleet's database cannot be reached; not selling until it is back", data: ["sqlState": .string(error.sqlState ?? "")])
        }
        if error.isUniqueViolation {
            return WPWError(.alreadyExists, "already exists in the fleet's database", data: ["sqlState": .string(error.sqlState ?? "")])
        }
        return WPWError(.internalError, "fleet store: \(error.message)", data: ["sqlState": .string(error.sqlState ?? "")])
    }

    // MARK: ProducerBackend: catalog

    public func catalog() async throws -> Catalog {
        try await read { db in try FleetRows.loadCatalog(db) }
    }

    public func addService(_ service: Service, now: Instant) async throws -> Committed<Catalog> {
        try await transaction(now: now) { db, events in
            let catalog = try FleetRows.loadCatalog(db).adding(service)
            try FleetRows.insertService(db, service)
            events.append(PendingEvent(type: StoreEventType.serviceAdded, payload: ["serviceId": .int(Int64(service.id))]))
            return catalog
        }
    }

    public func replaceService(_ service: Service, now: Instant) async throws -> Committed<Catalog> {
        try await transaction(now: now) { db, events in
            let catalog = try FleetRows.loadCatalog(db).replacing(service)
            _ = try db.query("DELETE FROM service WHERE id = $1", [String(service.id)])
            try FleetRows.insertService(db, service)
            events.append(PendingEvent(type: StoreEventType.serviceReplaced, payload: ["serviceId": .int(Int64(service.id))]))
            return catalog
        }
    }

    public func removeService(id: Int, now: Instant) async throws -> Committed<Catalog> {
        try await transaction(now: now) { db, events in
            let catalog = try FleetRows.loadCatalog(db).removing(serviceID: id)
            _ = try db.query("DELETE FROM service WHERE id = $1", [String(id)])
            events.append(PendingEvent(type: StoreEventType.serviceRemoved, payload: ["serviceId": .int(Int64(id))]))
            return catalog
        }
    }

    // MARK: ProducerBackend: quotes and payments

    public func createQuote(serviceID: Int, priceID: Int, units: Int, clientID: String, now: Instant) async throws -> Committed<Quote> {
        let serverID = self.serverID
        let policy = settings.quotePolicy
        let random = settings.random
        return try await transaction(now: now) { db, events in
            let catalog = try FleetRows.loadCatalog(db, serviceID: serviceID)
            let quote = try Quote.make(
                catalog: catalog, serviceID: serviceID, priceID: priceID, units: units, clientID: clientID,
                serverID: serverID, now: now, policy: policy, random: random)
            try FleetRows.insertOrder(db, Order(quote: quote), nowMS: now.milliseconds)
            events.append(PendingEvent(type: StoreEventType.quoteCreated, payload: ProducerEvents.order(quote)))
            return quote
        }
    }

    public func order(paymentReferenceID: String) async throws -> Order? {
        try await read { db in try FleetRows.loadOrder(db, paymentReferenceID: paymentReferenceID, locking: false) }
    }

    static func requireOrder(_ db: PGConnection, _ reference: String) throws -> Order {
        guard let order = try FleetRows.loadOrder(db, paymentReferenceID: reference, locking: true) else {
            throw WPWError(.notFound, "Order not found for paymentReferenceID \(reference)")
        }
        return order
    }

    /// The order row, then its service's price rows, are locked: a retry of the same reference at another
    /// member waits here for this one, and members selling one price take turns on its stock.
    public func startPayment(paymentReferenceID: String, clientID: String, now: Instant) async throws -> Committed<PaymentStart> {
        let member = serverID
        return try await transaction(now: now) { db, events in
            let order = try Self.requireOrder(db, paymentReferenceID)
            let catalog = try FleetRows.loadCatalog(db, serviceID: order.quote.serviceID, lockingPrices: true)
            switch try order.startPayment(clientID: clientID, now: now, catalog: catalog) {
            case .alreadyPaid(let paid):
                return .alreadyPaid(paid)
            case .charge(let pending, let reserved):
                try FleetRows.updateOrder(db, pending, nowMS: now.milliseconds, paymentStarted: true, chargedBy: member)
                try FleetRows.saveStock(db, reserved, serviceID: order.quote.serviceID, priceID: order.quote.priceID)
                var payload = ProducerEvents.paymentStarted(pending)
                payload["member"] = .string(member)
                events.append(PendingEvent(type: StoreEventType.paymentStarted, payload: payload))
                return .charge(pending)
            }
        }
    }

    public func recordPaymentSucceeded(
        paymentReferenceID: String, pspOrderCode: String, tokenTTL: Duration, refundOnExpiry: Bool, now: Instant
    ) async throws -> Committed<Order> {
        let random = settings.random
        let signer = self.signer
        return try await transaction(now: now) { db, events in
            let order = try Self.requireOrder(db, paymentReferenceID)
            // The price's refund flag goes into the token (a price removed meanwhile refunds nothing).
            let priceRefunds = (try? FleetRows.loadCatalog(db, serviceID: order.quote.serviceID)
                .price(serviceID: order.quote.serviceID, priceID: order.quote.priceID).refundOnExpiry) ?? false
            let paid = try order.paymentSucceeded(
                pspReference: pspOrderCode, now: now, tokenTTL: tokenTTL, refundOnExpiry: refundOnExpiry || priceRefunds,
                random: random, signer: signer)
            try FleetRows.updateOrder(db, paid, nowMS: now.milliseconds)
            events.append(PendingEvent(type: StoreEventType.paymentSucceeded, payload: ProducerEvents.paymentSucceeded(paid, pspOrderCode: pspOrderCode)))
            return paid
        }
    }

    /// One payment step (``PaymentStep``): the order locked, then (when the step releases stock) its
    /// price rows; the order and the released stock written; the step's event appended.
    public func record(_ step: PaymentStep, paymentReferenceID reference: String, now: Instant) async throws -> Committed<Order> {
        try await transaction(now: now) { db, events in
            let order = try Self.requireOrder(db, reference)
            let (next, released) = try step.apply(to: order) {
                try FleetRows.loadCatalog(db, serviceID: order.quote.serviceID, lockingPrices: true)
            }
            try FleetRows.updateOrder(db, next, nowMS: now.milliseconds)
            if let released {
                try FleetRows.saveStock(db, released, serviceID: order.quote.serviceID, priceID: order.quote.priceID)
            }
            events.append(PendingEvent(type: step.eventType, payload: step.payload(next)))
            return next
        }
    }

    public func ordersNeedingReconciliation(watchingSince: Instant?) async throws -> [Order] {
        let cutoff = watchingSince?.milliseconds ?? Int64.min
        return try await read { db in
            try FleetRows.each(
                try db.query(
                    FleetRows.orderSelect + """
                         WHERE state IN ('paymentPending','outcomeUnknown','abandoned','refundPending')
                            AND (state <> 'abandoned' OR COALESCE(payment_started_at_ms, 0) >= $1)
                         ORDER BY updated_at_ms, payment_reference_id
                        """, [String(cutoff)]),
                FleetRows.order)
        }
    }

    // MARK: ProducerBackend: refunds of undelivered units

    public func order(tokenKey: String) async throws -> Order? {
        try await read { db in try FleetRows.loadOrder(db, tokenKey: tokenKey, locking: false) }
    }

    /// The order row is locked: a refund decided at one member is the one every other member finds.
    public func startRefund(_ target: RefundTarget, now: Instant) async throws -> Committed<Order> {
        let signer = self.signer
        return try await transaction(now: now) { db, _ in
            let order: Order
            switch target {
            case .reference(let reference):
                order = try Self.requireOrder(db, reference)
            case .token(let token, let clientID, let serviceID):
                guard let found = try FleetRows.loadOrder(db, tokenKey: token.key, locking: true) else { throw DeliveryToken.invalidKey }
                try found.verify(token, clientID: clientID, serviceID: serviceID, now: now, checkExpiry: false, signer: signer)
                order = found
            }
            let (next, alreadyDecided) = try order.startingRefund(now: now)
            if !alreadyDecided { try FleetRows.updateOrder(db, next, nowMS: now.milliseconds) }
            return next
        }
    }

    public func refundWork(now: Instant) async throws -> RefundWork {
        let seconds = String(now.secondsSinceEpoch)
        return try await read { db in
            let orders = try FleetRows.each(
                try db.query(
                    FleetRows.orderSelect + " WHERE refund_status = 'pending' UNION ALL " + FleetRows.orderSelect
                        + " WHERE refund_on_expiry AND refund_status IS NULL AND state = 'paid' AND token_expiry_s <= $1",
                    [seconds]),
                FleetRows.order
            ).filter { $0.refund?.status == .pending || $0.expiryRefundDue(now: now) }
            let next = try FleetRows.each(
                try db.query(
                    """
                    SELECT token_expiry_s, token_expiry_ns FROM producer_order
                     WHERE refund_on_expiry AND refund_status IS NULL AND state = 'paid' AND token_expiry_s >= $1
                     ORDER BY token_expiry_s LIMIT 1
                    """, [seconds])
            ) { row in try FleetRows.instant(row.int64(0), row.int64(1)) }.first
            return RefundWork(orders: orders, nextExpiry: next)
        }
    }

    // MARK: ProducerBackend: delivery

    /// The order row is locked by its token key: a begin at one member and an end at another take turns,
    /// and no unit is granted or committed twice.
    public func beginDelivery(
        token: PresentedToken, clientID: String?, serviceID: Int, units: Int, now: Instant, lease: Duration?,
        policy: UnitLedger.EndPolicy
    ) async throws -> Committed<DeliveryGrant> {
        let signer = self.signer
        return try await transaction(now: now) { db, events in
            guard let found = try FleetRows.loadOrder(db, tokenKey: token.key, locking: true) else { throw DeliveryToken.orderNotFound }
            var order = found
            if let lease, let (settled, settledUnits) = found.settlingExpiredLease(now: now, lease: lease, policy: policy) {
                try found.verify(token, clientID: clientID, serviceID: serviceID, now: now, signer: signer)
                order = settled
                events.append(PendingEvent(
                    type: StoreEventType.deliveryLeaseExpired, payload: ProducerEvents.leaseExpired(settled, units: settledUnits, policy: policy)))
            }
            let (next, granted) = try order.beginDelivery(
                token, clientID: clientID, serviceID: serviceID, requestedUnits: units, now: now, signer: signer)
            try FleetRows.updateOrder(db, next, nowMS: now.milliseconds)
            events.append(PendingEvent(
                type: StoreEventType.deliveryBegun, payload: ProducerEvents.deliveryBegun(next, requested: units, granted: granted)))
            return DeliveryGrant(order: next, granted: granted)
        }
    }

    public func endDelivery(
        token: PresentedToken, clientID: String?, serviceID: Int, unitsReceived: Int, now: Instant,
        policy: UnitLedger.EndPolicy
    ) async throws -> Committed<DeliveryEnd> {
        let signer = self.signer
        return try await transaction(now: now) { db, events in
            guard let order = try FleetRows.loadOrder(db, tokenKey: token.key, locking: true) else { throw DeliveryToken.orderNotFound }
            let (next, committed) = try order.endDelivery(
                token, clientID: clientID, serviceID: serviceID, receivedUnits: unitsReceived, now: now,
                policy: policy, signer: signer)
            try FleetRows.updateOrder(db, next, nowMS: now.milliseconds)
            events.append(PendingEvent(
                type: StoreEventType.deliveryEnded, payload: ProducerEvents.deliveryEnded(next, received: unitsReceived, committed: committed)))
            return DeliveryEnd(order: next, committed: committed)
        }
    }

    // MARK: ProducerBackend: claims and health

    static let claimNamespace = "wpwithin.fleet.charge"

    /// A session advisory lock on the reference: held by this member until released, or until it dies.
    /// When the database cannot be reached the claim cannot be asked for: `unavailable` (nothing is charged
    /// without a record), which the consumer hears as such rather than as "a payment is in progress".
    public func claimCharge(_ reference: String) async throws -> Bool {
        do {
            return try await locks.tryLock(PGSessionLocks.key(Self.claimNamespace, reference))
        } catch let error as PGError {
            logger.warning("Cannot claim a payment in the fleet's database", metadata: [
                LogKey.paymentReference: "\(reference)", LogKey.error: "\(error)",
            ])
            throw Self.mapped(error, self)
        }
    }

    public func releaseCharge(_ reference: String) async {
        await locks.unlock(PGSessionLocks.key(Self.claimNamespace, reference))
    }

    public func maintain() {}

    /// How long the fleet's journal keeps an event: a member down for longer misses what is older when it
    /// comes back (its subscribers then resume from what is left).
    public static let journalRetention: Duration = .seconds(7 * 86_400)

    /// Deletes `quoted` orders whose quote expired more than `Store.expiredQuoteRetention` ago (nothing was
    /// reserved or charged for them; a late payment gets `notFound` instead of `expired`) and journal events
    /// older than `journalRetention`. Every member runs it; the deletes are idempotent and indexed.
    public func pruneShared(now: Instant) async throws -> Int {
        let quoteCutoff = (now.adding(.zero - Store.expiredQuoteRetention) ?? now).secondsSinceEpoch
        let journalCutoff = (now.adding(.zero - Self.journalRetention) ?? now).secondsSinceEpoch
        return try await read { db in
            let quotes = try db.query("DELETE FROM producer_order WHERE state = 'quoted' AND expires_s < $1", [String(quoteCutoff)]).affected
            let events = try db.query("DELETE FROM fleet_event WHERE time_s < $1", [String(journalCutoff)]).affected
            return quotes + events
        }
    }

    public func producerHealth() -> ProducerBackendHealth {
        let outage = outage.withLock { $0 }
        return ProducerBackendHealth(
            backend: "postgresql", writable: outage == nil,
            reason: outage.map { "the fleet's database cannot be reached: \($0)" })
    }
}
