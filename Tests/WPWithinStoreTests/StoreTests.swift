import Foundation
import WPWithinSQLite
import Testing
import WPWithinCore
import WPWithinCrypto
import WPWithinStore

@Suite("Store: open, migrations, identity")
struct StoreOpenTests {
    @Test func migratesFromEmptyWithPrivateFileAndPragmas() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try dir.open()
        #expect(try await store.appliedMigrations() == ["v1-initial", "v2-payment-recovery", "v3-one-row-per-order", "v4-fewer-pages-per-commit", "v5-journal-cursors", "v6-refunds", "v7-spending"])
        #expect(Identifiers.isUUID(store.identity.serverID))
        #expect(store.identity.serverID == store.identity.serverID.lowercased())
        #expect(store.identity.name == "wpwithind")

        let attributes = try FileManager.default.attributesOfItem(atPath: dir.databasePath)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: dir.databasePath + suffix) {
            let walAttributes = try FileManager.default.attributesOfItem(atPath: dir.databasePath + suffix)
            #expect((walAttributes[.posixPermissions] as? NSNumber)?.intValue == 0o600, "\(suffix)")
        }
        try store.close()

        let db = try SQLiteConnection(path: dir.databasePath)
        #expect(try db.text("PRAGMA journal_mode") == "wal")
        try db.close()
    }

    @Test(arguments: StoreConfiguration.Synchronous.allCases)
    func synchronousSettingIsApplied(_ setting: StoreConfiguration.Synchronous) async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try dir.open(StoreConfiguration(synchronous: setting))
        defer { try? store.close() }
        let probe = try await store.pragmas()
        #expect(probe.synchronous == (setting == .full ? 2 : 1))
        #expect(probe.foreignKeys == 1)
        #expect(probe.busyTimeoutMilliseconds == 5000)
        #expect(probe.journalMode == "wal")
    }

    @Test func aDatabaseFromANewerDaemonIsRefusedAndLeftAlone() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try dir.open().close()
        let db = try SQLiteConnection(path: dir.databasePath)
        try db.run("INSERT INTO schema_migration (identifier) VALUES ('v99-future')")
        try db.close()
        #expect {
            try dir.open()
        } throws: { error in
            (error as? WPWError)?.message.contains("newer wpwithind") == true
        }
        let reread = try SQLiteConnection(path: dir.databasePath, readOnly: true)
        let migrations = try reread.query("SELECT identifier FROM schema_migration ORDER BY identifier") { $0.text(0) }
        #expect(migrations == ["v1-initial", "v2-payment-recovery", "v3-one-row-per-order", "v4-fewer-pages-per-commit", "v5-journal-cursors", "v6-refunds", "v7-spending", "v99-future"])
        try reread.close()
    }

    @Test func reopenKeepsIdentitySigningKeyAndCatalog() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let message: [UInt8] = Array("claims".utf8)
        var store = try dir.open(StoreConfiguration(deviceName: "washer-1"))
        let identity = store.identity
        let signature = store.signer.sign(message)
        _ = try await store.addService(try washService(stock: 7), now: t0)
        let catalog = try await store.catalog()
        try store.close()

        store = try dir.open(StoreConfiguration(deviceName: "ignored-on-reopen"))
        defer { try? store.close() }
        #expect(store.identity == identity)
        #expect(store.signer.sign(message) == signature)
        #expect(store.signer.verify(signature, for: message))
        #expect(try await store.catalog() == catalog)
        #expect(try await store.catalog().price(serviceID: 1, priceID: 1).stock == 7)
        #expect(try await store.appliedMigrations() == ["v1-initial", "v2-payment-recovery", "v3-one-row-per-order", "v4-fewer-pages-per-commit", "v5-journal-cursors", "v6-refunds", "v7-spending"])
    }

    @Test func separateStoresHaveDifferentIdentitiesAndKeys() async throws {
        let a = try TempDir(), b = try TempDir()
        defer { a.cleanup(); b.cleanup() }
        let sa = try a.open(), sb = try b.open()
        defer { try? sa.close(); try? sb.close() }
        #expect(sa.identity.serverID != sb.identity.serverID)
        #expect(sa.signer.sign([1, 2, 3]) != sb.signer.sign([1, 2, 3]))
    }
}

