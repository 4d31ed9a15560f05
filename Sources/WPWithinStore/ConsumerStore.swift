import WPWithinCore
import WPWithinSQLite

/// A quote the consumer received from a producer (`requestTotal`'s answer), kept until it is paid.
public struct ConsumerQuote: Sendable, Hashable {
    public let paymentReferenceID: String
    public let serverID: String
    public let clientID: String
    public let serviceID: Int
    public let priceID: Int
    public let units: Int
    public let total: Money
    /// The producer's gateway client key (public; not a card secret).
    public let merchantClientKey: String
    /// Base URL of the producer's HTE server.
    public let producerURL: String
    /// The service's `serviceType`, when the spending policy needed it at `selectService`.
    public let serviceType: String?
    /// When its payment started (the card about to be used) with the outcome not known yet: it counts as spent
    /// (`Store.spending`). Nil for a quote not being paid, or whose payment was refused before any charge.
    public let paymentStartedAt: Instant?

    public init(
        paymentReferenceID: String, serverID: String, clientID: String, serviceID: Int, priceID: Int, units: Int,
        total: Money, merchantClientKey: String, producerURL: String, serviceType: String? = nil, paymentStartedAt: Instant? = nil
    ) {
        self.paymentReferenceID = paymentReferenceID
        self.serverID = serverID
        self.clientID = clientID
        self.serviceID = serviceID
        self.priceID = priceID
        self.units = units
        self.total = total
        self.merchantClientKey = merchantClientKey
        self.producerURL = producerURL
        self.serviceType = serviceType
        self.paymentStartedAt = paymentStartedAt
    }
}

/// A consumer purchase as stored: the domain value plus the token exactly as received and where to use it.
public struct StoredPurchase: Sendable, Hashable {
    /// Local id (stable, increasing).
    public let id: Int64
    public let purchase: Purchase
    /// The producer's token JSON, byte for byte as received, to echo back on deliveries.
    public let tokenJSON: String
    public let producerURL: String
    /// The producer's refund of the undelivered units, as last answered (nil: never asked).
    public var refund: PurchaseRefund? = nil
}

/// A consumer-side reservation before `delivery/begin` is sent to the producer.
public struct ConsumerDeliveryStart: Sendable, Hashable {
    public let purchase: StoredPurchase
    /// Units reserved locally: `min(requested, remaining)`; ask the producer for exactly these.
    public let reserved: Int
}

/// The result of a consumer `delivery/end`.
public struct ConsumerDeliveryEnd: Sendable, Hashable {
    public let purchase: StoredPurchase
    public let committed: Int
}

extension Store {
    /// Stores (or replaces, for the same payment reference) a quote received from a producer.
    @discardableResult
    public func saveQuote(_ quote: ConsumerQuote, now: Instant) async throws -> Committed<ConsumerQuote> {
        // Not durable: a quote lost in a power cut only means selecting again; nothing is paid or reserved.
        try await transaction(durable: false) { tx in
            try tx.db.run(
                """
                    INSERT INTO consumer_quote (payment_reference_id, server_id, client_id, service_id, price_id, units,
                        total_amount, currency, merchant_client_key, producer_url, received_at_ms, service_type)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (payment_reference_id) DO UPDATE SET service_type = excluded.service_type,
                        server_id = excluded.server_id, client_id = excluded.client_id, service_id = excluded.service_id,
                        price_id = excluded.price_id, units = excluded.units, total_amount = excluded.total_amount,
                        currency = excluded.currency, merchant_client_key = excluded.merchant_client_key,
                        producer_url = excluded.producer_url, received_at_ms = excluded.received_at_ms
                    """,
                [
                    quote.paymentReferenceID, quote.serverID, quote.clientID, quote.serviceID, quote.priceID, quote.units,
                    quote.total.minorUnits, quote.total.currency.code, quote.merchantClientKey, quote.producerURL,
                    now.milliseconds, quote.serviceType,
                ])
            try tx.append(StoreEventType.quoteReceived, [
                "paymentReferenceId": .string(quote.paymentReferenceID), "serverId": .string(quote.serverID),
                "serviceId": .int(Int64(quote.serviceID)), "priceId": .int(Int64(quote.priceID)),
                "units": .int(Int64(quote.units)), "totalAmount": .int(quote.total.minorUnits),
                "currencyCode": .string(quote.total.currency.code),
            ], at: now)
            return quote
        }
    }

