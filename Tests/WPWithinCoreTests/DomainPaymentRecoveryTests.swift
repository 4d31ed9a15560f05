import Testing
import WPWithinCore

private func code(_ body: () throws -> Any) -> WPWError.Code? {
    do { _ = try body(); return nil } catch { return (error as? WPWError)?.code }
}

/// The payment state machine and the reconciliation decisions: every transition and every answer of the
/// gateway, without I/O.
@Suite struct DomainPaymentRecoveryTests {
    static let policy = PaymentRecoveryPolicy(settleAfter: .seconds(600), minimumNotFoundLookups: 3, watchFor: .seconds(86_400))

    func pending(attempt: Int = 1) throws -> (order: Order, catalog: Catalog) {
        var order = Order(quote: try Fixture.quote())
        var catalog = try Fixture.catalog(stock: 20)
        for n in 1...attempt {
            guard case .charge(let started, let reserved) = try order.startPayment(clientID: Fixture.clientID, now: Fixture.t0, catalog: catalog) else {
                throw WPWError(.internalError, "expected a charge")
            }
            order = started
            catalog = reserved
            if n < attempt { (order, catalog) = try order.paymentFailed(reason: "declined", catalog: catalog) }
        }
        return (order, catalog)
    }

    func answer(_ order: Order, status: String = "SUCCESS", code: String? = nil, amount: Int64? = nil, currency: String = "GBP", refunded: Int64? = nil) -> GatewayOrder {
        GatewayOrder(
            orderCode: "oc-1", customerOrderCode: code ?? order.customerOrderCode, paymentStatus: status,
            amount: amount ?? order.quote.total.minorUnits, currencyCode: currency, refundedAmount: refunded)
    }

    @Test func eachAttemptHasItsOwnCustomerOrderCode() throws {
        let first = try pending(attempt: 1).order
        #expect(first.customerOrderCode == first.paymentReferenceID)  // as the Go SDK sends it
        let third = try pending(attempt: 3).order
        #expect(third.attempts == 3)
        #expect(third.customerOrderCode == third.paymentReferenceID + ".3")
        #expect(Order.paymentReference(ofCustomerOrderCode: third.customerOrderCode) == third.paymentReferenceID)
        #expect(Order.paymentReference(ofCustomerOrderCode: first.customerOrderCode) == first.paymentReferenceID)
        #expect(third.paymentStartedAt == Fixture.t0)
    }

    @Test func onlyAMatchingAnswerCounts() throws {
        let order = try pending().order
        let total = order.quote.total
        let code = order.customerOrderCode
        #expect(ChargeEvidence.answer(answer(order), customerOrderCode: code, total: total) == .charged(orderCode: "oc-1"))
        #expect(ChargeEvidence.answer(answer(order, status: "success"), customerOrderCode: code, total: total) == .charged(orderCode: "oc-1"))
        // The fake gateway of the issue: SUCCESS for some other order.
        for wrong in [answer(order, code: ""), answer(order, code: "Test_code"), answer(order, amount: 0), answer(order, currency: "EUR")] {
            guard case .unknown = ChargeEvidence.answer(wrong, customerOrderCode: code, total: total) else {
                Issue.record("an unmatched answer was trusted: \(wrong)"); continue
            }
        }
        #expect(ChargeEvidence.answer(answer(order, status: "FAILED"), customerOrderCode: code, total: total) == .notCharged(reason: "paymentStatus FAILED"))
        for undecided in ["AUTHORIZED", "PENDING", "REFUNDED", "SOMETHING_NEW", ""] {
            guard case .unknown = ChargeEvidence.answer(answer(order, status: undecided), customerOrderCode: code, total: total) else {
                Issue.record("\(undecided) was taken as definite"); continue
            }
        }
    }

    @Test func onlyStatedRefusalsMeanNotCharged() {
        for refused in [WPWError.Code.paymentDeclined, .invalidCard, .gatewayRejected, .amountInvalid, .unsupportedCurrency, .credentials, .invalidParams, .gatewayUnavailable] {
            guard case .notCharged = ChargeEvidence.error(WPWError(refused, "x")) else { Issue.record("\(refused) not a refusal"); continue }
        }
        // The bug of the issue: an error from recording the success (SQLITE_FULL) or any code not listed.
        for unknown in [WPWError.Code.paymentOutcomeUnknown, .gatewayTimeout, .gatewayProtocol, .internalError, .unavailable, .conflict] {
            guard case .unknown = ChargeEvidence.error(WPWError(unknown, "x")) else { Issue.record("\(unknown) taken as not charged"); continue }
        }
        struct Odd: Error {}
        guard case .unknown = ChargeEvidence.error(Odd()) else { Issue.record("a foreign error taken as not charged"); return }
    }