@Suite("Store: catalog")
struct CatalogStoreTests {
    @Test func addReplaceRemoveAreValidatedByTheCatalog() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try dir.open()
        defer { try? store.close() }
        let added = try await store.addService(try washService(), now: t0)
        #expect(added.value.services.count == 1)
        #expect(added.events.map(\.type) == [StoreEventType.serviceAdded])
        try await expectRefused(.alreadyExists, in: dir) { _ = try await store.addService(try washService(), now: t0) }
        try await expectRefused(.notFound, in: dir) { _ = try await store.removeService(id: 9, now: t0) }
        try await expectRefused(.notFound, in: dir) { _ = try await store.replaceService(try washService(id: 9), now: t0) }

        let replaced = try await store.replaceService(try washService(stock: 3), now: t0)
        #expect(try replaced.value.price(serviceID: 1, priceID: 1).stock == 3)
        #expect(try await store.catalog() == replaced.value)
        let removed = try await store.removeService(id: 1, now: t0)
        #expect(removed.value.services.isEmpty)
        #expect(try await store.catalog().services.isEmpty)
    }
}

@Suite("Store: producer payments and deliveries")
struct ProducerFlowTests {
    @Test func quotePayTokenDeliverUntilUsedUp() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try dir.open()
        defer { try? store.close() }
        _ = try await store.addService(try washService(stock: 20), now: t0)

        let quote = try await store.createQuote(serviceID: 1, priceID: 1, units: 5, clientID: "client-a", now: t0)
        #expect(quote.value.total.minorUnits == 2500)
        #expect(quote.value.serverID == store.identity.serverID)
        #expect(try await store.order(paymentReferenceID: quote.value.paymentReferenceID)?.state == .quoted)

        let start = try await store.startPayment(paymentReferenceID: quote.value.paymentReferenceID, clientID: "client-a", now: at(1))
        guard case .charge(let pending) = start.value else { Issue.record("expected charge"); return }
        #expect(pending.state == .paymentPending && pending.attempts == 1)
        #expect(start.events.map(\.type) == [StoreEventType.paymentStarted])
        // The pending order and the reservation are durable before the gateway is called.
        #expect(try await store.order(paymentReferenceID: pending.paymentReferenceID)?.state == .paymentPending)
        #expect(try await store.catalog().price(serviceID: 1, priceID: 1).stock == 15)
        #expect(try await store.ordersNeedingReconciliation().map(\.paymentReferenceID) == [pending.paymentReferenceID])

        let paid = try await store.recordPaymentSucceeded(
            paymentReferenceID: pending.paymentReferenceID, pspOrderCode: "psp-1", tokenTTL: .seconds(60), now: at(2))
        #expect(paid.value.state == .paid && paid.value.pspReference == "psp-1")
        #expect(try await store.ordersNeedingReconciliation().isEmpty)
        let token = try #require(paid.value.token)
        #expect(try await store.order(tokenKey: token.key) == paid.value)
        #expect(try await store.order(paymentReferenceID: pending.paymentReferenceID) == paid.value)
        #expect(try await store.catalog().price(serviceID: 1, priceID: 1).stock == 15)

        let presented = PresentedToken(token)
        var delivered = 0
        var seqs: [Int64] = []
        while delivered < 5 {
            let grant = try await store.beginDelivery(token: presented, clientID: "client-a", serviceID: 1, units: 2, now: at(3))
            #expect(grant.value.granted == min(2, 5 - delivered))
            let end = try await store.endDelivery(
                token: presented, clientID: "client-a", serviceID: 1, unitsReceived: grant.value.granted, now: at(4))
            delivered += end.value.committed
            #expect(end.value.unitsRemaining == 5 - delivered)
            seqs += grant.events.map(\.seq) + end.events.map(\.seq)
        }
        #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count)
        let ledger = try #require(try await store.order(tokenKey: token.key)?.ledger)
        #expect(ledger.delivered == 5 && ledger.inFlight == 0)

