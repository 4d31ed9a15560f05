import Foundation
import WPWithinSQLite
import Testing
import WPWithinCore
import WPWithinTestSupport
@testable import WPWithinStore

/// The store's side of payment recovery, the delivery lease, the v1 → v2 migration and a full state volume.
@Suite("Store: payment recovery, lease, migration, full volume") struct RecoveryStoreTests {
    @Test func anAbandonedAttemptReleasesItsStockIsClosedAndALateChargeIsRecordedAndRefunded() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try dir.open()
        defer { try? store.close() }
        _ = try await store.addService(try washService(stock: 10), now: t0)
        let quote = try await store.createQuote(serviceID: 1, priceID: 1, units: 4, clientID: "c", now: t0).value
        let ref = quote.paymentReferenceID
        _ = try await store.startPayment(paymentReferenceID: ref, clientID: "c", now: at(1))
        _ = try await store.recordPaymentOutcomeUnknown(paymentReferenceID: ref, reason: "timeout", now: at(2))
        #expect(try await store.catalog().price(serviceID: 1, priceID: 1).stock == 6)

        let abandoned = try await store.recordPaymentAbandoned(paymentReferenceID: ref, reason: "not found", now: at(900))
        #expect(abandoned.value.state == .abandoned)
        #expect(abandoned.events.map(\.type) == [StoreEventType.paymentAbandoned])
        #expect(abandoned.events.first?.payload["customerOrderCode"] == .string(ref))
        #expect(try await store.catalog().price(serviceID: 1, priceID: 1).stock == 10)
        // Closed for payment, and still watched (for a late charge) until the watch ends.
        await #expect(throws: WPWError.self) { try await store.startPayment(paymentReferenceID: ref, clientID: "c", now: at(901)) }
        #expect(try await store.ordersNeedingReconciliation(watchingSince: at(0)).map(\.paymentReferenceID) == [ref])
        #expect(try await store.ordersNeedingReconciliation(watchingSince: at(2)).isEmpty)
        #expect(try await store.order(paymentReferenceID: ref)?.paymentStartedAt?.secondsSinceEpoch == at(1).secondsSinceEpoch)

