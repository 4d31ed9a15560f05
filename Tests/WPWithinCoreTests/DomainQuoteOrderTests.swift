import Testing
import WPWithinCore

private func code(_ body: () throws -> Any) -> WPWError.Code? {
    do { _ = try body(); return nil } catch { return (error as? WPWError)?.code }
}

@Suite struct DomainQuoteTests {
    @Test func pricesUnitsWithAnExpiry() throws {
        let quote = try Quote.make(
            catalog: Fixture.catalog(), serviceID: 1, priceID: 1, units: 10, clientID: Fixture.clientID,
            serverID: Fixture.serverID, now: Fixture.t0, policy: QuotePolicy(ttl: .seconds(90)), random: SeededBytes(seed: 7))
        #expect(quote.total == Money(minorUnits: 5000, currency: Fixture.gbp))
        #expect(quote.units == 10 && quote.unitID == 1 && quote.serviceName == "RoboWash")
        #expect(quote.expiresAt == Fixture.t0.plus(90))
        #expect(!quote.isExpired(at: Fixture.t0.plus(89)))
        #expect(quote.isExpired(at: Fixture.t0.plus(90)))
        #expect(quote.orderDescription == "RoboWash - 10 units @ GBP 5.00 per unit.")
    }

    @Test func referenceIsALowercaseRandomUUID() throws {
        let a = try Fixture.quote(seed: 1).paymentReferenceID
        let b = try Fixture.quote(seed: 2).paymentReferenceID
        #expect(a != b)
        #expect(a == (try Fixture.quote(seed: 1).paymentReferenceID))  // deterministic with the same source
        for id in [a, b] {
            #expect(Identifiers.isUUID(id))
            #expect(id == id.lowercased())
            let chars = Array(id)
            #expect(chars[14] == "4")
            #expect("89ab".contains(chars[19]))
        }
        #expect(Identifiers.isUUID("3b0f50f5-c4e6-4d0f-5cbf-52466e858ea3"))  // Go's wrong variant nibble is accepted
        #expect(!Identifiers.isUUID("3b0f50f5c4e64d0f5cbf52466e858ea3"))
        #expect(code { try Quote.make(
            catalog: Fixture.catalog(), serviceID: 1, priceID: 1, units: 1, clientID: "c", serverID: "s", now: Fixture.t0, random: BrokenRandom()) } == .internalError)
    }

    @Test func badUnitsAndOverflowsAreRefused() throws {
        let catalog = try Fixture.catalog()
        #expect(code { try Fixture.quote(units: 0) } == .invalidParams)
        #expect(code { try Fixture.quote(units: -1) } == .invalidParams)
        #expect(code { try Fixture.quote(units: Int(Int32.max) + 1) } == .invalidParams)
        let rich = try Catalog(services: [Service(id: 1, name: "n", description: "", prices: [
            Price(id: 1, description: "", amount: Int64.max / 2, currencyCode: "GBP", unitID: 1, unitDescription: "u")])])
        #expect(code { try Fixture.quote(units: 3, catalog: rich) } == .amountInvalid)
        #expect(code { try Quote.make(catalog: catalog, serviceID: 1, priceID: 1, units: 10, clientID: "c", serverID: "s", now: Fixture.t0, policy: QuotePolicy(maxTotalMinorUnits: 4999), random: SeededBytes(seed: 1)) } == .amountInvalid)
        #expect(code { try Quote.make(catalog: catalog, serviceID: 1, priceID: 1, units: 10, clientID: "", serverID: "s", now: Fixture.t0, random: SeededBytes(seed: 1)) } == .invalidParams)
        #expect(code { try Quote.make(catalog: catalog, serviceID: 3, priceID: 1, units: 1, clientID: "c", serverID: "s", now: Fixture.t0, random: SeededBytes(seed: 1)) } == .notFound)
        #expect(code { try Quote.make(catalog: catalog, serviceID: 1, priceID: 3, units: 1, clientID: "c", serverID: "s", now: Fixture.t0, random: SeededBytes(seed: 1)) } == .notFound)
    }
}

@Suite struct DomainOrderTests {
    @Test func happyPathPaysOnceAndIssuesAToken() throws {
        let signer = try hmacSigner()
        let order = Order(quote: try Fixture.quote())
        #expect(order.state == .quoted)
        guard case .charge(let pending, _) = try order.startPayment(clientID: Fixture.clientID, now: Fixture.t0, catalog: Fixture.catalog()) else {
            Issue.record("expected a charge"); return
        }
        #expect(pending.state == .paymentPending && pending.attempts == 1)
        let paid = try pending.paymentSucceeded(pspReference: "psp", now: Fixture.t0, tokenTTL: .seconds(604_800), random: SeededBytes(seed: 9), signer: signer)
        #expect(paid.state == .paid && paid.pspReference == "psp")
        #expect(paid.ledger == (try UnitLedger(purchased: 10)))
        let token = try #require(paid.token)
        #expect(token.expiry == Fixture.t0.plus(604_800))
        #expect(order.state == .quoted && order.token == nil)  // values never change in place

        // A retried /payment returns the stored token and charges nothing.
        guard case .alreadyPaid(let again) = try paid.startPayment(clientID: Fixture.clientID, now: Fixture.t0.plus(5), catalog: Fixture.catalog()) else {
            Issue.record("expected alreadyPaid"); return
        }
        #expect(again.token == token && again.attempts == 1)
    }