        try await expectRefused(.insufficientUnits, in: dir) {
            _ = try await store.beginDelivery(token: presented, clientID: "client-a", serviceID: 1, units: 1, now: at(5))
        }
        // Expired token (stored expiry at(2)+60): begin refused, nothing written.
        try await expectRefused(.expired, in: dir) {
            _ = try await store.beginDelivery(token: presented, clientID: "client-a", serviceID: 1, units: 1, now: at(62))
        }
    }

    @Test func retryAfterSuccessIsAlreadyPaidWithTheSameToken() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try dir.open()
        defer { try? store.close() }
        _ = try await store.addService(try washService(stock: 10), now: t0)
        let paid = try await paidOrder(store)
        let before = try dump(dir.databasePath)
        for _ in 0..<3 {
            let retry = try await store.startPayment(paymentReferenceID: paid.paymentReferenceID, clientID: "client-a", now: at(10))
            guard case .alreadyPaid(let order) = retry.value else { Issue.record("retry charged again"); return }
            #expect(order.token == paid.token)
            #expect(order.attempts == 1)
            #expect(retry.events.isEmpty)
        }
        #expect(try dump(dir.databasePath) == before, "a retry after success wrote something")
        #expect(try await store.catalog().price(serviceID: 1, priceID: 1).stock == 5)
        // Recording the success twice is refused.
        try await expectRefused(.conflict, in: dir) {
            _ = try await store.recordPaymentSucceeded(
                paymentReferenceID: paid.paymentReferenceID, pspOrderCode: "psp-2", tokenTTL: .seconds(60), now: at(11))
        }
    }

    @Test func refusedPaymentStartsChangeNothing() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try dir.open(StoreConfiguration(quotePolicy: QuotePolicy(ttl: .seconds(600))))
        defer { try? store.close() }
        _ = try await store.addService(try washService(stock: 10), now: t0)
        let quote = try await store.createQuote(serviceID: 1, priceID: 1, units: 2, clientID: "client-a", now: t0).value
        let ref = quote.paymentReferenceID

        try await expectRefused(.notFound, in: dir) {
            _ = try await store.startPayment(paymentReferenceID: "no-such-order", clientID: "client-a", now: at(1))
        }
        try await expectRefused(.conflict, in: dir) {
            _ = try await store.startPayment(paymentReferenceID: ref, clientID: "client-b", now: at(1))
        }
        try await expectRefused(.expired, in: dir) {
            _ = try await store.startPayment(paymentReferenceID: ref, clientID: "client-a", now: at(600))
        }
        try await expectRefused(.notFound, in: dir) {
            _ = try await store.createQuote(serviceID: 1, priceID: 99, units: 1, clientID: "client-a", now: t0)
        }
        try await expectRefused(.outOfStock, in: dir) {
            _ = try await store.createQuote(serviceID: 1, priceID: 1, units: 11, clientID: "client-a", now: t0)
        }
        try await expectRefused(.conflict, in: dir) {
            _ = try await store.recordPaymentFailed(paymentReferenceID: ref, reason: "not started", now: at(1))
        }
        _ = try await store.startPayment(paymentReferenceID: ref, clientID: "client-a", now: at(1))
        try await expectRefused(.conflict, in: dir) {
            _ = try await store.startPayment(paymentReferenceID: ref, clientID: "client-a", now: at(2))
        }
        _ = try await store.recordPaymentOutcomeUnknown(paymentReferenceID: ref, reason: "timeout", now: at(3))
        try await expectRefused(.paymentOutcomeUnknown, in: dir) {
            _ = try await store.startPayment(paymentReferenceID: ref, clientID: "client-a", now: at(4))
        }
        // The price vanished after the quote: a new payment cannot reserve it.
        let other = try await store.createQuote(serviceID: 1, priceID: 2, units: 1, clientID: "client-a", now: t0).value
        _ = try await store.removeService(id: 1, now: at(5))
        try await expectRefused(.notFound, in: dir) {
            _ = try await store.startPayment(paymentReferenceID: other.paymentReferenceID, clientID: "client-a", now: at(6))
        }
    }

    @Test func failedPaymentReleasesStockAndUnknownKeepsItForReconciliation() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try dir.open()
        defer { try? store.close() }
        _ = try await store.addService(try washService(stock: 10), now: t0)
        let q1 = try await store.createQuote(serviceID: 1, priceID: 1, units: 4, clientID: "c", now: t0).value
        let q2 = try await store.createQuote(serviceID: 1, priceID: 1, units: 3, clientID: "c", now: t0).value
        _ = try await store.startPayment(paymentReferenceID: q1.paymentReferenceID, clientID: "c", now: at(1))
        _ = try await store.startPayment(paymentReferenceID: q2.paymentReferenceID, clientID: "c", now: at(1))
        #expect(try await store.catalog().price(serviceID: 1, priceID: 1).stock == 3)

        let failed = try await store.recordPaymentFailed(paymentReferenceID: q1.paymentReferenceID, reason: "declined", now: at(2))
        #expect(failed.value.state == .failed && failed.value.failureReason == "declined")
        #expect(try await store.catalog().price(serviceID: 1, priceID: 1).stock == 7)

        _ = try await store.recordPaymentOutcomeUnknown(paymentReferenceID: q2.paymentReferenceID, reason: "timeout", now: at(2))
        #expect(try await store.catalog().price(serviceID: 1, priceID: 1).stock == 7)
        let open = try await store.ordersNeedingReconciliation()
        #expect(open.map(\.paymentReferenceID) == [q2.paymentReferenceID])
        #expect(open.first?.state == .outcomeUnknown)

        // Reconciliation found the charge.
        let paid = try await store.recordPaymentSucceeded(
            paymentReferenceID: q2.paymentReferenceID, pspOrderCode: "psp-found", tokenTTL: .seconds(60), now: at(3))
        #expect(paid.value.state == .paid)
        #expect(try await store.ordersNeedingReconciliation().isEmpty)

        // A failed order can be paid again (attempt 2).
        guard case .charge(let again) = try await store.startPayment(
            paymentReferenceID: q1.paymentReferenceID, clientID: "c", now: at(4)).value
        else { Issue.record("expected charge"); return }
        #expect(again.attempts == 2 && again.failureReason == nil)
        #expect(try await store.catalog().price(serviceID: 1, priceID: 1).stock == 3)
    }

    @Test func replayedAndExcessEndsNeverRestoreUnits() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try dir.open()
        defer { try? store.close() }
        _ = try await store.addService(try washService(), now: t0)
        let order = try await paidOrder(store, units: 5)
        let token = PresentedToken(order.token!)

        // End without begin.
        try await expectRefused(.conflict, in: dir) {
            _ = try await store.endDelivery(token: token, clientID: "client-a", serviceID: 1, unitsReceived: 1, now: at(1))
        }
        try await expectRefused(.invalidParams, in: dir) {
            _ = try await store.beginDelivery(token: token, clientID: "client-a", serviceID: 1, units: 0, now: at(1))
        }
        _ = try await store.beginDelivery(token: token, clientID: "client-a", serviceID: 1, units: 2, now: at(1))
        try await expectRefused(.invalidParams, in: dir) {
            _ = try await store.endDelivery(token: token, clientID: "client-a", serviceID: 1, unitsReceived: -1, now: at(2))
        }
        // Reporting more than was begun is refused and changes nothing.
        try await expectRefused(.invalidParams, in: dir) {
            _ = try await store.endDelivery(token: token, clientID: "client-a", serviceID: 1, unitsReceived: 10, now: at(2))
        }
        let end = try await store.endDelivery(token: token, clientID: "client-a", serviceID: 1, unitsReceived: 2, now: at(2))
        #expect(end.value.committed == 2)
        #expect(end.value.order.ledger == (try UnitLedger(purchased: 5, delivered: 2, inFlight: 0)))
        // Replayed end: refused, nothing restored.
        try await expectRefused(.conflict, in: dir) {
            _ = try await store.endDelivery(token: token, clientID: "client-a", serviceID: 1, unitsReceived: 2, now: at(3))
        }
        #expect(try await store.order(tokenKey: token.key)?.ledger?.delivered == 2)
        #expect(try await store.order(tokenKey: token.key)?.ledger?.remaining == 3)
    }

    @Test func forgedForeignAndMisdirectedTokensAreRefused() async throws {
        let dir = try TempDir(), otherDir = try TempDir()
        defer { dir.cleanup(); otherDir.cleanup() }
        let store = try dir.open(), other = try otherDir.open()
        defer { try? store.close(); try? other.close() }
        _ = try await store.addService(try washService(), now: t0)
        _ = try await other.addService(try washService(), now: t0)
        let order = try await paidOrder(store)
        let token = order.token!
        let foreignOrder = try await paidOrder(other)

        // Unknown key (a token from another producer).
        try await expectRefused(.notFound, in: dir) {
            _ = try await store.beginDelivery(token: PresentedToken(foreignOrder.token!), clientID: "client-a", serviceID: 1, units: 1, now: at(1))
        }
        // Our key with a signature made under another producer's key over the same claims.
        let claims = TokenClaims(key: token.key, quote: order.quote, issued: token.issued, expiry: token.expiry, refundOnExpiry: false)
        let foreignSignature = other.signer.sign(claims.signingInput)
        try await expectRefused(.invalidToken, in: dir) {
            _ = try await store.beginDelivery(
                token: PresentedToken(key: token.key, signature: foreignSignature), clientID: "client-a", serviceID: 1, units: 1, now: at(1))
        }
        // Flipped bit, missing signature (a Go producer's null).
        var flipped = token.signature
        flipped[0] ^= 1
        for signature in [flipped, nil] as [[UInt8]?] {
            try await expectRefused(.invalidToken, in: dir) {
                _ = try await store.beginDelivery(
                    token: PresentedToken(key: token.key, signature: signature), clientID: "client-a", serviceID: 1, units: 1, now: at(1))
            }
        }
        // Another client, another service.
        try await expectRefused(.invalidToken, in: dir) {
            _ = try await store.beginDelivery(token: PresentedToken(token), clientID: "client-b", serviceID: 1, units: 1, now: at(1))
        }
        try await expectRefused(.notFound, in: dir) {
            _ = try await store.beginDelivery(token: PresentedToken(token), clientID: "client-a", serviceID: 2, units: 1, now: at(1))
        }
        // The genuine token still works, and end after expiry closes a begun delivery.
        let grant = try await store.beginDelivery(token: PresentedToken(token), clientID: nil, serviceID: 1, units: 1, now: at(1))
        #expect(grant.value.granted == 1)
        try await expectRefused(.invalidToken, in: dir) {
            _ = try await store.endDelivery(
                token: PresentedToken(key: token.key, signature: flipped), clientID: "client-a", serviceID: 1, unitsReceived: 1, now: at(2))
        }
        let end = try await store.endDelivery(token: PresentedToken(token), clientID: "client-a", serviceID: 1, unitsReceived: 1, now: at(99_999))
        #expect(end.value.committed == 1)
    }

    @Test func sixteenRacersForStockOfTenSellExactlyTen() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try dir.open()
        defer { try? store.close() }
        _ = try await store.addService(try washService(stock: 10), now: t0)
        var quotes: [Quote] = []
        for i in 0..<16 {
            quotes.append(try await store.createQuote(serviceID: 1, priceID: 1, units: 1, clientID: "racer-\(i)", now: t0).value)
        }
        let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
            for quote in quotes {
                group.addTask {
                    do {
                        switch try await store.startPayment(paymentReferenceID: quote.paymentReferenceID, clientID: quote.clientID, now: at(1)).value {
                        case .charge(let order):
                            _ = try await store.recordPaymentSucceeded(
                                paymentReferenceID: order.paymentReferenceID, pspOrderCode: "psp", tokenTTL: .seconds(60), now: at(2))
                            return "paid"
                        case .alreadyPaid: return "alreadyPaid"
                        }
                    } catch let error as WPWError where error.code == .outOfStock {
                        return "outOfStock"
                    }
                }
            }
            var all: [String] = []
            for try await outcome in group { all.append(outcome) }
            return all
        }
        #expect(outcomes.filter { $0 == "paid" }.count == 10)
        #expect(outcomes.filter { $0 == "outOfStock" }.count == 6)
        #expect(try await store.catalog().price(serviceID: 1, priceID: 1).stock == 0)
        let paidCount = try SQLiteConnection(path: dir.databasePath, readOnly: true)
            .integer("SELECT COUNT(*) FROM producer_order WHERE state = 'paid'")
        #expect(paidCount == 10)
        // Concurrent transitions shared commits (group commit), each still all-or-nothing on its own.
        let statistics = store.commitStatistics
        #expect(statistics.batches < statistics.transitions, "\(statistics)")
    }
}

