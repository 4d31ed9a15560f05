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
        "SELECT service_id, id, description, amount, currency, unit_id, unit_description, stock, refund_on_expiry FROM price"

    static func loadCatalog(_ db: SQLiteConnection, serviceID: Int? = nil) throws -> Catalog {
        let filter = serviceID.map { SQLiteArguments([.integer(Int64($0))]) } ?? []
        var pricesByService: [Int: [Price]] = [:]
        let priceSQL = serviceID == nil ? priceColumns : priceColumns + " WHERE service_id = ?"
        for (serviceID, price) in try db.query(priceSQL, filter, { row in
            (row.int(0), try Price(
                id: row.int(1), description: row.text(2), pricePerUnit: money(row.int64(3), row.text(4)),
                unitID: row.int(5), unitDescription: row.text(6), stock: row.optionalInt(7), refundOnExpiry: row.bool(8)))
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
                INSERT INTO price (service_id, id, description, amount, currency, unit_id, unit_description, stock, refund_on_expiry)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    service.id, price.id, price.description, price.pricePerUnit.minorUnits,
                    price.pricePerUnit.currency.code, price.unitID, price.unitDescription, price.stock,
                    price.refundOnExpiry ? 1 : 0,
                ])
        }
    }

    /// Writes the stock of one price as it is in `catalog` (after a reservation or release).
    static func saveStock(_ db: SQLiteConnection, _ catalog: Catalog, serviceID: Int, priceID: Int) throws {
        guard let price = try? catalog.price(serviceID: serviceID, priceID: priceID) else { return }
        try db.run("UPDATE price SET stock = ? WHERE service_id = ? AND id = ?", [price.stock, serviceID, priceID])
    }

    // MARK: Orders

    /// The columns `order(_:)` reads, by index: one row per order (schema v3).
    static let orderSelect = "SELECT " + ProducerOrderColumns.list + " FROM producer_order"

    static func loadOrder(_ db: SQLiteConnection, paymentReferenceID: String) throws -> Order? {
        try db.queryOne(orderSelect + " WHERE payment_reference_id = ?", [paymentReferenceID], order)
    }

    static func loadOrder(_ db: SQLiteConnection, tokenKey: String) throws -> Order? {
        try db.queryOne(orderSelect + " WHERE token_key = ?", [tokenKey], order)
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
            paymentStartedAt: row.optionalInt64(20).map(Instant.init(milliseconds:)),
            refund: try UnitRefund.restore(reason: row.optionalText(32), status: row.optionalText(33), units: row.optionalInt(34),
                               amount: row.optionalInt64(35), currency: quote.total.currency))
    }

    static func insertOrder(_ db: SQLiteConnection, _ order: Order, nowMS: Int64) throws {
        let q = order.quote
        try db.run(
            """
            INSERT INTO producer_order (payment_reference_id, server_id, client_id, service_id, service_name, price_id,
                unit_id, unit_description, units, unit_amount, total_amount, currency,
                created_s, created_ns, expires_s, expires_ns, state, attempts, created_at_ms, updated_at_ms)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                q.paymentReferenceID, q.serverID, q.clientID, q.serviceID, q.serviceName, q.priceID, q.unitID,
                q.unitDescription, q.units, q.unitPrice.minorUnits, q.total.minorUnits, q.total.currency.code,
                q.createdAt.secondsSinceEpoch, Int64(q.createdAt.nanoseconds),
                q.expiresAt.secondsSinceEpoch, Int64(q.expiresAt.nanoseconds),
                order.state.rawValue, order.attempts, nowMS, nowMS,
            ])
    }

    /// The payment columns: set when the state, attempt, gateway outcome or failure changes.
    private static let paymentSQL = """
        , state = ?, attempts = ?, psp_order_code = ?, failure_reason = ?,
            payment_started_at_ms = CASE WHEN ? THEN ? ELSE payment_started_at_ms END,
            paid_at_ms = CASE WHEN ? = 'paid' AND paid_at_ms IS NULL THEN ? ELSE paid_at_ms END
        """
    /// The token is written once: an order that has one keeps it (and a trigger refuses any change).
    private static let tokenSQL = """
        , token_key = COALESCE(token_key, ?), token_issued_s = COALESCE(token_issued_s, ?),
            token_issued_ns = COALESCE(token_issued_ns, ?), token_expiry_s = COALESCE(token_expiry_s, ?),
            token_expiry_ns = COALESCE(token_expiry_ns, ?), refund_on_expiry = COALESCE(refund_on_expiry, ?),
            token_signature = COALESCE(token_signature, ?)
        """
    private static let ledgerSQL = ", purchased = ?, delivered = ?, in_flight = ?, in_flight_since_ms = ?"
    private static let refundSQL = ", refund_reason = ?, refund_status = ?, refund_units = ?, refund_amount = ?"

    /// One statement per combination of the groups written (bit 0 payment, bit 1 token, bit 2 ledger, bit 3
    /// refund).
    private static let updateOrderStatements: [String] = (0..<16).map { groups in
        "UPDATE producer_order SET updated_at_ms = ?"
            + (groups & 1 != 0 ? paymentSQL : "") + (groups & 2 != 0 ? tokenSQL : "") + (groups & 4 != 0 ? ledgerSQL : "")
            + (groups & 8 != 0 ? refundSQL : "")
            + " WHERE payment_reference_id = ?"
    }

    /// Writes what a transition changed in an order (`previous`, as loaded in this transaction → `order`):
    /// one statement that sets only those column groups. A delivery's begin or end sets the ledger alone, so
    /// SQLite leaves the indexes on `state` and `token_key` and the triggers on them untouched: setting every
    /// column rewrote the `token_key` index entry (one more WAL page per commit) and ran all four triggers.
    static func updateOrder(_ db: SQLiteConnection, _ order: Order, from previous: Order, nowMS: Int64, paymentStarted: Bool = false) throws {
        var groups = 0
        var values: [SQLiteValue] = [.integer(nowMS)]
        if paymentStarted || order.state != previous.state || order.attempts != previous.attempts
            || order.pspReference != previous.pspReference || order.failureReason != previous.failureReason {
            groups |= 1
            values += [
                .text(order.state.rawValue), .integer(Int64(order.attempts)), order.pspReference.map(SQLiteValue.text) ?? .null,
                order.failureReason.map(SQLiteValue.text) ?? .null,
                .integer(paymentStarted ? 1 : 0), .integer(nowMS), .text(order.state.rawValue), .integer(nowMS),
            ]
        }
        if let token = order.token, previous.token == nil {
            groups |= 2
            values += [
                .text(token.key), .integer(token.issued.secondsSinceEpoch), .integer(Int64(token.issued.nanoseconds)),
                .integer(token.expiry.secondsSinceEpoch), .integer(Int64(token.expiry.nanoseconds)),
                .integer(token.refundOnExpiry ? 1 : 0), .blob(token.signature),
            ]
        }
        if let ledger = order.ledger, ledger != previous.ledger {
            groups |= 4
            values += [
                .integer(Int64(ledger.purchased)), .integer(Int64(ledger.delivered)), .integer(Int64(ledger.inFlight)),
                ledger.inFlightSince.map { .integer($0.milliseconds) } ?? .null,
            ]
        }
        if let refund = order.refund, refund != previous.refund {
            groups |= 8
            values += [
                .text(refund.reason.rawValue), .text(refund.status.rawValue), .integer(Int64(refund.units)),
                .integer(refund.amount.minorUnits),
            ]
        }
        values.append(.text(order.paymentReferenceID))
        try db.run(updateOrderStatements[groups], SQLiteArguments(values))
        guard db.changes == 1 else {
            throw WPWError(.internalError, "store: order \(order.paymentReferenceID) vanished during an update")
        }
    }
}

/// The columns an order is read from, by index, in the SQLite store and in the fleet's PostgreSQL (the
/// same names and order in both schemas).
public enum ProducerOrderColumns {
    public static let list = """
        payment_reference_id, server_id, client_id, service_id, service_name, price_id,
               unit_id, unit_description, units, unit_amount, total_amount, currency,
               created_s, created_ns, expires_s, expires_ns,
               state, attempts, psp_order_code, failure_reason, payment_started_at_ms,
               token_key, token_issued_s, token_issued_ns, token_expiry_s, token_expiry_ns, refund_on_expiry, token_signature,
               purchased, delivered, in_flight, in_flight_since_ms,
               refund_reason, refund_status, refund_units, refund_amount
        """
}
