import Foundation
import Testing
import WPWithinCore
import WPWithinSQLite
@testable import WPWithinStore

/// A state directory written by the last release whose store was on GRDB (`Fixtures/grdb-v2-wpwithin.sqlite`:
/// made by that build's `wpw-store-crashtest crash DIR 8`, 8 paid and fully delivered orders with their
/// consumer purchases, 2 payments left pending, the journal) opens on the libsqlite3 store and migrates to
/// one row per order (v3) with every value as it was.
@Suite("Store: a GRDB-era state directory") struct MigrationFixtureTests {
    static func fixtureCopy() throws -> TempDir {
        let url = try #require(Bundle.module.url(forResource: "grdb-v2-wpwithin", withExtension: "sqlite", subdirectory: "Fixtures"))
        let dir = try TempDir()
        try FileManager.default.copyItem(atPath: url.path, toPath: dir.databasePath)
        return dir
    }

    /// Every order's columns, oldest first: through the four v2 tables, or from the one v3 table.
    static func orders(_ path: String, v2: Bool) throws -> [[SQLiteValue]] {
        let db = try SQLiteConnection(path: path, readOnly: true)
        defer { try? db.close() }
        let sql = v2 ? """
            SELECT q.payment_reference_id, q.server_id, q.client_id, q.service_id, q.service_name, q.price_id, q.unit_id,
                q.unit_description, q.units, q.unit_amount, q.total_amount, q.currency, q.created_s, q.created_ns,
                q.expires_s, q.expires_ns, o.state, o.attempts, o.psp_order_code, o.failure_reason, o.created_at_ms,
                o.updated_at_ms, o.payment_started_at_ms, o.paid_at_ms, t.token_key, t.issued_s, t.issued_ns, t.expiry_s,
                t.expiry_ns, t.refund_on_expiry, t.signature, l.purchased, l.delivered, l.in_flight, l.in_flight_since_ms
            FROM quote q JOIN producer_order o USING (payment_reference_id)
            LEFT JOIN delivery_token t USING (payment_reference_id) LEFT JOIN unit_ledger l USING (payment_reference_id)
            ORDER BY q.created_s, q.created_ns, q.payment_reference_id
            """ : """
            SELECT payment_reference_id, server_id, client_id, service_id, service_name, price_id, unit_id,
                unit_description, units, unit_amount, total_amount, currency, created_s, created_ns,
                expires_s, expires_ns, state, attempts, psp_order_code, failure_reason, created_at_ms,
                updated_at_ms, payment_started_at_ms, paid_at_ms, token_key, token_issued_s, token_issued_ns, token_expiry_s,
                token_expiry_ns, refund_on_expiry, token_signature, purchased, delivered, in_flight, in_flight_since_ms
            FROM producer_order ORDER BY created_s, created_ns, payment_reference_id
            """
        return try db.prepare(sql).query { row in (0..<row.columnCount).map(row.value) }
    }

    /// Every table, index and trigger as `sqlite_master` records it (no rows).
    static func schema(_ path: String) throws -> [String] {
        let db = try SQLiteConnection(path: path, readOnly: true)
        defer { try? db.close() }
        return try db.prepare("SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_master ORDER BY type, name")
            .query { $0.text(0) }
    }

    /// A new database gets every migration in one transaction; an old one, one migration at a time. Both
    /// must end with the same schema.
    @Test func aNewDatabaseHasTheSchemaAnOldOneMigratesTo() async throws {
        let old = try Self.fixtureCopy()
        defer { old.cleanup() }
        try old.open().close()
        let new = try TempDir()
        defer { new.cleanup() }
        let store = try new.open()
        #expect(try await store.appliedMigrations() == ["v1-initial", "v2-payment-recovery", "v3-one-row-per-order", "v4-fewer-pages-per-commit", "v5-journal-cursors", "v6-refunds", "v7-spending"])
        try store.close()
        let migrated = try Self.schema(old.databasePath), created = try Self.schema(new.databasePath)
        #expect(created.count > 10)
        #expect(created == migrated)
    }

