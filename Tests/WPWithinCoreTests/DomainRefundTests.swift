import Testing
import WPWithinCore

/// Refunds of undelivered units as values: the arithmetic, the order's refund transitions, the
/// reconciliation decisions and the consumer's record. No I/O.
@Suite struct DomainRefundTests {
    func paid(units: Int = 10, refundOnExpiry: Bool = true) throws -> Order {
        let order = Order(quote: try Fixture.quote(units: units))
        guard case .charge(let pending, _) = try order.startPayment(clientID: Fixture.clientID, now: Fixture.t0, catalog: Fixture.catalog()) else {
            throw WPWError(.internalError, "expected a charge")
        }
        return try pending.paymentSucceeded(
            pspReference: "psp-1", now: Fixture.t0, tokenTTL: .seconds(60), refundOnExpiry: refundOnExpiry,
            random: SeededBytes(seed: 7), signer: try hmacSigner())
    }

    func presented(_ order: Order) -> PresentedToken { PresentedToken(order.token!) }

    func code(_ body: () throws -> Any) -> WPWError.Code? {
        do { _ = try body(); return nil } catch { return (error as? WPWError)?.code }
    }

    @Test func theAmountIsUnitsTimesUnitPriceExactlyAndNeverMoreThanTheTotal() throws {
        let price = Money(minorUnits: 333, currency: Fixture.gbp)
        let total = Money(minorUnits: 3330, currency: Fixture.gbp)
        #expect(try UnitRefund.amount(units: 7, unitPrice: price, total: total).minorUnits == 2331)
        #expect(try UnitRefund.amount(units: 0, unitPrice: price, total: total).minorUnits == 0)
        #expect(code { try UnitRefund.amount(units: 11, unitPrice: price, total: total) } == .amountInvalid)
        #expect(code { try UnitRefund.amount(units: -1, unitPrice: price, total: total) } == .amountInvalid)
        let huge = Money(minorUnits: Int64.max / 2, currency: Fixture.gbp)
        #expect(code { try UnitRefund.amount(units: 3, unitPrice: huge, total: huge) } == .amountInvalid)
    }

    @Test func aRefundCoversTheRemainingUnitsNeitherDeliveredNorInFlight() throws {
        let signer = try hmacSigner()
        var order = try paid(units: 10)
        (order, _) = try order.beginDelivery(presented(order), clientID: Fixture.clientID, serviceID: 1, requestedUnits: 4, now: Fixture.t0, signer: signer)
        (order, _) = try order.endDelivery(presented(order), clientID: Fixture.clientID, serviceID: 1, receivedUnits: 3, now: Fixture.t0, signer: signer)
        (order, _) = try order.beginDelivery(presented(order), clientID: Fixture.clientID, serviceID: 1, requestedUnits: 2, now: Fixture.t0, signer: signer)
        // 3 delivered, 2 in flight: 5 remain.
        let (started, already) = try order.startingRefund(now: Fixture.t0.plus(10))
        #expect(!already)
        let refund = try #require(started.refund)
        #expect(refund == UnitRefund(reason: .requested, status: .pending, units: 5, amount: Money(minorUnits: 2500, currency: Fixture.gbp)))
        #expect(started.state == .paid)
        // Decided once: asking again changes nothing.
        let (again, decided) = try started.startingRefund(now: Fixture.t0.plus(20))
        #expect(decided && again == started)
        // Units refunded cannot be begun; the units in flight can still be ended.
        #expect(code { try started.beginDelivery(presented(started), clientID: Fixture.clientID, serviceID: 1, requestedUnits: 1, now: Fixture.t0.plus(11), signer: signer) } == .unitsRefunded)
        let (ended, committed) = try started.endDelivery(presented(started), clientID: Fixture.clientID, serviceID: 1, receivedUnits: 2, now: Fixture.t0.plus(12), signer: signer)
        #expect(committed == 2)
        #expect(ended.ledger!.delivered + ended.refund!.units == 10)
        let issued = try ended.refundIssued()
        #expect(issued.refund?.status == .issued)
        #expect(code { try issued.refundIssued() } == .conflict)
    }

    @Test func anExpiredTokenIsRefundedForExpiryAndOnlyWhenItsPriceAllowsIt() throws {
        let order = try paid(units: 3)
        #expect(!order.expiryRefundDue(now: Fixture.t0.plus(59)))
        #expect(order.expiryRefundDue(now: Fixture.t0.plus(60)))
        let (expired, _) = try order.startingRefund(now: Fixture.t0.plus(60))
        #expect(expired.refund?.reason == .expiry)
        #expect(expired.refund?.amount.minorUnits == 1500)
        #expect(!expired.expiryRefundDue(now: Fixture.t0.plus(61)))

        let plain = try paid(units: 3, refundOnExpiry: false)
        #expect(!plain.expiryRefundDue(now: Fixture.t0.plus(600)))
        #expect(code { try plain.startingRefund(now: Fixture.t0) } == .refundNotOffered)
        #expect(code { try Order(quote: Fixture.quote()).startingRefund(now: Fixture.t0) } == .conflict)
    }

