import WPWithinCore
import WPWithinPostgres
import WPWithinStore

/// Row ⇄ domain mapping on the fleet's tables (text parameters and text columns, as libpq gives them).
/// Rows are trusted (written by these transitions), but anything that cannot be rebuilt is reported as
/// `internalError` instead of trapping.
enum FleetRows {
    // MARK: Reading columns

    struct Row {
        let rows: PGRows
        let index: Int

        func text(_ column: Int) throws -> String {
            guard let value = rows.text(index, column) else { throw FleetRows.broken("column \(column) is NULL") }
            return value
        }
        func optionalText(_ column: Int) -> String? { rows.text(index, column) }
        func int64(_ column: Int) throws -> Int64 {
            guard let value = rows.int(index, column) else { throw FleetRows.broken("column \(column) is not an integer") }
            return value
        }
        func int(_ column: Int) throws -> Int { Int(try int64(column)) }
        func optionalInt64(_ column: Int) -> Int64? { rows.int(index, column) }
        func optionalInt(_ column: Int) -> Int? { rows.int(index, column).map { Int($0) } }
        func bool(_ column: Int) -> Bool { rows.text(index, column) == "t" }
    }

    static func broken(_ what: String) -> WPWError { WPWError(.internalError, "fleet store: \(what)") }

    static func each<T>(_ rows: PGRows, _ make: (Row) throws -> T) throws -> [T] {
        try (0..<rows.count).map { try make(Row(rows: rows, index: $0)) }
    }

    static func instant(_ seconds: Int64, _ nanos: Int64) throws -> Instant {
        guard (0..<1_000_000_000).contains(nanos) else { throw broken("bad nanoseconds") }
        return Instant(secondsSinceEpoch: seconds, nanoseconds: Int32(nanos))
    }

    static func money(_ amount: Int64, _ code: String) throws -> Money {
        guard let currency = Currency(code: code) else { throw broken("unknown currency \(code)") }
        return Money(minorUnits: amount, currency: currency)
    }

    // MARK: Catalog

    private static let serviceColumns = "SELECT id, name, description, service_type FROM service"
    private static let priceColumns =
        "SELECT service_id, id, description, amount, currency, unit_id, unit_description, stock, refund_on_expiry FROM price"

    /// The catalog (or one service of it). `lockingPrices`: the price rows are locked (`FOR UPDATE`) until
    /// the transaction ends, so a stock level read here is the one this transaction writes back.
    static func loadCatalog(_ db: PGConnection, serviceID: Int? = nil, lockingPrices: Bool = false) throws -> Catalog {
        let filter = serviceID.map { [String($0)] } ?? []
        var priceSQL = serviceID == nil ? priceColumns : priceColumns + " WHERE service_id = $1"
        priceSQL += " ORDER BY service_id, id" + (lockingPrices ? " FOR UPDATE" : "")
        var pricesByService: [Int: [Price]] = [:]
        for (service, price) in try each(try db.query(priceSQL, filter), { row in
            (try row.int(0), try Price(
                id: row.int(1), description: row.text(2), pricePerUnit: money(row.int64(3), row.text(4)),
                unitID: row.int(5), unitDescription: row.text(6), stock: row.optionalInt(7), refundOnExpiry: row.bool(8)))
        }) {
            pricesByService[service, default: []].append(price)
        }
        let serviceSQL = serviceID == nil ? serviceColumns : serviceColumns + " WHERE id = $1"
        return try Catalog(services: each(try db.query(serviceSQL, filter)) { row in
            try Service(
                id: row.int(0), name: row.text(1), description: row.text(2), serviceType: row.text(3),
                prices: pricesByService[try row.int(0)] ?? [])
        })
    }

    static func insertService(_ db: PGConnection, _ service: Service) throws {
        _ = try db.query(
            "INSERT INTO service (id, name, description, service_type) VALUES ($1, $2, $3, $4)",
            [String(service.id), service.name, service.description, service.serviceType])
        for price in service.sortedPrices {
            _ = try db.query(
                """
                INSERT INTO price (service_id, id, description, amount, currency, unit_id, unit_description, stock, refund_on_expiry)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                """,
                [
                    String(service.id), String(price.id), price.description, String(price.pricePerUnit.minorUnits),
                    price.pricePerUnit.currency.code, String(price.unitID), price.unitDescription, price.stock.map { String($0) },
                    price.refundOnExpiry ? "true" : "false",
                ])
        }
    }

    /// Writes the stock of one price as it is in `catalog`, on the row the transaction locked.
    static func saveStock(_ db: PGConnection, _ catalog: Catalog, serviceID: Int, priceID: Int) throws {
        guard let price = try? catalog.price(serviceID: serviceID, priceID: priceID) else { return }
        _ = try db.query(
            "UPDATE price SET stock = $1 WHERE service_id = $2 AND id = $3",
            [price.stock.map { String($0) }, String(serviceID), String(priceID)])
    }

    // MARK: Orders

    static let orderSelect = "SELECT " + ProducerOrderColumns.list + " FROM producer_order"

    /// The order with this reference; `locking`: its row is locked until the transaction ends, so that
    /// members acting on one order take turns (a retry at another member waits for the first attempt).
    static func loadOrder(_ db: PGConnection, paymentReferenceID: String, locking: Bool) throws -> Order? {
        try each(try db.query(orderSelect + " WHERE payment_reference_id = $1" + (locking ? " FOR UPDATE" : ""), [paymentReferenceID]), order).first
    }

    static func loadOrder(_ db: PGConnection, tokenKey: String, locking: Bool) throws -> Order? {
        try each(try db.query(orderSelect + " WHERE token_key = $1" + (locking ? " FOR UPDATE" : ""), [tokenKey]), order).first
    }