@Suite("Store: events")
struct EventStoreTests {
    @Test func transitionEventsHaveIncreasingSeqAndSurviveReopen() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        var store = try dir.open()
        #expect(try await store.lastSeq() == 0)
        let e1 = try await store.appendEvent(type: "daemon.started", payload: ["pid": 42], now: t0)
        #expect(e1.seq == 1)
        let added = try await store.addService(try washService(), now: at(1))
        let order = try await paidOrder(store, now: at(2))
        let grant = try await store.beginDelivery(token: PresentedToken(order.token!), clientID: "client-a", serviceID: 1, units: 5, now: at(3))
        #expect(grant.events.count == 1)
        #expect(grant.events[0].payload["unitsGranted"] == .int(5))
        let all = try await store.events(after: 0)
        #expect(all.map(\.seq) == Array(1...Int64(all.count)))
        #expect(all.map(\.type) == [
            "daemon.started", StoreEventType.serviceAdded, StoreEventType.quoteCreated, StoreEventType.paymentStarted,
            StoreEventType.paymentSucceeded, StoreEventType.deliveryBegun,
        ])
        #expect(all[1] == added.events[0])
        #expect(all.last == grant.events[0])
        #expect(try await store.events(after: 2, limit: 2).map(\.seq) == [3, 4])
        // Refused transitions append nothing.
        _ = try? await store.endDelivery(token: PresentedToken(order.token!), clientID: "client-b", serviceID: 1, unitsReceived: 1, now: at(4))
        #expect(try await store.lastSeq() == Int64(all.count))
        try store.close()

        store = try dir.open()
        defer { try? store.close() }
        #expect(try await store.events(after: 0) == all)
        #expect(try await store.lastSeq() == Int64(all.count))
        let next = try await store.appendEvent(type: "daemon.started", now: at(10))
        #expect(next.seq == Int64(all.count) + 1)
        #expect(next.payload.isEmpty && next.time == at(10))
    }
}