    @Test func unknownOutcomesSettleOnlyOnTheGatewaysWord() throws {
        let order = try pending().order.paymentOutcomeUnknown(reason: "timeout")
        let now = Fixture.t0.plus(1)
        func next(_ lookup: PaymentRecovery.Lookup, notFound: Int = 0, at time: Instant = now) -> PaymentRecovery.Step {
            PaymentRecovery.next(order, lookup: lookup, notFoundSoFar: notFound, now: time, policy: Self.policy)
        }
        #expect(next(.found(answer(order))) == .recordPaid(orderCode: "oc-1"))
        #expect(next(.found(answer(order, status: "FAILED"))) == .recordFailed(reason: "gateway: paymentStatus FAILED"))
        #expect(next(.found(answer(order, status: "REFUNDED"))) == .recordFailed(reason: "gateway: charged and refunded in full"))
        #expect(next(.found(answer(order, status: "AUTHORIZED"))) == .wait(notFound: false, mismatch: false))
        #expect(next(.found(answer(order, amount: 1))) == .wait(notFound: false, mismatch: true))
        #expect(next(.failed(reason: "503")) == .wait(notFound: false, mismatch: false))
        // Not found is not final: the order may still be on its way (or the gateway restarting).
        #expect(next(.notFound) == .wait(notFound: true, mismatch: false))
        #expect(next(.notFound, notFound: 50) == .wait(notFound: true, mismatch: false))  // before settleAfter
        let late = Fixture.t0.plus(600)
        #expect(next(.notFound, notFound: 1, at: late) == .wait(notFound: true, mismatch: false))  // too few lookups
        guard case .abandon = next(.notFound, notFound: 2, at: late) else { Issue.record("not abandoned"); return }
        // A pending order (interrupted charge) is reconciled the same way.
        let interrupted = try pending().order
        #expect(PaymentRecovery.next(interrupted, lookup: .found(answer(interrupted)), notFoundSoFar: 0, now: now, policy: Self.policy) == .recordPaid(orderCode: "oc-1"))
    }

    @Test func aLookupOfAnEarlierAttemptIsNotThisAttempt() throws {
        let second = try pending(attempt: 2).order.paymentOutcomeUnknown(reason: "timeout")
        // The gateway holds attempt 1's declined order under the bare reference: it says nothing of attempt 2.
        let first = answer(second, status: "FAILED", code: second.paymentReferenceID)
        #expect(PaymentRecovery.lookupKey(for: second) == .customerOrderCode(second.paymentReferenceID + ".2"))
        #expect(PaymentRecovery.next(second, lookup: .found(first), notFoundSoFar: 0, now: Fixture.t0, policy: Self.policy) == .wait(notFound: false, mismatch: true))
    }

    @Test func anAbandonedAttemptIsClosedWatchedAndALateChargeRefundedOnce() throws {
        let (started, reserved) = try pending()
        #expect(try reserved.price(serviceID: 1, priceID: 1).stock == 10)
        let unknown = try started.paymentOutcomeUnknown(reason: "timeout")
        let (abandoned, released) = try unknown.paymentAbandoned(reason: "not found", catalog: reserved)
        #expect(abandoned.state == .abandoned)
        #expect(try released.price(serviceID: 1, priceID: 1).stock == 20)
        // It can no longer be paid: the consumer selects again (no second order for this reference, ever).
        #expect(code { try abandoned.startPayment(clientID: Fixture.clientID, now: Fixture.t0, catalog: released) } == .expired)
        #expect(code { try abandoned.paymentSucceeded(pspReference: "p", now: Fixture.t0, tokenTTL: .seconds(1), random: SeededBytes(seed: 1), signer: try hmacSigner()) } == .conflict)

        let inWatch = Fixture.t0.plus(3600)
        #expect(PaymentRecovery.next(abandoned, lookup: .notFound, notFoundSoFar: 9, now: inWatch, policy: Self.policy) == .wait(notFound: true, mismatch: false))
        #expect(PaymentRecovery.next(abandoned, lookup: .notFound, notFoundSoFar: 9, now: Fixture.t0.plus(86_400), policy: Self.policy) == .stopWatching)
        #expect(PaymentRecovery.next(abandoned, lookup: .found(answer(abandoned)), notFoundSoFar: 0, now: inWatch, policy: Self.policy) == .recordLateCharge(orderCode: "oc-1"))

        let refunding = try abandoned.lateChargeFound(orderCode: "oc-1")
        #expect(refunding.state == .refundPending && refunding.pspReference == "oc-1")
        #expect(PaymentRecovery.lookupKey(for: refunding) == .orderCode("oc-1"))
        #expect(code { try refunding.startPayment(clientID: Fixture.clientID, now: Fixture.t0, catalog: released) } == .expired)
        let total = refunding.quote.total.minorUnits
        // Refund only what the gateway shows unrefunded; never again once it shows the refund.
        #expect(PaymentRecovery.next(refunding, lookup: .found(answer(refunding)), notFoundSoFar: 0, now: inWatch, policy: Self.policy) == .refund(orderCode: "oc-1", amount: total))
        #expect(PaymentRecovery.next(refunding, lookup: .found(answer(refunding, status: "PARTIALLY_REFUNDED", refunded: 100)), notFoundSoFar: 0, now: inWatch, policy: Self.policy) == .refund(orderCode: "oc-1", amount: total - 100))
        #expect(PaymentRecovery.next(refunding, lookup: .found(answer(refunding, status: "REFUNDED", refunded: total)), notFoundSoFar: 0, now: inWatch, policy: Self.policy) == .recordRefunded)
        #expect(PaymentRecovery.next(refunding, lookup: .failed(reason: "timeout"), notFoundSoFar: 0, now: inWatch, policy: Self.policy) == .wait(notFound: false, mismatch: false))
        var other = answer(refunding)
        other.orderCode = "someone-else"
        #expect(PaymentRecovery.next(refunding, lookup: .found(other), notFoundSoFar: 0, now: inWatch, policy: Self.policy) == .wait(notFound: false, mismatch: true))
        let refunded = try refunding.refundCompleted()
        #expect(refunded.state == .refunded)
        #expect(code { try refunded.refundCompleted() } == .conflict)
        #expect(code { try refunded.lateChargeFound(orderCode: "x") } == .conflict)
    }

