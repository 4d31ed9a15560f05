import WPWithinCore
import WPWithinSQLite

/// Row ⇄ domain mapping. Rows are trusted (written by these transitions), but anything that cannot be
/// rebuilt (an unknown currency, a broken ledger) is reported as `internalError` instead of trapping.
enum Rows {
    static func instant(_ seconds: Int64, _ nanos: Int64, _ what: String) throws -> Instant {
        guard nanos >= 0, nanos < 1_000_000_000 else {
            throw WPWError(.internalError, "store: bad nanoseconds in \(what)")
        }
        return Instant(secondsSinceEpoch: seconds, nanoseconds: Int32(nanos))
    }

    static func money(_ amount: Int64, _ code: String) throws -> Money {
        guard let currency = Currency(code: code) else {
            throw WPWError(.internalError, "store: unknown currency \(code)")
        }
        return Money(minorUnits: amount, currency: currency)
    }

    // MARK: Catalog

    private static let serviceColumns = "SELECT id, name, description, service_type FROM service"
    private static let priceColumns =
        "SELECT service_id, id, description, amount, currency, unit_id, unit_description, stock FROM price"

    static func loadCatalog(_ db: SQLiteConnection, serviceID: Int? = nil) throws -> Catalog {
        let filter = serviceID.map { SQLiteArguments([.integer(Int64($0))]) } ?? []
        var pricesByService: [Int: [Price]] = [:]
        let priceSQL = serviceID == nil ? priceColumns : priceColumns + " WHERE service_id = ?"
        for (serviceID, price) in try db.query(priceSQL, filter, { row in
            (row.int(0), try Price(
                id: row.int(1), description: row.text(2), pricePerUnit: money(row.int64(3), row.text(4)),
                unitID: row.int(5), unitDescription: row.text(6), stock: row.optionalInt(7)))
        }) {
            pricesByService[serviceID, default: []].append(price)
        }
        let serviceSQL = serviceID == nil ? serviceColumns : serviceColumns + " WHERE id = ?"
        return try Catalog(services: db.query(serviceSQL, filter) { row in
            try Service(
                id: row.int(0), name: row.text(1), description: row.text(2), serviceType: row.text(3),
                prices: pricesByService[row.int(0)] ?? [])
        })
    }