@Suite("Store: consumer and idempotency")
struct ConsumerStoreTests {
    func samplePurchase(ref: String = "8a1d9689-fe94-4914-b666-ea50b1cdb1b1", units: Int = 4, key: String = "abc") throws -> Purchase {
        try Purchase(
            serverID: "server-1", clientID: "me", serviceID: 1, priceID: 1, paymentReferenceID: ref,
            totalPaid: Money(minorUnits: 2000, currency: Currency(code: "GBP")!), tokenKey: key, expiry: at(100), units: units)
    }

    @Test func quotesPurchasesAndDeliveries() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        var store = try dir.open()
        let quote = ConsumerQuote(
            paymentReferenceID: "ref-1", serverID: "server-1", clientID: "me", serviceID: 1, priceID: 1, units: 4,
            total: Money(minorUnits: 2000, currency: Currency(code: "GBP")!), merchantClientKey: "T_C_key",
            producerURL: "http://10.0.0.2:64521")
        _ = try await store.saveQuote(quote, now: t0)
        #expect(try await store.consumerQuote(paymentReferenceID: "ref-1") == quote)

        let tokenJSON = #"{"key":"abc","issued":"2026-11-25T04:06:10.1+01:00","expiry":"2026-11-25T05:06:10.1+01:00","refundOnExpiry":false,"signature":"AAEC"}"#
        let recorded = try await store.recordPurchase(try samplePurchase(), tokenJSON: tokenJSON, producerURL: "http://p", now: t0)
        #expect(recorded.events.map(\.type) == [StoreEventType.purchaseRecorded])
        // Idempotent per payment reference: same value, no new event, no new row.
        let before = try dump(dir.databasePath)
        let again = try await store.recordPurchase(try samplePurchase(), tokenJSON: tokenJSON, producerURL: "http://p", now: at(1))
        #expect(again.value == recorded.value && again.events.isEmpty)
        #expect(try dump(dir.databasePath) == before)
        try await expectRefused(.conflict, in: dir) {
            _ = try await store.recordPurchase(try samplePurchase(key: "other"), tokenJSON: tokenJSON, producerURL: "http://p", now: at(1))
        }