        let late = try await store.recordLateCharge(paymentReferenceID: ref, orderCode: "oc-late", now: at(1000))
        #expect(late.value.state == .refundPending && late.value.pspReference == "oc-late")
        #expect(try await store.ordersNeedingReconciliation(watchingSince: at(5000)).map(\.state) == [.refundPending])
        let refunded = try await store.recordRefundCompleted(paymentReferenceID: ref, now: at(1001))
        #expect(refunded.value.state == .refunded)
        let event = try #require(refunded.events.first)
        #expect(event.type == StoreEventType.refundIssued)
        #expect(event.payload["pspOrderCode"] == "oc-late" && event.payload["refundAmount"] == 2000)
        #expect(try await store.ordersNeedingReconciliation(watchingSince: at(0)).isEmpty)
        // The stock given back stays given back; a refunded order is final.
        #expect(try await store.catalog().price(serviceID: 1, priceID: 1).stock == 10)
        await #expect(throws: WPWError.self) { try await store.recordRefundCompleted(paymentReferenceID: ref, now: at(1002)) }
        let db = try SQLiteConnection(path: dir.databasePath)
        defer { try? db.close() }
        #expect(throws: (any Error).self) {
            try db.run("UPDATE producer_order SET state = 'paid' WHERE payment_reference_id = ?", [ref])
        }
    }

    @Test func aSecondAttemptGoesToTheGatewayUnderItsOwnCode() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try dir.open()
        defer { try? store.close() }
        _ = try await store.addService(try washService(), now: t0)
        let ref = try await store.createQuote(serviceID: 1, priceID: 1, units: 1, clientID: "c", now: t0).value.paymentReferenceID
        guard case .charge(let first) = try await store.startPayment(paymentReferenceID: ref, clientID: "c", now: at(1)).value else {
            Issue.record("expected a charge"); return
        }
        #expect(first.customerOrderCode == ref)
        _ = try await store.recordPaymentFailed(paymentReferenceID: ref, reason: "declined", now: at(2))
        guard case .charge(let second) = try await store.startPayment(paymentReferenceID: ref, clientID: "c", now: at(3)).value else {
            Issue.record("expected a charge"); return
        }
        #expect(second.customerOrderCode == ref + ".2")
        #expect(try await store.order(paymentReferenceID: ref)?.customerOrderCode == ref + ".2")
    }

    @Test func unitsInFlightPastTheLeaseAreReleasedAtTheNextBegin() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try dir.open()
        defer { try? store.close() }
        _ = try await store.addService(try washService(), now: t0)
        let order = try await paidOrder(store, units: 5)
        let token = PresentedToken(try #require(order.token))
        let first = try await store.beginDelivery(token: token, clientID: "client-a", serviceID: 1, units: 3, now: at(10), lease: .seconds(60))
        #expect(first.value.granted == 3)
        // Within the lease: the 3 stay in flight, 2 can be begun.
        let second = try await store.beginDelivery(token: token, clientID: "client-a", serviceID: 1, units: 5, now: at(20), lease: .seconds(60))
        #expect(second.value.granted == 2 && second.value.order.ledger?.inFlight == 5)
        #expect(try await store.order(paymentReferenceID: order.paymentReferenceID)?.ledger?.inFlightSince?.secondsSinceEpoch == at(10).secondsSinceEpoch)
        // Past it: the units nobody ended go back first, then the begin is granted.
        let third = try await store.beginDelivery(token: token, clientID: "client-a", serviceID: 1, units: 4, now: at(70), lease: .seconds(60))
        #expect(third.value.granted == 4)
        #expect(third.events.map(\.type) == [StoreEventType.deliveryLeaseExpired, StoreEventType.deliveryBegun])
        #expect(third.events.first?.payload["units"] == 5 && third.events.first?.payload["settledAs"] == "released")
        let ledger = try #require(third.value.order.ledger)
        #expect(ledger.delivered == 0 && ledger.inFlight == 4 && ledger.remaining == 1)
        // A forged token settles nothing.
        let forged = PresentedToken(key: token.key, signature: [UInt8](repeating: 1, count: 32))
        await #expect(throws: WPWError.self) {
            try await store.beginDelivery(token: forged, clientID: "client-a", serviceID: 1, units: 1, now: at(500), lease: .seconds(60))
        }
        #expect(try await store.order(paymentReferenceID: order.paymentReferenceID)?.ledger?.inFlight == 4)
        // An end is the consumer's own report and is taken as it is, however late.
        let end = try await store.endDelivery(token: token, clientID: "client-a", serviceID: 1, unitsReceived: 4, now: at(10_000))
        #expect(end.value.committed == 4 && end.value.unitsRemaining == 1)
    }

    @Test func aVersion1DatabaseMigratesWithItsOrdersAndPurchases() async throws {
        // A state directory written by the previous release: schema v1, a pending order and a consumer
        // purchase with a delivery in flight.
        // Its migrations are recorded as GRDB recorded them (the store was on GRDB then).
        let v1File = try TempDir()
        defer { v1File.cleanup() }
        let oldDB = try SQLiteConnection(path: v1File.databasePath)
        try oldDB.execute("CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
        try Schema.v1(oldDB)
        try oldDB.execute("INSERT INTO grdb_migrations VALUES ('v1-initial')")
        try oldDB.execute("""
            INSERT INTO device VALUES (1, '3b0f50f5-c4e6-4d0f-9cbf-52466e858ea3', 'old', 1);
            INSERT INTO signing_key VALUES (1, zeroblob(32), 1);
            INSERT INTO service VALUES (1, 'RoboWash', 'Car wash', 'wash');
            INSERT INTO price VALUES (1, 1, 'per wash', 500, 'GBP', 1, 'wash', 6);
            INSERT INTO quote VALUES ('ref-pending', 's', 'c', 1, 'RoboWash', 1, 1, 'wash', 4, 500, 2000, 'GBP', 1800000000, 0, 1800000600, 0);
            INSERT INTO producer_order VALUES ('ref-pending', 'paymentPending', 1, NULL, NULL, 1, 2, 1800000001000, NULL);
            INSERT INTO purchase (payment_reference_id, server_id, client_id, service_id, price_id, total_amount, currency,
                token_key, token_json, expiry_s, expiry_ns, producer_url, bought, delivered, in_flight, created_at_ms, updated_at_ms)
                VALUES ('ref-bought', 's', 'c', 1, 1, 1500, 'GBP', 'k', '{}', 1900000000, 0, 'http://127.0.0.1:1', 3, 1, 1, 1, 1);
            """)
        try oldDB.close()
        let store = try v1File.open()
        defer { try? store.close() }
        #expect(try await store.appliedMigrations() == ["v1-initial", "v2-payment-recovery", "v3-one-row-per-order", "v4-fewer-pages-per-commit", "v5-journal-cursors", "v6-refunds", "v7-spending"])
        let tables = try SQLiteConnection(path: v1File.databasePath, readOnly: true)
            .query("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%migration%' ORDER BY name") { $0.text(0) }
        #expect(tables == ["schema_migration"], "GRDB's record is adopted and dropped")
        #expect(store.identity.serverID == "3b0f50f5-c4e6-4d0f-9cbf-52466e858ea3")
        let open = try await store.ordersNeedingReconciliation()
        #expect(open.map(\.paymentReferenceID) == ["ref-pending"])
        #expect(open.first?.state == .paymentPending && open.first?.paymentStartedAt?.secondsSinceEpoch == 1_800_000_001)
        #expect(try await store.catalog().price(serviceID: 1, priceID: 1).stock == 6)
        let purchase = try #require(try await store.listPurchases().first)
        #expect(purchase.purchase.delivered == 1 && purchase.purchase.inFlight == 1 && purchase.purchase.unsettled == nil)
        // The new states are usable on the migrated table.
        _ = try await store.recordPaymentOutcomeUnknown(paymentReferenceID: "ref-pending", reason: "restart", now: at(1))
        let abandoned = try await store.recordPaymentAbandoned(paymentReferenceID: "ref-pending", reason: "not found", now: at(900))
        #expect(abandoned.value.state == .abandoned)
        #expect(try await store.catalog().price(serviceID: 1, priceID: 1).stock == 10)
    }

    // MARK: A full state volume (a real tmpfs; needs root)

    static func volumeStore(_ volume: TmpfsVolume, reserve: Int = 256 << 10, floor: Int = 256 << 10) throws -> Store {
        var configuration = StoreConfiguration()
        configuration.reserveBytes = reserve
        configuration.minimumFreeBytes = floor
        return try Store.open(directory: volume.path + "/state", configuration: configuration, logger: quietLogger)
    }

    @Test(.enabled(if: TmpfsVolume.canMount, "needs root to mount a tmpfs"))
    func aChargeMadeOnAFullVolumeIsRecordedFromTheReserveAndNewMoneyWaitsForSpace() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let volume = try TmpfsVolume(at: dir.path + "/vol", bytes: 4 << 20)
        let store = try Self.volumeStore(volume)
        defer { try? store.close() }
        #expect(store.spaceStatus.reserveInPlace)
        _ = try await store.addService(try washService(), now: t0)
        let ref = try await store.createQuote(serviceID: 1, priceID: 1, units: 2, clientID: "c", now: t0).value.paymentReferenceID
        _ = try await store.startPayment(paymentReferenceID: ref, clientID: "c", now: at(1))
        // The gateway charges; meanwhile the volume fills up to the last block.
        try volume.fill()
        #expect(volume.freeBytes < 8192)
        let paid = try await store.recordPaymentSucceeded(paymentReferenceID: ref, pspOrderCode: "oc", tokenTTL: .seconds(60), now: at(2))
        #expect(paid.value.state == .paid)
        #expect(!store.spaceStatus.reserveInPlace)
        // New money is refused with a clear, typed error; nothing is stored.
        let refused = await #expect(throws: WPWError.self) {
            try await store.createQuote(serviceID: 1, priceID: 1, units: 1, clientID: "c", now: at(3))
        }
        #expect(refused?.code == .storageLow)
        // Space comes back: quotes again, and the reserve is made again.
        volume.drain()
        _ = try await store.createQuote(serviceID: 1, priceID: 1, units: 1, clientID: "c", now: at(4))
        #expect(store.spaceStatus.reserveInPlace)
    }

    @Test(.enabled(if: TmpfsVolume.canMount, "needs root to mount a tmpfs"))
    func withoutAReserveAFailedRecordLeavesTheChargePendingForRecovery() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let volume = try TmpfsVolume(at: dir.path + "/vol", bytes: 4 << 20)
        let store = try Self.volumeStore(volume, reserve: 0)
        defer { try? store.close() }
        _ = try await store.addService(try washService(), now: t0)
        let ref = try await store.createQuote(serviceID: 1, priceID: 1, units: 2, clientID: "c", now: t0).value.paymentReferenceID
        _ = try await store.startPayment(paymentReferenceID: ref, clientID: "c", now: at(1))
        try volume.fill()
        var failures = 0
        for n in 0..<50 {
            // Fill whatever a checkpoint freed, then try to record the success.
            try volume.fill()
            do {
                _ = try await store.recordPaymentSucceeded(paymentReferenceID: ref, pspOrderCode: "oc", tokenTTL: .seconds(60), now: at(Int64(2 + n)))
                break
            } catch let error as WPWError {
                #expect(error.code == .internalError)
                failures += 1
                // The failed record left the order as it was: pending, for recovery to settle.
                #expect(try await store.order(paymentReferenceID: ref)?.state == .paymentPending)
            }
        }
        #expect(failures > 0, "the full volume never refused a write")
        volume.drain()
        let paid = try await store.recordPaymentSucceeded(paymentReferenceID: ref, pspOrderCode: "oc", tokenTTL: .seconds(60), now: at(100))
        #expect(paid.value.state == .paid)
    }

    @Test(.enabled(if: TmpfsVolume.canMount, "needs root to mount a tmpfs"))
    func theWriteAheadLogStaysBoundedOnASmallVolume() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let volume = try TmpfsVolume(at: dir.path + "/vol", bytes: 6 << 20)
        let store = try Self.volumeStore(volume)
        defer { try? store.close() }
        _ = try await store.addService(try washService(), now: t0)
        var largest = 0
        for n in 0..<1500 {
            let order = try await paidOrder(store, units: 2, now: at(Int64(n)))
            let token = PresentedToken(try #require(order.token))
            _ = try await store.beginDelivery(token: token, clientID: "client-a", serviceID: 1, units: 2, now: at(Int64(n)))
            _ = try await store.endDelivery(token: token, clientID: "client-a", serviceID: 1, unitsReceived: 2, now: at(Int64(n)))
            var st = stat()
            if stat(store.path + "-wal", &st) == 0 { largest = max(largest, Int(st.st_size)) }
        }
        // Checkpoints every 256 pages and a 1 MiB size limit: the log never grew past a few MiB.
        #expect(largest < 3 << 20, "largest WAL: \(largest) bytes")
    }
}
