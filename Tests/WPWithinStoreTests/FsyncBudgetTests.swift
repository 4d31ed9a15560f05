import Testing
import WPWithinCore
import WPWithinSQLite
@testable import WPWithinStore

/// The fsync budget of one purchase flow (docs/store.md): money transitions are fsynced, unit transitions
/// and quotes are not (they survive kill -9; the next money commit makes them durable too).
@Suite("Store: the fsync budget") struct FsyncBudgetTests {
    static let gbp = Currency(code: "GBP")!

    /// One flow of 3 units in one delivery, through both sides' store calls as the daemons make them.
    static func flow(producer: Store, consumer: Store, at seconds: Int64) async throws {
        let quote = try await producer.createQuote(serviceID: 1, priceID: 1, units: 3, clientID: "c", now: at(seconds)).value
        _ = try await consumer.saveQuote(ConsumerQuote(
            paymentReferenceID: quote.paymentReferenceID, serverID: quote.serverID, clientID: "c", serviceID: 1, priceID: 1,
            units: 3, total: quote.total, merchantClientKey: "T_C_k", producerURL: "http://p"), now: at(seconds))
        _ = try await producer.startPayment(paymentReferenceID: quote.paymentReferenceID, clientID: "c", now: at(seconds))
        let paid = try await producer.recordPaymentSucceeded(
            paymentReferenceID: quote.paymentReferenceID, pspOrderCode: "oc", tokenTTL: .seconds(3600), now: at(seconds)).value
        let token = try #require(paid.token)
        let purchase = try await consumer.recordPurchase(
            try Purchase(serverID: quote.serverID, clientID: "c", serviceID: 1, priceID: 1, paymentReferenceID: quote.paymentReferenceID,
                         totalPaid: quote.total, tokenKey: token.key, expiry: token.expiry, units: 3),
            tokenJSON: #"{"key":"\#(token.key)"}"#, producerURL: "http://p", now: at(seconds)).value
        let check = try await consumer.checkDelivery(purchaseID: purchase.id, units: 3, now: at(seconds))
        let grant = try await producer.beginDelivery(
            token: PresentedToken(token), clientID: "c", serviceID: 1, units: check.reserved, now: at(seconds)).value
        let begun = try await consumer.recordDeliveryGranted(
            purchaseID: purchase.id, requested: 3, asked: check.reserved, granted: grant.granted, now: at(seconds))
        #expect(begun.value.purchase.inFlight == 3)
        #expect(begun.events.map(\.type) == [StoreEventType.consumerDeliveryBegun, StoreEventType.consumerDeliveryConfirmed])
        let end = try await producer.endDelivery(token: PresentedToken(token), clientID: "c", serviceID: 1, unitsReceived: 3, now: at(seconds)).value
        _ = try await consumer.recordEndAnswered(
            purchaseID: purchase.id, unitsReceived: 3, unitsJustSupplied: end.committed, unitsRemaining: end.unitsRemaining, now: at(seconds))
    }

    @Test(arguments: [false, true])
    func aFlowFsyncsTwiceOnTheProducerAndOnceOnTheConsumer(durableDeliveries: Bool) async throws {
        let producerDir = try TempDir(), consumerDir = try TempDir()
        defer { producerDir.cleanup(); consumerDir.cleanup() }
        var configuration = StoreConfiguration()
        configuration.durableDeliveries = durableDeliveries
        let producer = try producerDir.open(configuration)
        let consumer = try consumerDir.open(configuration)
        defer { try? producer.close(); try? consumer.close() }
        _ = try await producer.addService(try washService(), now: t0)
        let before = (producer.commitStatistics.fsyncedCommits, consumer.commitStatistics.fsyncedCommits)
        for round in 0..<5 { try await Self.flow(producer: producer, consumer: consumer, at: Int64(round)) }
        // Producer: paymentStarted and paid (+ begin and end when deliveries are durable). Consumer: the purchase.
        #expect(producer.commitStatistics.fsyncedCommits - before.0 == 5 * (durableDeliveries ? 4 : 2))
        #expect(consumer.commitStatistics.fsyncedCommits - before.1 == 5 * 1)
        #expect(try await consumer.listPurchases().allSatisfy { $0.purchase.delivered == 3 && $0.purchase.inFlight == 0 })
    }

    /// The pages (WAL frames) each producer transition writes: a delivery's begin and end write the order's
    /// leaf and the journal's, nothing else (they used to rewrite the `token_key` index entry too); 16 per
    /// purchase (17 with v3's partial-less token index, 19 with whole-row updates).
    @Test func aDeliveryWritesTwoPages() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try dir.open()
        defer { try? store.close() }
        let observer = try SQLiteConnection(path: dir.databasePath)
        /// Empties the WAL, runs `step`, and returns the frames it left in the WAL.
        func frames(_ step: () async throws -> Void) async throws -> Int64 {
            try observer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            try await step()
            return try #require(try observer.queryOne("PRAGMA wal_checkpoint(PASSIVE)") { $0.int64(1) })
        }
        _ = try await store.addService(try washService(), now: t0)
        var token: DeliveryToken?
        for round in 0..<3 {
            let now = at(Int64(round))
            var quote: Quote?
            let quoted = try await frames { quote = try await store.createQuote(serviceID: 1, priceID: 1, units: 3, clientID: "c", now: now).value }
            let reference = try #require(quote).paymentReferenceID
            let started = try await frames { _ = try await store.startPayment(paymentReferenceID: reference, clientID: "c", now: now) }
            let paid = try await frames {
                token = try await store.recordPaymentSucceeded(
                    paymentReferenceID: reference, pspOrderCode: "oc", tokenTTL: .seconds(3600), now: now).value.token
            }
            let presented = PresentedToken(try #require(token))
            let begun = try await frames {
                _ = try await store.beginDelivery(token: presented, clientID: "c", serviceID: 1, units: 3, now: now)
            }
            let ended = try await frames {
                _ = try await store.endDelivery(token: presented, clientID: "c", serviceID: 1, unitsReceived: 3, now: now)
            }
            // Quote: the order's leaf, its primary-key and `quoted` index entries, the journal's leaf (no NULL
            // token_key entry since v4). Payment started: leaf, `quoted` and open-order indexes, journal. Paid:
            // leaf, open-order and token indexes, journal.
            #expect(quoted == 4 && started == 4 && paid == 4, "round \(round): \(quoted), \(started), \(paid)")
            #expect(begun == 2 && ended == 2, "round \(round): begin \(begun), end \(ended)")
        }
    }

    @Test func checkingABeginWritesNothing() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try dir.open()
        defer { try? store.close() }
        let purchase = try await store.recordPurchase(
            try Purchase(serverID: "s", clientID: "c", serviceID: 1, priceID: 1, paymentReferenceID: "r",
                         totalPaid: Money(minorUnits: 300, currency: Self.gbp), tokenKey: "k", expiry: at(100), units: 3),
            tokenJSON: #"{"key":"k"}"#, producerURL: "http://p", now: t0).value
        let before = try dump(dir.databasePath)
        #expect(try await store.checkDelivery(purchaseID: purchase.id, units: 5, now: at(1)).reserved == 3)
        let expired = await #expect(throws: WPWError.self) { try await store.checkDelivery(purchaseID: purchase.id, units: 1, now: at(100)) }
        #expect(expired?.code == .expired)
        #expect(try dump(dir.databasePath) == before)
        // A begin sent without a reservation and unanswered goes in flight, marked, durably.
        let unsettled = try await store.recordUnsettled(purchaseID: purchase.id, .begin(units: 2), reserved: false, now: at(2))
        #expect(unsettled.value.purchase.inFlight == 2 && unsettled.value.purchase.unsettled == .begin(units: 2))
    }
}