        let id = recorded.value.id
        let begun = try await store.beginDelivery(purchaseID: id, units: 3, now: at(2))
        #expect(begun.value.reserved == 3)
        let confirmed = try await store.confirmDelivery(purchaseID: id, reserved: 3, granted: 2, now: at(2))
        #expect(confirmed.value.purchase.inFlight == 2)
        try await expectRefused(.peerProtocol, in: dir) {
            _ = try await store.confirmDelivery(purchaseID: id, reserved: 1, granted: 2, now: at(2))
        }
        try await expectRefused(.invalidParams, in: dir) { _ = try await store.endDelivery(purchaseID: id, unitsReceived: 5, now: at(3)) }
        let ended = try await store.endDelivery(purchaseID: id, unitsReceived: 2, now: at(3))
        #expect(ended.value.committed == 2)
        try await expectRefused(.conflict, in: dir) { _ = try await store.endDelivery(purchaseID: id, unitsReceived: 2, now: at(3)) }
        try await expectRefused(.notFound, in: dir) { _ = try await store.beginDelivery(purchaseID: 999, units: 1, now: at(3)) }
        try await expectRefused(.expired, in: dir) { _ = try await store.beginDelivery(purchaseID: id, units: 1, now: at(100)) }
        _ = try await store.beginDelivery(purchaseID: id, units: 2, now: at(4))
        try await expectRefused(.insufficientUnits, in: dir) { _ = try await store.beginDelivery(purchaseID: id, units: 1, now: at(4)) }
        try store.close()