    @Test func statesThatNeedTheGateway() {
        #expect(OrderState.allCases.filter(\.needsReconciliation) == [.paymentPending, .outcomeUnknown, .abandoned, .refundPending])
    }

    @Test func backoffDoublesToTheCap() {
        let steps = (0..<8).map { PaymentRecovery.backoff(lookups: $0, base: .milliseconds(100), cap: .seconds(1)) }
        #expect(steps == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1), .seconds(1), .seconds(1)])
    }
}

/// The delivery lease (producer) and the consumer's unsettled deliveries.
@Suite struct DomainDeliverySettlementTests {
    @Test func unitsInFlightPastTheLeaseAreSettledAtTheNextBegin() throws {
        let signer = try hmacSigner()
        let order = try Fixture.paidOrder(units: 5, signer: signer)
        let token = try #require(order.token)
        let presented = PresentedToken(token)
        let (begun, granted) = try order.beginDelivery(presented, clientID: Fixture.clientID, serviceID: 1, requestedUnits: 3, now: Fixture.t0, signer: signer)
        #expect(granted == 3 && begun.ledger?.inFlightSince == Fixture.t0)
        #expect(begun.settlingExpiredLease(now: Fixture.t0.plus(59), lease: .seconds(60)) == nil)
        let (settled, units) = try #require(begun.settlingExpiredLease(now: Fixture.t0.plus(60), lease: .seconds(60)))
        #expect(units == 3)
        #expect(settled.ledger?.inFlight == 0 && settled.ledger?.delivered == 0 && settled.ledger?.remaining == 5)
        let (committed, _) = try #require(begun.settlingExpiredLease(now: Fixture.t0.plus(60), lease: .seconds(60), policy: .commitUnreported))
        #expect(committed.ledger?.delivered == 3)
        // A second begin keeps the oldest start.
        let (more, _) = try begun.beginDelivery(presented, clientID: Fixture.clientID, serviceID: 1, requestedUnits: 1, now: Fixture.t0.plus(30), signer: signer)
        #expect(more.ledger?.inFlightSince == Fixture.t0)
    }

    @Test func aRefusedCallCarriesTheProducersLedger() throws {
        let ledger = try UnitLedger(purchased: 4, delivered: 4, inFlight: 0)
        do {
            _ = try ledger.begin(requested: 1)
            Issue.record("begin should fail")
        } catch let error as WPWError {
            #expect(UnitLedger(json: error.data?["ledger"]) == ledger)
        }
        do {
            _ = try ledger.end(reported: 1)
            Issue.record("end should fail")
        } catch let error as WPWError {
            #expect(error.code == .conflict)
            #expect(UnitLedger(json: error.data?["ledger"]) == ledger)
        }
        #expect(UnitLedger(json: ["purchased": 1]) == nil)
    }

    func purchase(units: Int = 10) throws -> Purchase {
        try Purchase(
            serverID: Fixture.serverID, clientID: Fixture.clientID, serviceID: 1, priceID: 1, paymentReferenceID: "ref",
            totalPaid: Money(minorUnits: 5000, currency: Fixture.gbp), tokenKey: "k", expiry: Fixture.t0.plus(100), units: units)
    }