    @Test func itOpensWithEveryRowAsItWasAndGoesOn() async throws {
        let dir = try Self.fixtureCopy()
        defer { dir.cleanup() }
        var before = try dump(dir.databasePath)
        #expect(before["grdb_migrations"]?.count == 2)
        let ordersBefore = try Self.orders(dir.databasePath, v2: true)
        #expect(ordersBefore.count == 10)
        let store = try dir.open()
        defer { try? store.close() }
        #expect(try await store.appliedMigrations() == ["v1-initial", "v2-payment-recovery", "v3-one-row-per-order", "v4-fewer-pages-per-commit", "v5-journal-cursors", "v6-refunds", "v7-spending"])

        // Every order is as it was, now one row each (v3); every other row is as it was.
        #expect(try Self.orders(dir.databasePath, v2: false) == ordersBefore)
        var after = try dump(dir.databasePath)
        for table in ["grdb_migrations", "quote", "producer_order", "delivery_token", "unit_ledger", "sqlite_sequence"] {
            #expect(before.removeValue(forKey: table) != nil, "\(table)")
        }
        #expect(after.removeValue(forKey: "schema_migration")?.count == 7)
        // v6-refunds adds columns: every old row has them at their "nothing yet" values, and is otherwise as it was.
        for (table, added) in [("price", " refund_on_expiry=0"), ("purchase", " refund_status=NULL refund_reason=NULL refund_units=NULL refund_amount=NULL")] {
            let rows = after[table] ?? []
            #expect(!rows.isEmpty && rows.allSatisfy { $0.hasSuffix(added) }, "\(table): \(rows)")
            after[table] = rows.map { String($0.dropLast(added.count)) }
        }
        #expect(after.removeValue(forKey: "journal_cursor")?.isEmpty == true)
        #expect(after.removeValue(forKey: "producer_order")?.count == 10)
        #expect(after.removeValue(forKey: "sqlite_sequence")?.isEmpty == true)
        #expect(before == after)

        let purchases = try await store.listPurchases()
        #expect(purchases.count == 8)
        #expect(purchases.allSatisfy { $0.purchase.delivered == 5 && $0.purchase.inFlight == 0 })
        let pending = try await store.ordersNeedingReconciliation()
        #expect(pending.count == 2 && pending.allSatisfy { $0.state == .paymentPending })
        let lastSeq = try await store.lastSeq()
        #expect(lastSeq > 0)
        #expect(try await store.events(after: 0, limit: 10_000).count == Int(lastSeq))

        // New transitions go on from there: a new journal seq, one order more.
        let quote = try await store.createQuote(serviceID: 1, priceID: 1, units: 1, clientID: "c", now: wallNow())
        #expect(quote.events.first.map { $0.seq > lastSeq } == true)
        guard case .charge = try await store.startPayment(paymentReferenceID: quote.value.paymentReferenceID, clientID: "c", now: wallNow()).value
        else { Issue.record("expected a charge"); return }
        let paid = try await store.recordPaymentSucceeded(
            paymentReferenceID: quote.value.paymentReferenceID, pspOrderCode: "oc", tokenTTL: .seconds(60), now: wallNow())
        #expect(paid.value.state == .paid)
        // The signing key kept from the fixture verifies the new token.
        let token = try #require(paid.value.token)
        let begun = try await store.beginDelivery(
            token: PresentedToken(token), clientID: "c", serviceID: 1, units: 1, now: wallNow())
        #expect(begun.value.granted == 1)
    }
}

private func wallNow() -> Instant {
    let seconds = Date().timeIntervalSince1970
    return Instant(secondsSinceEpoch: Int64(seconds), nanoseconds: Int32((seconds - seconds.rounded(.down)) * 1e9))
}