        store = try dir.open()
        defer { try? store.close() }
        let list = try await store.listPurchases()
        #expect(list.count == 1)
        #expect(list[0].tokenJSON == tokenJSON)
        #expect(list[0].producerURL == "http://p")
        #expect(list[0].purchase.delivered == 2 && list[0].purchase.inFlight == 2 && list[0].purchase.bought == 4)
        #expect(try await store.purchase(paymentReferenceID: recorded.value.purchase.paymentReferenceID)?.id == id)
    }

    @Test func idempotencyKeysKeepTheFirstResult() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        var store = try dir.open()
        #expect(try await store.idempotentResult(key: "k1") == nil)
        let first: JSONValue = ["token": ["key": "abc"], "units": 3]
        #expect(try await store.saveIdempotentResult(key: "k1", result: first, now: t0) == first)
        #expect(try await store.saveIdempotentResult(key: "k1", result: ["other": true], now: t0) == first)
        try store.close()
        store = try dir.open()
        defer { try? store.close() }
        #expect(try await store.idempotentResult(key: "k1") == first)
        #expect(try await store.pruneIdempotencyKeys(before: at(1)) == 1)
        #expect(try await store.idempotentResult(key: "k1") == nil)
    }

    @Test func noTableHasACardColumn() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try dir.open().close()
        let db = try SQLiteConnection(path: dir.databasePath, readOnly: true)
        let columns = try db.query("SELECT p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table'") {
            $0.text(0)
        }
        try db.close()
        #expect(!columns.isEmpty)
        for column in columns {
            for forbidden in ["card", "cvc", "cvv", "pan", "expiry_month", "client_token"] {
                #expect(!column.lowercased().contains(forbidden), "column \(column)")
            }
        }
    }
}