    public func consumerQuote(paymentReferenceID: String) async throws -> ConsumerQuote? {
        try await read { db in try Self.loadConsumerQuote(db, paymentReferenceID: paymentReferenceID) }
    }

    static func loadConsumerQuote(_ db: SQLiteConnection, paymentReferenceID: String) throws -> ConsumerQuote? {
        try db.queryOne(
            """
            SELECT payment_reference_id, server_id, client_id, service_id, price_id, units, total_amount, currency,
                merchant_client_key, producer_url, service_type, payment_started_at_ms
            FROM consumer_quote WHERE payment_reference_id = ?
            """, [paymentReferenceID]
        ) { row in
            ConsumerQuote(
                paymentReferenceID: row.text(0), serverID: row.text(1), clientID: row.text(2),
                serviceID: row.int(3), priceID: row.int(4), units: row.int(5),
                total: try Rows.money(row.int64(6), row.text(7)),
                merchantClientKey: row.text(8), producerURL: row.text(9), serviceType: row.optionalText(10),
                paymentStartedAt: row.optionalInt64(11).map(Instant.init(milliseconds:)))
        }
    }

    /// Records a purchase after the producer confirmed the payment. Idempotent per paymentReferenceID:
    /// recording the same purchase again returns the stored one (with its current ledger) and appends no
    /// event; the same reference with a different token or terms is `conflict`.
    public func recordPurchase(
        _ purchase: Purchase, tokenJSON: String, producerURL: String, now: Instant
    ) async throws -> Committed<StoredPurchase> {
        try await transaction { tx in
            if let existing = try Self.loadPurchase(tx.db, paymentReferenceID: purchase.paymentReferenceID) {
                let p = existing.purchase
                guard existing.tokenJSON == tokenJSON, p.tokenKey == purchase.tokenKey, p.serverID == purchase.serverID,
                      p.serviceID == purchase.serviceID, p.priceID == purchase.priceID, p.bought == purchase.bought,
                      p.totalPaid == purchase.totalPaid
                else {
                    throw WPWError(.conflict, "a different purchase is already recorded for \(purchase.paymentReferenceID)")
                }
                return existing
            }
            let ms = now.milliseconds
            try tx.db.run(
                """
                    INSERT INTO purchase (payment_reference_id, server_id, client_id, service_id, price_id, total_amount,
                        currency, token_key, token_json, expiry_s, expiry_ns, producer_url, bought, delivered, in_flight,
                        created_at_ms, updated_at_ms)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                [
                    purchase.paymentReferenceID, purchase.serverID, purchase.clientID, purchase.serviceID,
                    purchase.priceID, purchase.totalPaid.minorUnits, purchase.totalPaid.currency.code,
                    purchase.tokenKey, tokenJSON, purchase.expiry.secondsSinceEpoch, Int64(purchase.expiry.nanoseconds),
                    producerURL, purchase.bought, purchase.delivered, purchase.inFlight, ms, ms,
                ])
            let stored = StoredPurchase(id: tx.db.lastInsertRowID, purchase: purchase, tokenJSON: tokenJSON, producerURL: producerURL)
            // The quote has served: a retried makePayment finds the purchase first.
            try tx.db.run("DELETE FROM consumer_quote WHERE payment_reference_id = ?", [purchase.paymentReferenceID])
            var payload = Self.purchasePayload(stored)
            payload["totalAmount"] = .int(purchase.totalPaid.minorUnits)
            payload["currencyCode"] = .string(purchase.totalPaid.currency.code)
            try tx.append(StoreEventType.purchaseRecorded, payload, at: now)
            return stored
        }
    }

    /// Reserves up to `units` locally before asking the producer (`Purchase.beginDelivery`: refused after the
    /// token expiry or when nothing remains).
    ///
    /// The consumer's delivery records (this, `confirmDelivery`, `endDelivery`) commit without an fsync of
    /// their own (they survive a crash of the process, and the next durable commit makes them durable too):
    /// they mirror the producer's ledger, which is durable and decides the units. A power cut can only take
    /// this mirror back to an earlier state of the same purchase: units then show as remaining or in flight
    /// that the producer has delivered; the producer grants only what its ledger has left (and answers `conflict` to an end
    /// with nothing in flight, which releases the local reservation), so nothing paid for is lost or redeemed twice. The purchase
    /// itself (`recordPurchase`: the token key, i.e. the money) is durable before `makePayment` answers.
    public func beginDelivery(purchaseID: Int64, units: Int, now: Instant) async throws -> Committed<ConsumerDeliveryStart> {
        try await transaction(durable: false) { tx in
            let stored = try Self.requirePurchase(tx.db, purchaseID)
            let (next, reserved) = try stored.purchase.beginDelivery(requested: units, now: now)
            let updated = try Self.updatePurchase(tx.db, stored, next, now: now)
            var payload = Self.purchasePayload(updated)
            payload["unitsRequested"] = .int(Int64(units))
            payload["unitsReserved"] = .int(Int64(reserved))
            try tx.append(StoreEventType.consumerDeliveryBegun, payload, at: now)
            return ConsumerDeliveryStart(purchase: updated, reserved: reserved)
        }
    }

    /// The producer granted `granted` of the `reserved` units: the difference goes back.
    /// Not fsynced on its own: see `beginDelivery`.
    public func confirmDelivery(purchaseID: Int64, reserved: Int, granted: Int, now: Instant) async throws -> Committed<StoredPurchase> {
        try await transaction(durable: false) { tx in
            let stored = try Self.requirePurchase(tx.db, purchaseID)
            let next = try stored.purchase.confirmBegin(reserved: reserved, granted: granted)
            let updated = try Self.updatePurchase(tx.db, stored, next, now: now)
            var payload = Self.purchasePayload(updated)
            payload["unitsReserved"] = .int(Int64(reserved))
            payload["unitsGranted"] = .int(Int64(granted))
            try tx.append(StoreEventType.consumerDeliveryConfirmed, payload, at: now)
            return updated
        }
    }

    /// Records the end of a delivery: commits `min(unitsReceived, inFlight)`. A replay is `conflict`.
    /// Not fsynced on its own: see `beginDelivery`.
    public func endDelivery(purchaseID: Int64, unitsReceived: Int, now: Instant) async throws -> Committed<ConsumerDeliveryEnd> {
        try await recordEnd(purchaseID: purchaseID, unitsReceived: unitsReceived, now: now) { try $0.endDelivery(received: unitsReceived) }
    }

    private func recordEnd(
        purchaseID: Int64, unitsReceived: Int, now: Instant, _ apply: @escaping @Sendable (Purchase) throws -> (purchase: Purchase, committed: Int)
    ) async throws -> Committed<ConsumerDeliveryEnd> {
        try await transaction(durable: false) { tx in
            let stored = try Self.requirePurchase(tx.db, purchaseID)
            let (next, committed) = try apply(stored.purchase)
            let updated = try Self.updatePurchase(tx.db, stored, next, now: now)
            var payload = Self.purchasePayload(updated)
            payload["unitsReceived"] = .int(Int64(unitsReceived))
            payload["unitsCommitted"] = .int(Int64(committed))
            try tx.append(StoreEventType.consumerDeliveryEnded, payload, at: now)
            return ConsumerDeliveryEnd(purchase: updated, committed: committed)
        }
    }

    /// Checks a begin before the producer is asked (`Purchase.beginDelivery`: nothing unsettled, not
    /// expired, units left) and says how many units to ask for. Writes nothing: the answer is recorded in
    /// one transaction by `recordDeliveryGranted` (or `recordUnsettled(…, reserved: false)`).
    public func checkDelivery(purchaseID: Int64, units: Int, now: Instant) async throws -> ConsumerDeliveryStart {
        try await read { db in
            let stored = try Self.requirePurchase(db, purchaseID)
            if let refund = stored.refund, refund.status != .closed {
                throw WPWError(
                    .unitsRefunded, "the undelivered units of purchase \(purchaseID) were refunded and can no longer be delivered",
                    data: ["purchaseId": .int(purchaseID), "status": .string(refund.status.rawValue),
                           "unitsRefunded": .int(Int64(refund.units)), "amountRefunded": .int(refund.amount)])
            }
            let (_, reserved) = try stored.purchase.beginDelivery(requested: units, now: now)
            return ConsumerDeliveryStart(purchase: stored, reserved: reserved)
        }
    }

    /// The producer granted `granted` of the `asked` units of a begin (`Purchase.beginGranted`): they go in
    /// flight, with the `consumer.deliveryBegun` and `consumer.deliveryConfirmed` events, in one transaction
    /// (what used to be a reservation before the call and its confirmation after it). Not fsynced on its own:
    /// see `beginDelivery`.
    public func recordDeliveryGranted(
        purchaseID: Int64, requested: Int, asked: Int, granted: Int, now: Instant
    ) async throws -> Committed<StoredPurchase> {
        try await transaction(durable: false) { tx in
            let stored = try Self.requirePurchase(tx.db, purchaseID)
            // A producer that grants more than it was asked for is held to what was asked.
            let (next, inFlight) = try stored.purchase.beginGranted(min(granted, asked), at: now)
            let updated = try Self.updatePurchase(tx.db, stored, next, now: now)
            var begun = Self.purchasePayload(updated)
            begun["unitsRequested"] = .int(Int64(requested))
            begun["unitsReserved"] = .int(Int64(asked))
            try tx.append(StoreEventType.consumerDeliveryBegun, begun, at: now)
            var confirmed = Self.purchasePayload(updated)
            confirmed["unitsReserved"] = .int(Int64(asked))
            confirmed["unitsGranted"] = .int(Int64(inFlight))
            try tx.append(StoreEventType.consumerDeliveryConfirmed, confirmed, at: now)
            return updated
        }
    }

    /// A delivery call got no answer from the producer (`Purchase.beginUnanswered` / `endUnanswered`): the
    /// record keeps its units in flight and says which call to settle. Durable: the mark is what lets the
    /// next call settle with the producer instead of guessing. `reserved: false` is for a begin whose units
    /// were not reserved here before it was sent (`checkDelivery`): they go in flight now
    /// (`Purchase.beginSentUnanswered`).
    public func recordUnsettled(
        purchaseID: Int64, _ unsettled: UnsettledDelivery, reserved: Bool = true, now: Instant
    ) async throws -> Committed<StoredPurchase> {
        try await transaction { tx in
            let stored = try Self.requirePurchase(tx.db, purchaseID)
            let next: Purchase
            switch unsettled {
            case .begin(let units) where reserved: next = try stored.purchase.beginUnanswered(reserved: units)
            case .begin(let units): next = try stored.purchase.beginSentUnanswered(units: units, at: now)
            case .end(let units): next = stored.purchase.endUnanswered(received: units)
            }
            let updated = try Self.updatePurchase(tx.db, stored, next, now: now)
            var payload = Self.purchasePayload(updated)
            payload["unsettled"] = .string(unsettled.name)
            payload["units"] = .int(Int64(unsettled.units))
            try tx.append(StoreEventType.consumerDeliveryUnsettled, payload, at: now)
            return updated
        }
    }

    /// The producer answered an end (`Purchase.endAnswered`): the record follows its ledger. Not fsynced on
    /// its own: see `beginDelivery`.
    public func recordEndAnswered(
        purchaseID: Int64, unitsReceived: Int, unitsJustSupplied: Int, unitsRemaining: Int, now: Instant
    ) async throws -> Committed<ConsumerDeliveryEnd> {
        try await recordEnd(purchaseID: purchaseID, unitsReceived: unitsReceived, now: now) {
            try $0.endAnswered(committed: min(unitsReceived, unitsJustSupplied), unitsRemaining: unitsRemaining)
        }
    }

    /// The producer refused a delivery call and sent its ledger: the record takes it (`Purchase.synced`).
    public func syncPurchase(purchaseID: Int64, to producer: UnitLedger, now: Instant) async throws -> Committed<StoredPurchase> {
        try await transaction { tx in
            let stored = try Self.requirePurchase(tx.db, purchaseID)
            let next = try stored.purchase.synced(to: producer)
            let updated = try Self.updatePurchase(tx.db, stored, next, now: now)
            var payload = Self.purchasePayload(updated)
            payload["producerUnitsDelivered"] = .int(Int64(producer.delivered))
            payload["producerUnitsInFlight"] = .int(Int64(producer.inFlight))
            try tx.append(StoreEventType.consumerDeliverySynced, payload, at: now)
            return updated
        }
    }

    public func purchase(id: Int64) async throws -> StoredPurchase? {
        try await read { db in try db.queryOne(Self.purchaseSelect + " WHERE id = ?", [id], Self.purchase) }
    }

    public func purchase(paymentReferenceID: String) async throws -> StoredPurchase? {
        try await read { db in try Self.loadPurchase(db, paymentReferenceID: paymentReferenceID) }
    }

    /// All purchases, oldest first.
    public func listPurchases() async throws -> [StoredPurchase] {
        try await read { db in try db.query(Self.purchaseSelect + " ORDER BY id", [], Self.purchase) }
    }

    // MARK: Helpers

    /// The columns `purchase(_:)` reads, by index.
    static let purchaseSelect = """
        SELECT id, server_id, client_id, service_id, price_id, payment_reference_id, total_amount, currency, token_key,
            expiry_s, expiry_ns, bought, delivered, in_flight, unsettled, unsettled_units, token_json, producer_url,
            refund_status, refund_reason, refund_units, refund_amount
        FROM purchase
        """

    static func loadPurchase(_ db: SQLiteConnection, paymentReferenceID: String) throws -> StoredPurchase? {
        try db.queryOne(purchaseSelect + " WHERE payment_reference_id = ?", [paymentReferenceID], purchase)
    }

    static func requirePurchase(_ db: SQLiteConnection, _ id: Int64) throws -> StoredPurchase {
        guard let stored = try db.queryOne(purchaseSelect + " WHERE id = ?", [id], purchase) else {
            throw WPWError(.notFound, "purchase \(id) not found")
        }
        return stored
    }

    static func purchase(_ row: SQLiteRow) throws -> StoredPurchase {
        let purchase = Purchase(
            serverID: row.text(1), clientID: row.text(2), serviceID: row.int(3), priceID: row.int(4),
            paymentReferenceID: row.text(5),
            totalPaid: try Rows.money(row.int64(6), row.text(7)), tokenKey: row.text(8),
            expiry: try Rows.instant(row.int64(9), row.int64(10), "expiry"),
            ledger: try UnitLedger(purchased: row.int(11), delivered: row.int(12), inFlight: row.int(13)),
            unsettled: UnsettledDelivery(name: row.optionalText(14), units: row.optionalInt(15)))
        var refund: PurchaseRefund?
        if let status = row.optionalText(18) {
            guard let status = PurchaseRefund.Status(rawValue: status) else { throw WPWError(.internalError, "store: unknown refund status") }
            refund = PurchaseRefund(
                status: status, reason: row.optionalText(19).flatMap(RefundReason.init(rawValue:)),
                units: row.optionalInt(20) ?? 0, amount: row.optionalInt64(21) ?? 0)
        }
        return StoredPurchase(id: row.int64(0), purchase: purchase, tokenJSON: row.text(16), producerURL: row.text(17), refund: refund)
    }

    static func updatePurchase(_ db: SQLiteConnection, _ stored: StoredPurchase, _ next: Purchase, now: Instant) throws -> StoredPurchase {
        try db.run(
            "UPDATE purchase SET delivered = ?, in_flight = ?, unsettled = ?, unsettled_units = ?, updated_at_ms = ? WHERE id = ?",
            [next.delivered, next.inFlight, next.unsettled?.name, next.unsettled?.units, now.milliseconds, stored.id])
        return StoredPurchase(id: stored.id, purchase: next, tokenJSON: stored.tokenJSON, producerURL: stored.producerURL, refund: stored.refund)
    }

    // MARK: Refunds of undelivered units

    /// Records the producer's answer to a refund request (``PurchaseRefund/recording(_:over:)``: an issued
    /// refund is final), and the producer's ledger when it sent one. Durable. When the answer issues the
    /// refund, `consumer.refundReceived` is appended with it.
    public func recordRefund(
        purchaseID: Int64, _ answer: PurchaseRefund, producerLedger: UnitLedger?, now: Instant
    ) async throws -> Committed<StoredPurchase> {
        try await transaction { tx in
            let stored = try Self.requirePurchase(tx.db, purchaseID)
            let (record, issuedNow) = PurchaseRefund.recording(answer, over: stored.refund)
            guard record != stored.refund else { return stored }
            var next = stored.purchase
            if let producerLedger, let synced = try? next.synced(to: producerLedger) { next = synced }
            var updated = try Self.updatePurchase(tx.db, stored, next, now: now)
            try tx.db.run(
                "UPDATE purchase SET refund_status = ?, refund_reason = ?, refund_units = ?, refund_amount = ? WHERE id = ?",
                [record.status.rawValue, record.reason?.rawValue, record.units, record.amount, stored.id])
            updated.refund = record
            if issuedNow {
                var payload = Self.purchasePayload(updated)
                payload["reason"] = record.reason.map { .string($0.rawValue) } ?? .null
                payload["unitsRefunded"] = .int(Int64(record.units))
                payload["amountRefunded"] = .int(record.amount)
                payload["currencyCode"] = .string(next.totalPaid.currency.code)
                try tx.append(StoreEventType.consumerRefundReceived, payload, at: now)
            }
            return updated
        }
    }

    /// Purchases whose refund is to be asked about: expired and never asked, or pending at the producer.
    public func purchasesAwaitingRefund(now: Instant) async throws -> [StoredPurchase] {
        try await read { db in
            // The query compares whole seconds; the exact expiry decides.
            try db.query(
                Self.purchaseSelect + " WHERE (refund_status IS NULL AND expiry_s <= ?) OR refund_status = 'pending' ORDER BY id",
                [now.secondsSinceEpoch], Self.purchase
            ).filter { $0.refund != nil || $0.purchase.isExpired(at: now) }
        }
    }

    static func purchasePayload(_ stored: StoredPurchase) -> [String: JSONValue] {
        let p = stored.purchase
        return [
            "purchaseId": .int(stored.id),
            "paymentReferenceId": .string(p.paymentReferenceID),
            "serverId": .string(p.serverID),
            "serviceId": .int(Int64(p.serviceID)),
            "priceId": .int(Int64(p.priceID)),
            "unitsBought": .int(Int64(p.bought)),
            "unitsDelivered": .int(Int64(p.delivered)),
            "unitsInFlight": .int(Int64(p.inFlight)),
        ]
    }
}
