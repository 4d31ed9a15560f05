import Testing
import WPWithinCore
@testable import WPWithinStore

/// What the consumer has spent (`Store.spending`) and its reservations (`startConsumerPayment`,
/// `releaseConsumerPayment`), at chosen instants.
@Suite("Store: spending") struct SpendingStoreTests {
    static let gbp = Currency(code: "GBP")!
    static let eur = Currency(code: "EUR")!

    static func quote(_ reference: String, _ amount: Int64, _ currency: Currency = gbp) -> ConsumerQuote {
        ConsumerQuote(
            paymentReferenceID: reference, serverID: "s", clientID: "me", serviceID: 1, priceID: 1, units: 2,
            total: Money(minorUnits: amount, currency: currency), merchantClientKey: "T_C_key", producerURL: "http://p")
    }

    static func start(_ store: Store, _ reference: String, at time: Instant) async throws -> ConsumerPaymentStart {
        try await store.startConsumerPayment(paymentReferenceID: reference, serviceType: "wash", reserve: true, now: time) { _, _ in }
    }

    @Test func startedPaymentsAndPurchasesCountInTheirWindowsOnly() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try dir.open()
        defer { try? store.close() }
        for (reference, amount, currency) in [("a", 1000, Self.gbp), ("b", 300, Self.gbp), ("c", 70, Self.eur)] {
            _ = try await store.saveQuote(Self.quote(reference, Int64(amount), currency), now: t0)
        }
        // Started: counted as pending, from its start; kept with the type the policy needed.
        guard case .started(let started) = try await Self.start(store, "a", at: t0) else { Issue.record("not started"); return }
        #expect(started.paymentStartedAt == t0 && started.serviceType == "wash")
        #expect(try await store.consumerQuote(paymentReferenceID: "a")?.paymentStartedAt == t0)
        // Started again: resumed, not checked.
        let resumed = try await store.startConsumerPayment(paymentReferenceID: "a", serviceType: nil, reserve: true, now: at(5)) { _, _ in
            throw WPWError(.internalError, "a resumed payment is not checked")
        }
        #expect(resumed == .resumed(started))
        _ = try await Self.start(store, "c", at: at(10))
        // A purchase counts at its recording, and its quote (the reservation) goes in the same transaction.
        _ = try await Self.start(store, "b", at: at(20))
        let purchase = try Purchase(
            serverID: "s", clientID: "me", serviceID: 1, priceID: 1, paymentReferenceID: "b",
            totalPaid: Money(minorUnits: 300, currency: Self.gbp), tokenKey: "k", expiry: at(100_000), units: 2)
        _ = try await store.recordPurchase(purchase, tokenJSON: #"{"key":"k"}"#, producerURL: "http://p", now: at(30))
        #expect(try await store.consumerQuote(paymentReferenceID: "b") == nil)

        let now = try await store.spending(now: at(60))
        #expect(now["GBP"] == SpentByWindow(day: SpentAmount(purchased: 300, pending: 1000), month: SpentAmount(purchased: 300, pending: 1000)))
        #expect(now["EUR"]?.day == SpentAmount(pending: 70))
        // A day after the start of "a" (and 30 s before the purchase's day ends): the day holds the purchase only.
        let nextDay = try await store.spending(now: at(86_400 + 1))
        #expect(nextDay["GBP"]?.day == SpentAmount(purchased: 300) && nextDay["GBP"]?.month == SpentAmount(purchased: 300, pending: 1000))
        // The month is 30 days.
        #expect(try await store.spending(now: at(30 * 86_400))["GBP"]?.month == SpentAmount(purchased: 300, pending: 1000))
        #expect(try await store.spending(now: at(30 * 86_400 + 31))["GBP"] == nil)

        // A started quote outlives the day's pruning of unpaid quotes, and goes after 31 days.
        #expect(try await store.pruneStaleQuotes(now: at(2 * 86_400)).consumerQuotes == 0)
        #expect(try await store.pruneStaleQuotes(now: at(31 * 86_400 + 11)).consumerQuotes == 2)
    }

    /// A refund of undelivered units is money back once the producer's gateway made it (`issued`): the
    /// purchase then counts its total less the refund, in the purchase's window; a `pending` refund counts
    /// nothing back yet.
    @Test func anIssuedRefundIsMoneyBackInTheBudgets() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try dir.open()
        defer { try? store.close() }
        _ = try await store.saveQuote(Self.quote("r", 1000), now: t0)
        _ = try await Self.start(store, "r", at: t0)
        let purchase = try Purchase(
            serverID: "s", clientID: "me", serviceID: 1, priceID: 1, paymentReferenceID: "r",
            totalPaid: Money(minorUnits: 1000, currency: Self.gbp), tokenKey: "k", expiry: at(100_000), units: 4)
        let id = try await store.recordPurchase(purchase, tokenJSON: #"{"key":"k"}"#, producerURL: "http://p", now: at(1)).value.id
        #expect(try await store.spending(now: at(2))["GBP"]?.day == SpentAmount(purchased: 1000))
        _ = try await store.recordRefund(
            purchaseID: id, PurchaseRefund(status: .pending, reason: .requested, units: 3, amount: 750), producerLedger: nil, now: at(3))
        #expect(try await store.spending(now: at(4))["GBP"]?.day == SpentAmount(purchased: 1000))
        _ = try await store.recordRefund(
            purchaseID: id, PurchaseRefund(status: .issued, reason: .requested, units: 3, amount: 750), producerLedger: nil, now: at(5))
        let after = try await store.spending(now: at(6))["GBP"]
        #expect(after?.day == SpentAmount(purchased: 250) && after?.month == SpentAmount(purchased: 250))
    }

    @Test func aRefusalWritesNothingAndAReleaseFreesTheAmount() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try dir.open()
        defer { try? store.close() }
        _ = try await store.saveQuote(Self.quote("a", 1000), now: t0)
        _ = try await store.saveQuote(Self.quote("b", 500), now: t0)
        _ = try await Self.start(store, "a", at: t0)
        // The check sees what was spent in the quote's currency, reservations included.
        let refused = await #expect(throws: SpendingRefusal.self) {
            try await store.startConsumerPayment(paymentReferenceID: "b", serviceType: "wash", reserve: true, now: at(1)) { quote, spent in
                #expect(quote.total.minorUnits == 500 && spent.day == SpentAmount(pending: 1000))
                throw SpendingRefusal(rule: .dailyBudget, currencyCode: "GBP", limitAmount: 1200, requested: 500, spent: spent.day)
            }
        }
        #expect(refused?.exceededBy == 300)
        let untouched = try await store.consumerQuote(paymentReferenceID: "b")
        #expect(untouched?.paymentStartedAt == nil && untouched?.serviceType == nil)

        try await store.releaseConsumerPayment(paymentReferenceID: "a")
        #expect(try await store.consumerQuote(paymentReferenceID: "a")?.paymentStartedAt == nil)
        #expect(try await store.spending(now: at(2)).isEmpty)
        // Without budgets nothing is reserved (but the check runs).
        let unreserved = try await store.startConsumerPayment(paymentReferenceID: "b", serviceType: nil, reserve: false, now: at(3)) { _, _ in }
        #expect(unreserved.quote.paymentStartedAt == nil)
        #expect(try await store.spending(now: at(4)).isEmpty)
        await #expect(throws: WPWError.self) { try await Self.start(store, "nope", at: at(5)) }
    }
}
