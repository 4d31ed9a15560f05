import Foundation
import Testing
import WPWithinCore
import WPWithinSQLite
@testable import WPWithinStore

/// A state directory written by the last release whose store was on GRDB (`Fixtures/grdb-v2-wpwithin.sqlite`:
/// made by that build's `wpw-store-crashtest crash DIR 8`, 8 paid and fully delivered orders with their
/// consumer purchases, 2 payments left pending, the journal) opens on the libsqlite3 store unchanged.
@Suite("Store: a GRDB-era state directory") struct MigrationFixtureTests {
    static func fixtureCopy() throws -> TempDir {
        let url = try #require(Bundle.module.url(forResource: "grdb-v2-wpwithin", withExtension: "sqlite", subdirectory: "Fixtures"))
        let dir = try TempDir()
        try FileManager.default.copyItem(atPath: url.path, toPath: dir.databasePath)
        return dir
    }

    @Test func itOpensWithEveryRowAsItWasAndGoesOn() async throws {
        let dir = try Self.fixtureCopy()
        defer { dir.cleanup() }
        var before = try dump(dir.databasePath)
        #expect(before["grdb_migrations"]?.count == 2)
        let store = try dir.open()
        defer { try? store.close() }
        #expect(try await store.appliedMigrations() == ["v1-initial", "v2-payment-recovery"])

        // Every row is as it was; only the record of migrations changed tables.
        var after = try dump(dir.databasePath)
        #expect(before.removeValue(forKey: "grdb_migrations") != nil)
        #expect(after.removeValue(forKey: "schema_migration")?.count == 2)
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
