import Testing
import WPWithinCore
@testable import WPWithinStore

/// Quotes that can no longer become money leave the database; nothing that is or may become money does.
@Suite("Store: housekeeping") struct HousekeepingTests {
    static let gbp = Currency(code: "GBP")!

    @Test func unpaidProducerQuotesGoAfterTheirRetentionAndNoOrderWithMoneyDoes() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try dir.open(StoreConfiguration(quotePolicy: QuotePolicy(ttl: .seconds(600))))
        defer { try? store.close() }
        _ = try await store.addService(try washService(stock: 10), now: t0)
        let stale = try await store.createQuote(serviceID: 1, priceID: 1, units: 1, clientID: "c", now: t0).value
        let fresh = try await store.createQuote(serviceID: 1, priceID: 1, units: 1, clientID: "c", now: at(3000)).value
        let paid = try await paidOrder(store, units: 2, clientID: "c", now: t0)
        let pending = try await store.createQuote(serviceID: 1, priceID: 1, units: 1, clientID: "c", now: t0).value
        _ = try await store.startPayment(paymentReferenceID: pending.paymentReferenceID, clientID: "c", now: at(1))
        let failed = try await store.createQuote(serviceID: 1, priceID: 1, units: 1, clientID: "c", now: t0).value
        _ = try await store.startPayment(paymentReferenceID: failed.paymentReferenceID, clientID: "c", now: at(1))
        _ = try await store.recordPaymentFailed(paymentReferenceID: failed.paymentReferenceID, reason: "declined", now: at(2))
        let stock = try await store.catalog().price(serviceID: 1, priceID: 1).stock

        // Expired, but within the retention: a late payment still hears "expired", so nothing goes yet.
        #expect(try await store.pruneStaleQuotes(now: at(600 + 3599)) == QuotePruning())
        let late = await #expect(throws: WPWError.self) {
            try await store.startPayment(paymentReferenceID: stale.paymentReferenceID, clientID: "c", now: at(4000))
        }
        #expect(late?.code == .expired)

        let pruned = try await store.pruneStaleQuotes(now: at(600 + 3601))
        #expect(pruned.producerQuotes == 1 && pruned.consumerQuotes == 0)
        #expect(try await store.order(paymentReferenceID: stale.paymentReferenceID) == nil)
        for kept in [fresh.paymentReferenceID, paid.paymentReferenceID, pending.paymentReferenceID, failed.paymentReferenceID] {
            #expect(try await store.order(paymentReferenceID: kept) != nil, "\(kept)")
        }
        // A paid order stays whatever its quote's expiry; stock is untouched (a quote reserves none).
        #expect(try await store.pruneStaleQuotes(now: at(1_000_000)).producerQuotes == 1)  // fresh, at last
        #expect(try await store.order(paymentReferenceID: paid.paymentReferenceID)?.state == .paid)
        #expect(try await store.order(paymentReferenceID: pending.paymentReferenceID)?.state == .paymentPending)
        #expect(try await store.order(paymentReferenceID: failed.paymentReferenceID)?.state == .failed)
        #expect(try await store.catalog().price(serviceID: 1, priceID: 1).stock == stock)
        let gone = await #expect(throws: WPWError.self) {
            try await store.startPayment(paymentReferenceID: stale.paymentReferenceID, clientID: "c", now: at(1_000_001))
        }
        #expect(gone?.code == .notFound)
    }

    @Test func aConsumerQuoteGoesWithItsPurchaseOrAfterADayUnpaid() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try dir.open()
        defer { try? store.close() }
        func quote(_ ref: String) -> ConsumerQuote {
            ConsumerQuote(
                paymentReferenceID: ref, serverID: "s", clientID: "me", serviceID: 1, priceID: 1, units: 2,
                total: Money(minorUnits: 1000, currency: Self.gbp), merchantClientKey: "T_C_key", producerURL: "http://p")
        }
        _ = try await store.saveQuote(quote("paid"), now: t0)
        _ = try await store.saveQuote(quote("old"), now: t0)
        _ = try await store.saveQuote(quote("new"), now: at(80_000))

        let purchase = try Purchase(
            serverID: "s", clientID: "me", serviceID: 1, priceID: 1, paymentReferenceID: "paid",
            totalPaid: Money(minorUnits: 1000, currency: Self.gbp), tokenKey: "k", expiry: at(100_000), units: 2)
        _ = try await store.recordPurchase(purchase, tokenJSON: #"{"key":"k"}"#, producerURL: "http://p", now: at(1))
        #expect(try await store.consumerQuote(paymentReferenceID: "paid") == nil)
        #expect(try await store.purchase(paymentReferenceID: "paid") != nil)

        #expect(try await store.pruneStaleQuotes(now: at(86_400)).consumerQuotes == 0)
        #expect(try await store.pruneStaleQuotes(now: at(86_401)).consumerQuotes == 1)
        #expect(try await store.consumerQuote(paymentReferenceID: "old") == nil)
        #expect(try await store.consumerQuote(paymentReferenceID: "new") == quote("new"))
        #expect(try await store.listPurchases().count == 1)
    }
}
