import Foundation
import GRDB
import WPWithinCore

/// Row ⇄ domain mapping. Rows are trusted (written by these transitions), but anything that cannot be
/// rebuilt (an unknown currency, a broken ledger) is reported as `internalError` instead of trapping.
enum Rows {
    static func instant(_ row: Row, _ prefix: String) throws -> Instant {
        let seconds: Int64 = row["\(prefix)_s"]
        let nanos: Int64 = row["\(prefix)_ns"]
        guard nanos >= 0, nanos < 1_000_000_000 else {
            throw WPWError(.internalError, "store: bad nanoseconds in \(prefix)")
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

    static func loadCatalog(_ db: Database, serviceID: Int? = nil) throws -> Catalog {
        let serviceRows: [Row]
        let priceRows: [Row]
        if let serviceID {
            serviceRows = try db.fetchRows(sql: "SELECT * FROM service WHERE id = ?", arguments: [serviceID])
            priceRows = try db.fetchRows(sql: "SELECT * FROM price WHERE service_id = ?", arguments: [serviceID])
        } else {
            serviceRows = try db.fetchRows(sql: "SELECT * FROM service")
            priceRows = try db.fetchRows(sql: "SELECT * FROM price")
        }
        var pricesByService: [Int: [Price]] = [:]
        for row in priceRows {
            let stock: Int? = row["stock"]
            let price = try Price(
                id: row["id"], description: row["description"], pricePerUnit: money(row["amount"], row["currency"]),
                unitID: row["unit_id"], unitDescription: row["unit_description"], stock: stock)
            pricesByService[row["service_id"], default: []].append(price)
        }
        return try Catalog(services: serviceRows.map { row in
            try Service(
                id: row["id"], name: row["name"], description: row["description"], serviceType: row["service_type"],
                prices: pricesByService[row["id"]] ?? [])
        })
    }

    static func insertService(_ db: Database, _ service: Service) throws {
        try db.run(
            sql: "INSERT INTO service (id, name, description, service_type) VALUES (?, ?, ?, ?)",
            arguments: [service.id, service.name, service.description, service.serviceType])
        for price in service.sortedPrices {
            try db.run(
                sql: """
                    INSERT INTO price (service_id, id, description, amount, currency, unit_id, unit_description, stock)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    service.id, price.id, price.description, price.pricePerUnit.minorUnits,
                    price.pricePerUnit.currency.code, price.unitID, price.unitDescription, price.stock,
                ])
        }
    }

    /// Writes the stock of one price as it is in `catalog` (after a reservation or release).
    static func saveStock(_ db: Database, _ catalog: Catalog, serviceID: Int, priceID: Int) throws {
        guard let price = try? catalog.price(serviceID: serviceID, priceID: priceID) else { return }
        try db.run(
            sql: "UPDATE price SET stock = ? WHERE service_id = ? AND id = ?",
            arguments: [price.stock, serviceID, priceID])
    }

    // MARK: Orders

    static let orderSelect = """
        SELECT q.*, o.state, o.attempts, o.psp_order_code, o.failure_reason, o.payment_started_at_ms,
               t.token_key, t.issued_s, t.issued_ns, t.expiry_s, t.expiry_ns, t.refund_on_expiry, t.signature,
               l.purchased, l.delivered, l.in_flight, l.in_flight_since_ms
        FROM quote q
        JOIN producer_order o ON o.payment_reference_id = q.payment_reference_id
        LEFT JOIN delivery_token t ON t.payment_reference_id = q.payment_reference_id
        LEFT JOIN unit_ledger l ON l.payment_reference_id = q.payment_reference_id
        """

    static func loadOrder(_ db: Database, paymentReferenceID: String) throws -> Order? {
        try db.fetchRow(sql: orderSelect + " WHERE q.payment_reference_id = ?", arguments: [paymentReferenceID])
            .map(order)
    }

    static func loadOrder(_ db: Database, tokenKey: String) throws -> Order? {
        try db.fetchRow(sql: orderSelect + " WHERE t.token_key = ?", arguments: [tokenKey]).map(order)
    }

    static func quote(_ row: Row) throws -> Quote {
        let currency: String = row["currency"]
        return Quote(
            paymentReferenceID: row["payment_reference_id"], serverID: row["server_id"], clientID: row["client_id"],
            serviceID: row["service_id"], serviceName: row["service_name"], priceID: row["price_id"],
            unitID: row["unit_id"], unitDescription: row["unit_description"], units: row["units"],
            unitPrice: try money(row["unit_amount"], currency), total: try money(row["total_amount"], currency),
            createdAt: try instant(row, "created"), expiresAt: try instant(row, "expires"))
    }

    static func order(_ row: Row) throws -> Order {
        let stateName: String = row["state"]
        guard let state = OrderState(rawValue: stateName) else {
            throw WPWError(.internalError, "store: unknown order state \(stateName)")
        }
        var token: DeliveryToken?
        if let key: String = row["token_key"] {
            let signature: Data = row["signature"]
            token = DeliveryToken(
                key: key, issued: try instant(row, "issued"), expiry: try instant(row, "expiry"),
                refundOnExpiry: row["refund_on_expiry"], signature: [UInt8](signature))
        }
        var ledger: UnitLedger?
        if let purchased: Int = row["purchased"] {
            let since: Int64? = row["in_flight_since_ms"]
            ledger = try UnitLedger(
                purchased: purchased, delivered: row["delivered"], inFlight: row["in_flight"],
                inFlightSince: since.map(Instant.init(milliseconds:)))
        }
        let started: Int64? = row["payment_started_at_ms"]
        return Order(
            quote: try quote(row), state: state, attempts: row["attempts"], pspReference: row["psp_order_code"],
            failureReason: row["failure_reason"], token: token, ledger: ledger,
            paymentStartedAt: started.map(Instant.init(milliseconds:)))
    }

    static func insertOrder(_ db: Database, _ order: Order, nowMS: Int64) throws {
        let q = order.quote
        try db.run(
            sql: """
                INSERT INTO quote (payment_reference_id, server_id, client_id, service_id, service_name, price_id,
                    unit_id, unit_description, units, unit_amount, total_amount, currency,
                    created_s, created_ns, expires_s, expires_ns)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                q.paymentReferenceID, q.serverID, q.clientID, q.serviceID, q.serviceName, q.priceID, q.unitID,
                q.unitDescription, q.units, q.unitPrice.minorUnits, q.total.minorUnits, q.total.currency.code,
                q.createdAt.secondsSinceEpoch, Int64(q.createdAt.nanoseconds),
                q.expiresAt.secondsSinceEpoch, Int64(q.expiresAt.nanoseconds),
            ])
        try db.run(
            sql: """
                INSERT INTO producer_order (payment_reference_id, state, attempts, created_at_ms, updated_at_ms)
                VALUES (?, ?, ?, ?, ?)
                """,
            arguments: [q.paymentReferenceID, order.state.rawValue, order.attempts, nowMS, nowMS])
    }

    /// Writes an order's mutable parts (state, attempts, gateway outcome, token, ledger) after a transition.
    static func updateOrder(_ db: Database, _ order: Order, nowMS: Int64, paymentStarted: Bool = false) throws {
        try db.run(
            sql: """
                UPDATE producer_order SET state = ?, attempts = ?, psp_order_code = ?, failure_reason = ?,
                    updated_at_ms = ?,
                    payment_started_at_ms = CASE WHEN ? THEN ? ELSE payment_started_at_ms END,
                    paid_at_ms = CASE WHEN ? = 'paid' AND paid_at_ms IS NULL THEN ? ELSE paid_at_ms END
                WHERE payment_reference_id = ?
                """,
            arguments: [
                order.state.rawValue, order.attempts, order.pspReference, order.failureReason, nowMS,
                paymentStarted, nowMS, order.state.rawValue, nowMS, order.paymentReferenceID,
            ])
        guard db.changesCount == 1 else {
            throw WPWError(.internalError, "store: order \(order.paymentReferenceID) vanished during an update")
        }
        if let token = order.token {
            try db.run(
                sql: """
                    INSERT INTO delivery_token (token_key, payment_reference_id, issued_s, issued_ns, expiry_s, expiry_ns,
                        refund_on_expiry, signature)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (token_key) DO NOTHING
                    """,
                arguments: [
                    token.key, order.paymentReferenceID, token.issued.secondsSinceEpoch, Int64(token.issued.nanoseconds),
                    token.expiry.secondsSinceEpoch, Int64(token.expiry.nanoseconds), token.refundOnExpiry,
                    Data(token.signature),
                ])
        }
        if let ledger = order.ledger {
            try db.run(
                sql: """
                    INSERT INTO unit_ledger (payment_reference_id, purchased, delivered, in_flight, in_flight_since_ms)
                    VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (payment_reference_id) DO UPDATE SET
                        purchased = excluded.purchased, delivered = excluded.delivered, in_flight = excluded.in_flight,
                        in_flight_since_ms = excluded.in_flight_since_ms
                    """,
                arguments: [
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

extension Database {
    // Cached prepared statements: preparing (and GRDB's authorizer pass) dominated the CPU time of a
    // transition; every hot statement is a single constant SQL string, so the cache stays small.

    func run(sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }

    func fetchRow(sql: String, arguments: StatementArguments = StatementArguments()) throws -> Row? {
        try Row.fetchOne(cachedStatement(sql: sql), arguments: arguments)
    }

    func fetchRows(sql: String, arguments: StatementArguments = StatementArguments()) throws -> [Row] {
        try Row.fetchAll(cachedStatement(sql: sql), arguments: arguments)
    }
}