    @Test func paymentStateMachineRefusals() throws {
        let signer = try hmacSigner()
        let catalog = try Fixture.catalog()
        let order = Order(quote: try Fixture.quote())
        #expect(throws: WPWError(.conflict, "Client ID does not match Order Client ID")) {
            try order.startPayment(clientID: Fixture.clientID.uppercased(), now: Fixture.t0, catalog: catalog)
        }
        #expect(code { try order.startPayment(clientID: Fixture.clientID, now: Fixture.t0.plus(600), catalog: catalog) } == .expired)
        #expect(code { try order.paymentSucceeded(pspReference: "p", now: Fixture.t0, tokenTTL: .seconds(1), random: SeededBytes(seed: 1), signer: signer) } == .conflict)
        #expect(code { try order.paymentFailed(reason: "r", catalog: catalog) } == .conflict)
        #expect(code { try order.paymentOutcomeUnknown(reason: "r") } == .conflict)

        guard case .charge(let pending, _) = try order.startPayment(clientID: Fixture.clientID, now: Fixture.t0, catalog: catalog) else {
            Issue.record("expected a charge"); return
        }
        #expect(code { try pending.startPayment(clientID: Fixture.clientID, now: Fixture.t0, catalog: catalog) } == .conflict)
        let unknown = try pending.paymentOutcomeUnknown(reason: "timeout")
        #expect(code { try unknown.startPayment(clientID: Fixture.clientID, now: Fixture.t0, catalog: catalog) } == .paymentOutcomeUnknown)
        // Reconciliation finds the charge.
        let reconciled = try unknown.paymentSucceeded(pspReference: "p", now: Fixture.t0, tokenTTL: .seconds(60), random: SeededBytes(seed: 1), signer: signer)
        #expect(reconciled.state == .paid)
        #expect(code { try reconciled.paymentFailed(reason: "late", catalog: catalog) } == .conflict)
        #expect(code { try reconciled.paymentOutcomeUnknown(reason: "late") } == .conflict)

        // A failed charge can be retried; each attempt is counted.
        let (failed, _) = try pending.paymentFailed(reason: "declined", catalog: catalog)
        #expect(failed.failureReason == "declined")
        guard case .charge(let retry, _) = try failed.startPayment(clientID: Fixture.clientID, now: Fixture.t0, catalog: catalog) else {
            Issue.record("expected a charge"); return
        }
        #expect(retry.attempts == 2 && retry.failureReason == nil)
        // A removed price cannot be paid for (Go panics with a 500 here).
        #expect(code { try failed.startPayment(clientID: Fixture.clientID, now: Fixture.t0, catalog: catalog.removing(serviceID: 1)) } == .notFound)
        // A failed token mint (no entropy) leaves the order pending.
        #expect(code { try pending.paymentSucceeded(pspReference: "p", now: Fixture.t0, tokenTTL: .seconds(60), random: BrokenRandom(), signer: signer) } == .internalError)
    }
}

@Suite struct DomainPurchaseTests {
    @Test func consumerLedgerFollowsTheProducer() throws {
        let purchase = try Purchase(
            serverID: Fixture.serverID, clientID: Fixture.clientID, serviceID: 1, priceID: 1, paymentReferenceID: "ref",
            totalPaid: Money(minorUnits: 5000, currency: Fixture.gbp), tokenKey: "k", expiry: Fixture.t0.plus(100), units: 10)
        let (asked, reserved) = try purchase.beginDelivery(requested: 25, now: Fixture.t0)
        #expect(reserved == 10 && asked.inFlight == 10 && asked.remaining == 0)
        let confirmed = try asked.confirmBegin(reserved: reserved, granted: 4)  // the producer granted fewer
        #expect(confirmed.inFlight == 4 && confirmed.remaining == 6)
        #expect(code { try asked.confirmBegin(reserved: 10, granted: 11) } == .peerProtocol)
        #expect(code { try confirmed.endDelivery(received: 9) } == .invalidParams)  // more than the producer granted
        let (ended, committed) = try confirmed.endDelivery(received: 4)
        #expect(committed == 4 && ended.delivered == 4 && ended.remaining == 6 && ended.inFlight == 0)
        #expect(code { try ended.endDelivery(received: 1) } == .conflict)
        #expect(code { try ended.beginDelivery(requested: 1, now: Fixture.t0.plus(100)) } == .expired)
        #expect(ended.bought == 10)
    }
}