    static func insertService(_ db: SQLiteConnection, _ service: Service) throws {
        try db.run(
            "INSERT INTO service (id, name, description, service_type) VALUES (?, ?, ?, ?)",
            [service.id, service.name, service.description, service.serviceType])
        for price in service.sortedPrices {
            try db.run(
                """
                INSERT INTO price (service_id, id, description, amount, currency, unit_id, unit_description, stock)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    service.id, price.id, price.description, price.pricePerUnit.minorUnits,
                    price.pricePerUnit.currency.code, price.unitID, price.unitDescription, price.stock,
                ])
        }
    }

    /// Writes the stock of one price as it is in `catalog` (after a reservation or release).
    static func saveStock(_ db: SQLiteConnection, _ catalog: Catalog, serviceID: Int, priceID: Int) throws {
        guard let price = try? catalog.price(serviceID: serviceID, priceID: priceID) else { return }
        try db.run("UPDATE price SET stock = ? WHERE service_id = ? AND id = ?", [price.stock, serviceID, priceID])
    }

    // MARK: Orders

    /// The columns `order(_:)` reads, by index.
    static let orderSelect = """
        SELECT q.payment_reference_id, q.server_id, q.client_id, q.service_id, q.service_name, q.price_id,
               q.unit_id, q.unit_description, q.units, q.unit_amount, q.total_amount, q.currency,
               q.created_s, q.created_ns, q.expires_s, q.expires_ns,
               o.state, o.attempts, o.psp_order_code, o.failure_reason, o.payment_started_at_ms,
               t.token_key, t.issued_s, t.issued_ns, t.expiry_s, t.expiry_ns, t.refund_on_expiry, t.signature,
               l.purchased, l.delivered, l.in_flight, l.in_flight_since_ms
        FROM quote q
        JOIN producer_order o ON o.payment_reference_id = q.payment_reference_id
        LEFT JOIN delivery_token t ON t.payment_reference_id = q.payment_reference_id
        LEFT JOIN unit_ledger l ON l.payment_reference_id = q.payment_reference_id
        """

    static func loadOrder(_ db: SQLiteConnection, paymentReferenceID: String) throws -> Order? {
        try db.queryOne(orderSelect + " WHERE q.payment_reference_id = ?", [paymentReferenceID], order)
    }

    static func loadOrder(_ db: SQLiteConnection, tokenKey: String) throws -> Order? {
        try db.queryOne(orderSelect + " WHERE t.token_key = ?", [tokenKey], order)
    }

    static func order(_ row: SQLiteRow) throws -> Order {
        let currency = row.text(11)
        let quote = Quote(
            paymentReferenceID: row.text(0), serverID: row.text(1), clientID: row.text(2),
            serviceID: row.int(3), serviceName: row.text(4), priceID: row.int(5),
            unitID: row.int(6), unitDescription: row.text(7), units: row.int(8),
            unitPrice: try money(row.int64(9), currency), total: try money(row.int64(10), currency),
            createdAt: try instant(row.int64(12), row.int64(13), "created"),
            expiresAt: try instant(row.int64(14), row.int64(15), "expires"))
        let stateName = row.text(16)
        guard let state = OrderState(rawValue: stateName) else {
            throw WPWError(.internalError, "store: unknown order state \(stateName)")
        }
        var token: DeliveryToken?
        if let key = row.optionalText(21) {
            token = DeliveryToken(
                key: key, issued: try instant(row.int64(22), row.int64(23), "issued"),
                expiry: try instant(row.int64(24), row.int64(25), "expiry"),
                refundOnExpiry: row.bool(26), signature: row.blob(27))
        }
        var ledger: UnitLedger?
        if let purchased = row.optionalInt(28) {
            ledger = try UnitLedger(
                purchased: purchased, delivered: row.int(29), inFlight: row.int(30),
                inFlightSince: row.optionalInt64(31).map(Instant.init(milliseconds:)))
        }
        return Order(
            quote: quote, state: state, attempts: row.int(17), pspReference: row.optionalText(18),
            failureReason: row.optionalText(19), token: token, ledger: ledger,
            paymentStartedAt: row.optionalInt64(20).map(Instant.init(milliseconds:)))
    }

    static func insertOrder(_ db: SQLiteConnection, _ order: Order, nowMS: Int64) throws {
        let q = order.quote
        try db.run(
            """
                INSERT INTO quote (payment_reference_id, server_id, client_id, service_id, service_name, price_id,
                    unit_id, unit_description, units, unit_amount, total_amount, currency,
                    created_s, created_ns, expires_s, expires_ns)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            [
                q.paymentReferenceID, q.serverID, q.clientID, q.serviceID, q.serviceName, q.priceID, q.unitID,
                q.unitDescription, q.units, q.unitPrice.minorUnits, q.total.minorUnits, q.total.currency.code,
                q.createdAt.secondsSinceEpoch, Int64(q.createdAt.nanoseconds),
                q.expiresAt.secondsSinceEpoch, Int64(q.expiresAt.nanoseconds),
            ])
        try db.run(
            """
                INSERT INTO producer_order (payment_reference_id, state, attempts, created_at_ms, updated_at_ms)
                VALUES (?, ?, ?, ?, ?)
                """,
            [q.paymentReferenceID, order.state.rawValue, order.attempts, nowMS, nowMS])
    }

    /// Writes an order's mutable parts (state, attempts, gateway outcome, token, ledger) after a transition.
    static func updateOrder(_ db: SQLiteConnection, _ order: Order, nowMS: Int64, paymentStarted: Bool = false) throws {
        try db.run(
            """
                UPDATE producer_order SET state = ?, attempts = ?, psp_order_code = ?, failure_reason = ?,
                    updated_at_ms = ?,
                    payment_started_at_ms = CASE WHEN ? THEN ? ELSE payment_started_at_ms END,
                    paid_at_ms = CASE WHEN ? = 'paid' AND paid_at_ms IS NULL THEN ? ELSE paid_at_ms END
                WHERE payment_reference_id = ?
                """,
            [
                order.state.rawValue, order.attempts, order.pspReference, order.failureReason, nowMS,
                paymentStarted, nowMS, order.state.rawValue, nowMS, order.paymentReferenceID,
            ])
        guard db.changes == 1 else {
            throw WPWError(.internalError, "store: order \(order.paymentReferenceID) vanished during an update")
        }
        if let token = order.token {
            try db.run(
                """
                    INSERT INTO delivery_token (token_key, payment_reference_id, issued_s, issued_ns, expiry_s, expiry_ns,
                        refund_on_expiry, signature)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (token_key) DO NOTHING
                    """,
                [
                    token.key, order.paymentReferenceID, token.issued.secondsSinceEpoch, Int64(token.issued.nanoseconds),
                    token.expiry.secondsSinceEpoch, Int64(token.expiry.nanoseconds), token.refundOnExpiry,
                    token.signature,
                ])
        }
        if let ledger = order.ledger {
            try db.run(
                """
                    INSERT INTO unit_ledger (payment_reference_id, purchased, delivered, in_flight, in_flight_since_ms)
                    VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (payment_reference_id) DO UPDATE SET
                        purchased = excluded.purchased, delivered = excluded.delivered, in_flight = excluded.in_flight,
                        in_flight_since_ms = excluded.in_flight_since_ms
                    """,
                [
                    order.paymentReferenceID, ledger.purchased, ledger.delivered, ledger.inFlight,
                    ledger.inFlightSince?.milliseconds,
                ])
        }
    }
}

extension Instant {
    /// From milliseconds since the epoch (audit columns).
    init(milliseconds: Int64) {
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        self.init(secondsSinceEpoch: seconds, nanoseconds: Int32((milliseconds - seconds * 1000) * 1_000_000))
    }
}