    static func order(_ row: Row) throws -> Order {
        let currency = try row.text(11)
        let quote = Quote(
            paymentReferenceID: try row.text(0), serverID: try row.text(1), clientID: try row.text(2),
            serviceID: try row.int(3), serviceName: try row.text(4), priceID: try row.int(5),
            unitID: try row.int(6), unitDescription: try row.text(7), units: try row.int(8),
            unitPrice: try money(row.int64(9), currency), total: try money(row.int64(10), currency),
            createdAt: try instant(row.int64(12), row.int64(13)), expiresAt: try instant(row.int64(14), row.int64(15)))
        let stateName = try row.text(16)
        guard let state = OrderState(rawValue: stateName) else { throw broken("unknown order state \(stateName)") }
        var token: DeliveryToken?
        if let key = row.optionalText(21) {
            guard let signature = Identifiers.bytes(fromHex: try row.text(27)) else { throw broken("unreadable token signature") }
            token = DeliveryToken(
                key: key, issued: try instant(row.int64(22), row.int64(23)), expiry: try instant(row.int64(24), row.int64(25)),
                refundOnExpiry: row.bool(26), signature: signature)
        }
        var ledger: UnitLedger?
        if let purchased = row.optionalInt(28) {
            ledger = try UnitLedger(
                purchased: purchased, delivered: try row.int(29), inFlight: try row.int(30),
                inFlightSince: row.optionalInt64(31).map(Instant.init(milliseconds:)))
        }
        return Order(
            quote: quote, state: state, attempts: try row.int(17), pspReference: row.optionalText(18),
            failureReason: row.optionalText(19), token: token, ledger: ledger,
            paymentStartedAt: row.optionalInt64(20).map(Instant.init(milliseconds:)),
            refund: try UnitRefund.restore(
                reason: row.optionalText(32), status: row.optionalText(33), units: row.optionalInt(34),
                amount: row.optionalInt64(35), currency: quote.total.currency))
    }

    static func insertOrder(_ db: PGConnection, _ order: Order, nowMS: Int64) throws {
        let q = order.quote
        _ = try db.query(
            """
            INSERT INTO producer_order (payment_reference_id, server_id, client_id, service_id, service_name, price_id,
                unit_id, unit_description, units, unit_amount, total_amount, currency,
                created_s, created_ns, expires_s, expires_ns, state, attempts, created_at_ms, updated_at_ms)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19)
            """,
            [
                q.paymentReferenceID, q.serverID, q.clientID, String(q.serviceID), q.serviceName, String(q.priceID),
                String(q.unitID), q.unitDescription, String(q.units), String(q.unitPrice.minorUnits),
                String(q.total.minorUnits), q.total.currency.code,
                String(q.createdAt.secondsSinceEpoch), String(q.createdAt.nanoseconds),
                String(q.expiresAt.secondsSinceEpoch), String(q.expiresAt.nanoseconds),
                order.state.rawValue, String(order.attempts), String(nowMS),
            ])
    }

    /// Writes an order's mutable columns after a transition (on the row the transaction locked). The token
    /// is written once: an order that has one keeps it. `chargedBy`: the member that starts a charge.
    static func updateOrder(_ db: PGConnection, _ order: Order, nowMS: Int64, paymentStarted: Bool = false, chargedBy: String? = nil) throws {
        let token = order.token
        let ledger = order.ledger
        let rows = try db.query(
            """
            UPDATE producer_order SET updated_at_ms = $1, state = $2, attempts = $3, psp_order_code = $4, failure_reason = $5,
                payment_started_at_ms = CASE WHEN $6 THEN $1 ELSE payment_started_at_ms END,
                paid_at_ms = CASE WHEN $2 = 'paid' AND paid_at_ms IS NULL THEN $1 ELSE paid_at_ms END,
                charged_by = COALESCE($7, charged_by),
                token_key = COALESCE(token_key, $8), token_issued_s = COALESCE(token_issued_s, $9),
                token_issued_ns = COALESCE(token_issued_ns, $10), token_expiry_s = COALESCE(token_expiry_s, $11),
                token_expiry_ns = COALESCE(token_expiry_ns, $12), refund_on_expiry = COALESCE(refund_on_expiry, $13),
                token_signature = COALESCE(token_signature, $14),
                purchased = $15, delivered = $16, in_flight = $17, in_flight_since_ms = $18,
                refund_reason = $20, refund_status = $21, refund_units = $22, refund_amount = $23
            WHERE payment_reference_id = $19
            """,
            [
                String(nowMS), order.state.rawValue, String(order.attempts), order.pspReference, order.failureReason,
                paymentStarted ? "true" : "false", chargedBy,
                token?.key, token.map { String($0.issued.secondsSinceEpoch) }, token.map { String($0.issued.nanoseconds) },
                token.map { String($0.expiry.secondsSinceEpoch) }, token.map { String($0.expiry.nanoseconds) },
                token.map { $0.refundOnExpiry ? "true" : "false" }, token.map { Identifiers.lowercaseHex($0.signature) },
                ledger.map { String($0.purchased) }, ledger.map { String($0.delivered) }, ledger.map { String($0.inFlight) },
                ledger?.inFlightSince.map { String($0.milliseconds) },
                order.paymentReferenceID,
                order.refund?.reason.rawValue, order.refund?.status.rawValue, order.refund.map { String($0.units) },
                order.refund.map { String($0.amount.minorUnits) },
            ])
        guard rows.affected == 1 else { throw broken("order \(order.paymentReferenceID) vanished during an update") }
    }
}