    @Test func anUnansweredBeginStaysInFlightUntilEnded() throws {
        let (asked, reserved) = try purchase().beginDelivery(requested: 4, now: Fixture.t0)
        let unsettled = try asked.beginUnanswered(reserved: reserved)
        #expect(unsettled.inFlight == 4 && unsettled.unsettled == .begin(units: 4))
        // A new begin must wait for the end that settles it.
        #expect(code { try unsettled.beginDelivery(requested: 1, now: Fixture.t0) } == .conflict)
        // The producer had the begin: the end commits.
        let (ended, committed) = try unsettled.endAnswered(committed: 4, unitsRemaining: 6)
        #expect(committed == 4 && ended.delivered == 4 && ended.inFlight == 0 && ended.unsettled == nil)
        // The producer never had it: its ledger (nothing delivered, nothing in flight) decides.
        let synced = try unsettled.synced(to: try UnitLedger(purchased: 10))
        #expect(synced.delivered == 0 && synced.inFlight == 0 && synced.remaining == 10 && synced.unsettled == nil)
    }

    @Test func aGrantIsRecordedInOneStepAfterTheProducersAnswer() throws {
        let p = try purchase(units: 5)
        let (granted, inFlight) = try p.beginGranted(3, at: Fixture.t0)
        #expect(inFlight == 3 && granted.inFlight == 3 && granted.remaining == 2 && granted.unsettled == nil)
        // Never more in flight than the record has left (the producer's ledger decides; this is its mirror).
        let (more, added) = try granted.beginGranted(4, at: Fixture.t0)
        #expect(added == 2 && more.inFlight == 5 && more.remaining == 0)
        // Nothing granted, or nothing left: nothing changes.
        #expect(try more.beginGranted(1, at: Fixture.t0).inFlight == 0)
        #expect(try p.beginGranted(0, at: Fixture.t0).purchase == p)
        #expect(code { try p.beginGranted(-1, at: Fixture.t0) } == .peerProtocol)
        // A grant made before the expiry is recorded after it too (the producer checked its clock).
        #expect(try p.beginGranted(1, at: Fixture.t0.plus(1000)).inFlight == 1)
    }

    @Test func aBeginSentWithoutAReservationAndUnansweredGoesInFlightUnsettled() throws {
        let unsettled = try purchase(units: 5).beginSentUnanswered(units: 8, at: Fixture.t0)
        #expect(unsettled.inFlight == 5 && unsettled.unsettled == .begin(units: 5))
        #expect(code { try unsettled.beginDelivery(requested: 1, now: Fixture.t0) } == .conflict)
        // A concurrent begin took what remained meanwhile: the units in flight are marked for the next end.
        let (taken, _) = try purchase(units: 5).beginGranted(5, at: Fixture.t0)
        let marked = try taken.beginSentUnanswered(units: 2, at: Fixture.t0)
        #expect(marked.inFlight == 5 && marked.unsettled == .begin(units: 2))
        // Everything delivered: nothing to mark.
        let (all, _) = try taken.endDelivery(received: 5)
        #expect(try all.beginSentUnanswered(units: 2, at: Fixture.t0) == all)
    }

    @Test func aLostEndAnswerIsCaughtUpFromTheProducersLedger() throws {
        let (asked, reserved) = try purchase().beginDelivery(requested: 3, now: Fixture.t0)
        let begun = try asked.confirmBegin(reserved: reserved, granted: 3)
        let lost = begun.endUnanswered(received: 3)
        #expect(lost.unsettled == .end(units: 3) && lost.inFlight == 3)
        // The producer had committed the 3 units; its ledger comes with its refusal of the repeated end.
        let caughtUp = try lost.synced(to: try UnitLedger(purchased: 10, delivered: 3, inFlight: 0))
        #expect(caughtUp.delivered == 3 && caughtUp.inFlight == 0 && caughtUp.remaining == 7)
        // Never fewer units delivered than recorded; a ledger of another purchase is refused.
        let behind = try caughtUp.synced(to: try UnitLedger(purchased: 10))
        #expect(behind.delivered == 3)
        #expect(code { try caughtUp.synced(to: try UnitLedger(purchased: 9)) } == .peerProtocol)
    }

    @Test func goProducersRemainingCountNeverLowersTheRecord() throws {
        // A Go producer answers remaining = bought − unitsReceived of this end alone.
        var p = try purchase()
        for _ in 0..<2 {
            let (asked, reserved) = try p.beginDelivery(requested: 3, now: Fixture.t0)
            let begun = try asked.confirmBegin(reserved: reserved, granted: 3)
            (p, _) = try begun.endAnswered(committed: 3, unitsRemaining: 7)
        }
        #expect(p.delivered == 6 && p.remaining == 4)
    }
}