    @Test func nothingLeftIsRefusedOnRequestAndClosedAtExpiry() throws {
        let signer = try hmacSigner()
        var order = try paid(units: 2)
        (order, _) = try order.beginDelivery(presented(order), clientID: Fixture.clientID, serviceID: 1, requestedUnits: 2, now: Fixture.t0, signer: signer)
        #expect(code { try order.startingRefund(now: Fixture.t0) } == .nothingToRefund)
        let (closed, _) = try order.startingRefund(now: Fixture.t0.plus(60))
        #expect(closed.refund?.status == .nothing)
        #expect(closed.refund?.units == 0)
        #expect(code { try closed.refundIssued() } == .conflict)
    }

    @Test func reconciliationAsksOnlyWhenTheGatewayShowsNoRefund() throws {
        let (order, _) = try paid(units: 10).startingRefund(now: Fixture.t0.plus(60))
        func found(refunded: Int64?, status: String = "SUCCESS", code: String = "psp-1") -> PaymentRecovery.Lookup {
            .found(GatewayOrder(
                orderCode: code, customerOrderCode: order.customerOrderCode, paymentStatus: status, amount: 5000,
                currencyCode: "GBP", refundedAmount: refunded))
        }
        #expect(RefundRecovery.next(order, lookup: found(refunded: 0)) == .refund(orderCode: "psp-1", amount: 5000))
        #expect(RefundRecovery.next(order, lookup: found(refunded: nil)) == .refund(orderCode: "psp-1", amount: 5000))
        #expect(RefundRecovery.next(order, lookup: found(refunded: 5000, status: "REFUNDED")) == .recordIssued)
        #expect(RefundRecovery.next(order, lookup: found(refunded: nil, status: "REFUNDED")) == .recordIssued)
        #expect(RefundRecovery.next(order, lookup: found(refunded: 100, status: "PARTIALLY_REFUNDED")) == .wait(mismatch: true))
        #expect(RefundRecovery.next(order, lookup: found(refunded: 0, code: "other")) == .wait(mismatch: true))
        #expect(RefundRecovery.next(order, lookup: .failed(reason: "timeout")) == .wait(mismatch: false))
        #expect(RefundRecovery.next(order, lookup: .notFound) == .wait(mismatch: false))
        // A partial refund: 4 of 10 units.
        let signer = try hmacSigner()
        var partial = try paid(units: 10)
        (partial, _) = try partial.beginDelivery(presented(partial), clientID: Fixture.clientID, serviceID: 1, requestedUnits: 6, now: Fixture.t0, signer: signer)
        (partial, _) = try partial.endDelivery(presented(partial), clientID: Fixture.clientID, serviceID: 1, receivedUnits: 6, now: Fixture.t0, signer: signer)
        (partial, _) = try partial.startingRefund(now: Fixture.t0.plus(60))
        #expect(RefundRecovery.next(partial, lookup: found(refunded: 0)) == .refund(orderCode: "psp-1", amount: 2000))
        #expect(RefundRecovery.next(partial, lookup: found(refunded: 2000, status: "PARTIALLY_REFUNDED")) == .recordIssued)
    }

    @Test func theConsumersRecordChecksTheAnswerAndAnIssuedRefundIsFinal() throws {
        let paid = Money(minorUnits: 1500, currency: Fixture.gbp)
        let pending = try PurchaseRefund.answer(status: "pending", reason: "expiry", units: 2, amount: 1000, currencyCode: "GBP", bought: 3, paid: paid)
        let issued = try PurchaseRefund.answer(status: "issued", reason: "expiry", units: 2, amount: 1000, currencyCode: "GBP", bought: 3, paid: paid)
        #expect(pending.unitsRefunded == 0 && issued.unitsRefunded == 2 && issued.amountRefunded == 1000)
        #expect(PurchaseRefund.recording(pending, over: nil) == (pending, false))
        #expect(PurchaseRefund.recording(issued, over: pending) == (issued, true))
        #expect(PurchaseRefund.recording(.noRefund, over: issued) == (issued, false))
        #expect(code { try PurchaseRefund.answer(status: "issued", reason: "expiry", units: 4, amount: 1000, currencyCode: "GBP", bought: 3, paid: paid) } == .peerProtocol)
        #expect(code { try PurchaseRefund.answer(status: "issued", reason: "expiry", units: 2, amount: 1600, currencyCode: "GBP", bought: 3, paid: paid) } == .peerProtocol)
        #expect(code { try PurchaseRefund.answer(status: "issued", reason: "expiry", units: 2, amount: 1000, currencyCode: "EUR", bought: 3, paid: paid) } == .peerProtocol)
        #expect(code { try PurchaseRefund.answer(status: "done", reason: "expiry", units: 2, amount: 1000, currencyCode: "GBP", bought: 3, paid: paid) } == .peerProtocol)
    }
}
