#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WPWithinCore
import WPWithinTestSupport

private func code(_ value: WPWError.Code) -> JSONValue { .int(Int64(value.rawValue)) }

/// Money under faults, tried as an adversary would: a fault proxy between producer and gateway and between
/// consumer and producer, `kill -9` of each process at each step of a purchase (at a held request, never at a
/// guessed moment), a gateway restart, a full disk. Every case ends with the audit from outside
/// (`FaultMarket.audit`): the gateway's own log of charges and refunds against the consumer's purchases and the
/// producer's stock — one charge per reference, every charge honoured or refunded, every unit delivered.
@Suite(.serialized) struct PaymentFaultTests {
    static let orders = FaultProxy.Rule("POST", "/orders", name: "charge", .holdResponse)

    // MARK: Ambiguous answers after the gateway charged (defect 2)

    enum Ambiguous: String, CaseIterable, Sendable {
        case badGateway502, gatewayTimeout504, serverError500, cutAfterForwarding, notFoundFromAProxy404, garbage200, sandbox502AfterCharge

        var rule: FaultProxy.Action? {
            switch self {
            case .badGateway502: .forwardThenStatus(502, body: .text("<html><body>502 Bad Gateway</body></html>"))
            case .gatewayTimeout504: .forwardThenStatus(504)
            case .serverError500: .forwardThenStatus(500, body: .json(["httpStatusCode": 500, "customCode": "INTERNAL_SERVER_ERROR", "message": "oops"]))
            case .cutAfterForwarding: .forwardThenCut
            case .notFoundFromAProxy404: .forwardThenStatus(404, body: .text("Not Found"))
            case .garbage200: .forwardThenStatus(200, body: .text("{order placed, probably"))
            case .sandbox502AfterCharge: nil
            }
        }
    }

    @Test(arguments: Ambiguous.allCases)
    func anAmbiguousAnswerAfterTheChargeIsNeverTakenAsNotChargedAndChargesOnce(_ fault: Ambiguous) async throws {
        let market = try await FaultMarket()
        if let action = fault.rule {
            try await market.gatewayProxy.setRules([FaultProxy.Rule("POST", "/orders", times: 1, action)])
        } else {
            try await market.sandbox.setFaults([.init(route: "POST /orders", when: .afterCharge, status: 502, times: 1)])
        }
        let reference = try await market.select(units: 3)
        let purchase = try await market.payRetrying(reference)
        #expect(purchase["result"]?["unitsBought"] == 3, "\(fault): \(purchase)")
        #expect(try await market.gatewayProxy.log().forwarded("POST", "/orders") == 1)
        #expect(market.sandbox.audit.charges(reference: reference).count == 1)
        try await market.deliverEverything()
        try await market.audit()
        await market.stop()
    }

    // MARK: An answer for some other order (defect 4)

    @Test func aGatewayThatAnswersWithSomeoneElsesSuccessIssuesNoToken() async throws {
        let market = try await FaultMarket(settleAfterSeconds: 2)
        let bogus: JSONValue = [
            "orderCode": "Test_code", "customerOrderCode": "", "amount": 0, "currencyCode": "GBP", "token": "",
            "orderDescription": "", "paymentStatus": "SUCCESS", "environment": "TEST",
        ]
        // Every /orders request (the charge and every lookup) gets the same SUCCESS; nothing reaches the gateway.
        try await market.gatewayProxy.setRules([FaultProxy.Rule(nil, "/orders", match: .prefix, .fabricate(.json(bogus)))])
        let reference = try await market.select(units: 2)
        let first = try await market.consumerClient().call("makePayment", ["paymentReferenceId": .string(reference)])
        #expect(first["error"]?["code"] == code(.paymentOutcomeUnknown), "\(first)")
        // A retry makes no new order and hands out no token.
        let again = try await market.consumerClient().call("makePayment", ["paymentReferenceId": .string(reference)])
        #expect(again["error"]?["code"] == code(.paymentOutcomeUnknown) || again["error"]?["code"] == code(.expired), "\(again)")
        #expect(try await market.consumerClient().result("listPurchases").arrayValue?.isEmpty == true)
        #expect(try await market.gatewayProxy.log().matching("POST", "/orders").count == 1)
        #expect(market.producer.log.contains("The gateway answered a lookup with another order"))
        #expect(market.sandbox.audit.charges.isEmpty)
        // The gateway never had the order: once settled, the quote is closed and the consumer selects again.
        try await market.gatewayProxy.clearRules()
        _ = try await market.waitForProducerEvent("producer.paymentAbandoned")
        let closed = try await market.payRetrying(reference)
        #expect(closed["error"]?["code"] == code(.expired) && closed["error"]?["data"]?["state"] == "abandoned", "\(closed)")
        let second = try await market.select(units: 2)
        #expect(try await market.payRetrying(second)["result"]?["unitsBought"] == 2)
        try await market.deliverEverything()
        try await market.audit()
        await market.stop()
    }

    // MARK: A lookup that finds nothing is not final (defect 3)

    @Test func anOrderThatReachesTheGatewayAfterTheProducerGaveUpIsChargedOnce() async throws {
        let market = try await FaultMarket()
        try await market.gatewayProxy.setRules([FaultProxy.Rule("POST", "/orders", times: 1, name: "late", .hold)])
        let reference = try await market.select(units: 2)
        let first = try await market.consumerClient().call("makePayment", ["paymentReferenceId": .string(reference)], timeout: .seconds(60))
        #expect(first["error"]?["code"] == code(.paymentOutcomeUnknown), "\(first)")
        // The consumer retries while the first order is still on its way: no second order.
        let retry = try await market.consumerClient().call("makePayment", ["paymentReferenceId": .string(reference)], timeout: .seconds(60))
        #expect(retry["error"]?["code"] == code(.paymentOutcomeUnknown), "\(retry)")
        #expect(try await market.gatewayProxy.log().matching("POST", "/orders").count == 1)
        // The order arrives late and is charged; reconciliation finds it; the retry gets the token.
        let held = try await market.gatewayProxy.waitForHeld(rule: "late")
        try await market.gatewayProxy.release(held)
        let purchase = try await market.payRetrying(reference)
        #expect(purchase["result"]?["unitsBought"] == 2, "\(purchase)")
        #expect(try await market.gatewayProxy.log().forwarded("POST", "/orders") == 1)
        try await market.deliverEverything()
        try await market.audit()
        await market.stop()
    }

    @Test func anOrderPlacedJustBeforeTheGatewayRestartsIsFoundAfterIt() async throws {
        let market = try await FaultMarket()
        try await market.gatewayProxy.setRules([Self.orders])
        let reference = try await market.select(units: 4)
        let payment = OnThread { [market] in try await market.consumerClient().call("makePayment", ["paymentReferenceId": .string(reference)], timeout: .seconds(60)) }
        let held = try await market.gatewayProxy.waitForHeld(rule: "charge", stage: .response)  // charged
        await market.sandbox.kill9()
        try await market.gatewayProxy.release(held, .cut)
        #expect(try await payment.value["error"]?["code"] == code(.paymentOutcomeUnknown))
        try await market.gatewayProxy.clearRules()
        // While the gateway is down, lookups fail: still unknown, never failed.
        let meanwhile = try await market.consumerClient().call("makePayment", ["paymentReferenceId": .string(reference)], timeout: .seconds(60))
        // (The consumer's own token call fails first; either way nothing is charged again.)
        #expect(meanwhile["error"]?["code"] == code(.paymentOutcomeUnknown) || meanwhile["error"]?["code"] == code(.gatewayUnavailable), "\(meanwhile)")
        try await market.sandbox.start()
        let purchase = try await market.payRetrying(reference)
        #expect(purchase["result"]?["unitsBought"] == 4, "\(purchase)")
        try await market.deliverEverything()
        try await market.audit()
        await market.stop()
    }

    enum NeverArrives: String, CaseIterable, Sendable { case cutByTheNetwork, gatewayDownWhenItArrives }

    @Test(arguments: NeverArrives.allCases)
    func anAttemptTheGatewayNeverSawIsAbandonedNotChargedAgain(_ variant: NeverArrives) async throws {
        let market = try await FaultMarket(settleAfterSeconds: 2)
        try await market.gatewayProxy.setRules([FaultProxy.Rule("POST", "/orders", times: 1, name: "lost", .hold)])
        let reference = try await market.select(units: 2)
        let first = try await market.consumerClient().call("makePayment", ["paymentReferenceId": .string(reference)], timeout: .seconds(60))
        #expect(first["error"]?["code"] == code(.paymentOutcomeUnknown), "\(first)")
        let held = try await market.gatewayProxy.waitForHeld(rule: "lost")
        switch variant {
        case .cutByTheNetwork:
            try await market.gatewayProxy.release(held, .cut)
        case .gatewayDownWhenItArrives:
            await market.sandbox.kill9()
            try await market.gatewayProxy.release(held)  // the proxy answers 502: ambiguous, so unknown
            _ = try await market.gatewayProxy.waitForLog { $0.matching("POST", "/orders").first?.done == true }
            try await market.sandbox.start()
        }
        _ = try await market.waitForProducerEvent("producer.paymentAbandoned")
        let closed = try await market.payRetrying(reference)
        #expect(closed["error"]?["code"] == code(.expired) && closed["error"]?["data"]?["state"] == "abandoned", "\(closed)")
        #expect(market.sandbox.audit.charges(reference: reference).isEmpty)
        // The stock came back; the consumer selects again and buys.
        let second = try await market.select(units: 2)
        #expect(try await market.payRetrying(second)["result"]?["unitsBought"] == 2)
        try await market.deliverEverything()
        try await market.audit()
        await market.stop()
    }

    @Test func aLateChargeOfAnAbandonedAttemptIsRefundedExactlyOnce() async throws {
        let market = try await FaultMarket(settleAfterSeconds: 2)
        try await market.gatewayProxy.setRules([FaultProxy.Rule("POST", "/orders", times: 1, name: "late", .hold)])
        let reference = try await market.select(units: 3)
        let first = try await market.consumerClient().call("makePayment", ["paymentReferenceId": .string(reference)], timeout: .seconds(60))
        #expect(first["error"]?["code"] == code(.paymentOutcomeUnknown))
        _ = try await market.waitForProducerEvent("producer.paymentAbandoned")
        #expect(try await market.payRetrying(reference)["error"]?["code"] == code(.expired))
        // Long after, the order turns up at the gateway and is charged: it cannot be honoured, so it is refunded.
        let held = try await market.gatewayProxy.waitForHeld(rule: "late")
        try await market.gatewayProxy.release(held)
        let refund = try await market.waitForProducerEvent("producer.refundIssued")
        #expect(refund["paymentReferenceId"] == .string(reference) && refund["refundAmount"] == 1500)
        let charges = market.sandbox.audit.charges(reference: reference)
        #expect(charges.count == 1)
        #expect(charges.first.map { market.sandbox.audit.refunded(orderCode: $0.orderCode) } == 1500)
        #expect(market.sandbox.audit.refunds.count == 1)
        #expect(market.producer.log.contains("Late charge refunded"))
        // Still closed after the refund; a fresh purchase works and is the only standing charge.
        let closed = try await market.payRetrying(reference)
        #expect(closed["error"]?["code"] == code(.expired) && closed["error"]?["data"]?["state"] == "refunded", "\(closed)")
        let second = try await market.select(units: 1)
        #expect(try await market.payRetrying(second)["result"]?["unitsBought"] == 1)
        // A restart neither refunds again nor forgets.
        try await market.restartProducer()
        #expect(try await market.payRetrying(reference)["error"]?["code"] == code(.expired))
        #expect(market.sandbox.audit.refunds.count == 1)
        try await market.deliverEverything()
        try await market.audit()
        await market.stop()
    }

    @Test func lookupsThatFailKeepTheOrderUnknownUntilTheGatewayAnswers() async throws {
        let market = try await FaultMarket()
        try await market.sandbox.setFaults([
            .init(route: "POST /orders", when: .afterCharge, status: 503, times: 1),
            .init(route: "GET /orders", when: .beforeCharge, status: 503, times: 8),
        ])
        let reference = try await market.select(units: 2)
        let purchase = try await market.payRetrying(reference)
        #expect(purchase["result"]?["unitsBought"] == 2, "\(purchase)")
        #expect(market.sandbox.audit.faults.count >= 9)
        try await market.deliverEverything()
        try await market.audit()
        await market.stop()
    }

    // MARK: kill -9 at each step of a purchase

    enum Kill: String, CaseIterable, Sendable {
        /// The producer dies while its order request is on its way (the request arrives afterwards).
        case producerBeforeTheOrderArrives
        /// The producer dies after the gateway charged, before it heard.
        case producerAfterTheCharge
        /// The producer dies after recording the payment, before the consumer heard.
        case producerAfterRecordingThePayment
        /// The consumer dies before its payment reached the producer.
        case consumerBeforeThePaymentArrives
        /// The consumer dies while the producer is charging.
        case consumerWhileTheProducerCharges
        /// The consumer dies after the producer answered, before it recorded the purchase.
        case consumerBeforeRecordingThePurchase
        /// The gateway dies after charging, before answering.
        case gatewayAfterTheCharge
        /// The gateway is down when the consumer asks for a token.
        case gatewayBeforeTheToken
    }

    @Test(arguments: Kill.allCases)
    func killedAtEveryStepOfAPurchaseNothingIsChargedTwiceOrLost(_ kill: Kill) async throws {
        let market = try await FaultMarket()
        let reference = try await market.select(units: 2)
        let pay = { [market] in
            OnThread { try await market.consumerClient().call("makePayment", ["paymentReferenceId": .string(reference)], timeout: .seconds(60)) }
        }
        switch kill {
        case .producerBeforeTheOrderArrives:
            try await market.gatewayProxy.setRules([FaultProxy.Rule("POST", "/orders", name: "charge", .hold)])
            let payment = pay()
            let held = try await market.gatewayProxy.waitForHeld(rule: "charge")
            market.producer.signal(SIGKILL)
            _ = try await payment.value
            try await market.restartProducer(kill9: true)
            try await market.gatewayProxy.release(held)  // it arrives now: charged, with nobody waiting
        case .producerAfterTheCharge:
            try await market.gatewayProxy.setRules([Self.orders])
            let payment = pay()
            let held = try await market.gatewayProxy.waitForHeld(rule: "charge", stage: .response)
            market.producer.signal(SIGKILL)
            try await market.gatewayProxy.release(held, .cut)
            _ = try await payment.value
            try await market.restartProducer(kill9: true)
        case .producerAfterRecordingThePayment:
            try await market.hteProxy.setRules([FaultProxy.Rule("POST", "/payment", name: "paid", .holdResponse)])
            let payment = pay()
            let held = try await market.hteProxy.waitForHeld(rule: "paid", stage: .response)
            market.producer.signal(SIGKILL)
            try await market.hteProxy.release(held, .cut)
            _ = try await payment.value
            try await market.restartProducer(kill9: true)
        case .consumerBeforeThePaymentArrives:
            try await market.hteProxy.setRules([FaultProxy.Rule("POST", "/payment", name: "pay", .hold)])
            let payment = pay()
            let held = try await market.hteProxy.waitForHeld(rule: "pay")
            market.consumer.signal(SIGKILL)
            _ = try? await payment.value
            try await market.hteProxy.release(held, .cut)
            try await market.restartConsumer(kill9: true)
        case .consumerWhileTheProducerCharges:
            try await market.gatewayProxy.setRules([Self.orders])
            let payment = pay()
            let held = try await market.gatewayProxy.waitForHeld(rule: "charge", stage: .response)
            market.consumer.signal(SIGKILL)
            _ = try? await payment.value
            try await market.gatewayProxy.release(held)
            try await market.restartConsumer(kill9: true)
        case .consumerBeforeRecordingThePurchase:
            try await market.hteProxy.setRules([FaultProxy.Rule("POST", "/payment", name: "paid", .holdResponse)])
            let payment = pay()
            let held = try await market.hteProxy.waitForHeld(rule: "paid", stage: .response)
            market.consumer.signal(SIGKILL)
            _ = try? await payment.value
            try await market.hteProxy.release(held, .cut)
            try await market.restartConsumer(kill9: true)
        case .gatewayAfterTheCharge:
            try await market.gatewayProxy.setRules([Self.orders])
            let payment = pay()
            let held = try await market.gatewayProxy.waitForHeld(rule: "charge", stage: .response)
            await market.sandbox.kill9()
            try await market.gatewayProxy.release(held, .cut)
            _ = try await payment.value
            try await market.sandbox.start()
        case .gatewayBeforeTheToken:
            await market.sandbox.kill9()
            let refused = try await pay().value
            #expect(refused["error"]?["code"] == code(.gatewayUnavailable), "\(refused)")
            try await market.sandbox.start()
        }
        try await market.gatewayProxy.clearRules()
        try await market.hteProxy.clearRules()
        let purchase = try await market.payRetrying(reference)
        #expect(purchase["result"]?["unitsBought"] == 2, "\(kill): \(purchase)")
        #expect(market.sandbox.audit.charges(reference: reference).count == 1)
        try await market.deliverEverything()
        try await market.audit()
        await market.stop()
    }

    // MARK: kill -9 during deliveries

    enum DeliveryKill: String, CaseIterable, Sendable {
        case producerBeforeTheBeginArrives, producerAfterTheBegin, consumerAfterTheBegin, consumerAfterTheEnd, producerAfterTheEnd
    }

    @Test(arguments: DeliveryKill.allCases)
    func killedDuringADeliveryNoUnitIsLostOrDeliveredTwice(_ kill: DeliveryKill) async throws {
        let market = try await FaultMarket()
        let reference = try await market.select(units: 5)
        let id = try #require(try await market.payRetrying(reference)["result"]?["purchaseId"])
        let call = { [market] (method: String, params: JSONValue) in
            OnThread { try await market.consumerClient().call(method, params, timeout: .seconds(60)) }
        }
        switch kill {
        case .producerBeforeTheBeginArrives, .producerAfterTheBegin, .consumerAfterTheBegin:
            let held = kill == .producerBeforeTheBeginArrives
                ? FaultProxy.Rule("POST", "/service/1/delivery/begin", name: "begin", .hold)
                : FaultProxy.Rule("POST", "/service/1/delivery/begin", name: "begin", .holdResponse)
            try await market.hteProxy.setRules([held])
            let begin = call("beginServiceDelivery", ["purchaseId": id, "units": 3])
            let exchange = try await market.hteProxy.waitForHeld(rule: "begin")
            if kill == .consumerAfterTheBegin {
                market.consumer.signal(SIGKILL)
                try await market.hteProxy.release(exchange, .cut)
                _ = try? await begin.value
                try await market.restartConsumer(kill9: true)
            } else {
                market.producer.signal(SIGKILL)
                try await market.hteProxy.release(exchange, .cut)
                let answer = try await begin.value
                #expect(answer["error"] != nil)
                try await market.restartProducer(kill9: true)
            }
        case .consumerAfterTheEnd, .producerAfterTheEnd:
            #expect(try await market.consumerClient().result("beginServiceDelivery", ["purchaseId": id, "units": 3])["unitsToSupply"] == 3)
            try await market.hteProxy.setRules([FaultProxy.Rule("POST", "/service/1/delivery/end", name: "end", .holdResponse)])
            let end = call("endServiceDelivery", ["purchaseId": id, "unitsReceived": 3])
            let exchange = try await market.hteProxy.waitForHeld(rule: "end", stage: .response)
            if kill == .consumerAfterTheEnd {
                market.consumer.signal(SIGKILL)
                try await market.hteProxy.release(exchange, .cut)
                _ = try? await end.value
                try await market.restartConsumer(kill9: true)
            } else {
                market.producer.signal(SIGKILL)
                try await market.hteProxy.release(exchange, .cut)
                _ = try await end.value
                try await market.restartProducer(kill9: true)
            }
        }
        try await market.hteProxy.clearRules()
        try await market.deliverEverything()
        // The producer's journal: exactly the 5 units bought were committed, across the crashes.
        let ended = try market.producerClient()
        let subscribed = try await ended.result("subscribe", ["types": ["producer.deliveryEnded"], "resumeFrom": 0])
        var committed: Int64 = 0
        for _ in 0..<Int(subscribed["replayed"]?.int64Value ?? 0) { committed += try await ended.readJSON()["params"]?["unitsCommitted"]?.int64Value ?? 0 }
        #expect(committed == 5, "\(kill): the producer committed \(committed) units")
        try await market.audit()
        await market.stop()
    }

    // MARK: A full disk (defects 1 and 8)

    @Test(.enabled(if: TmpfsVolume.canMount, "needs root to mount a tmpfs"))
    func aChargeWhoseRecordFailsIsNeverFailedAndIsRecordedWhenSpaceReturns() async throws {
        // No reserve: the record of the success itself fails.
        let market = try await FaultMarket(reserveBytes: 0, producerVolumeBytes: 8 << 20)
        let volume = try #require(market.volume)
        try await market.gatewayProxy.setRules([Self.orders])
        let reference = try await market.select(units: 2)
        let payment = OnThread { [market] in try await market.consumerClient().call("makePayment", ["paymentReferenceId": .string(reference)], timeout: .seconds(60)) }
        let held = try await market.gatewayProxy.waitForHeld(rule: "charge", stage: .response)  // charged
        try volume.fill()
        try await market.gatewayProxy.release(held)
        let answer = try await payment.value
        #expect(answer["error"]?["code"] == code(.paymentOutcomeUnknown), "\(answer)")
        try await market.gatewayProxy.clearRules()
        // Retries while the disk is full: never a second order, never "failed".
        for _ in 0..<3 {
            let retry = try await market.consumerClient().call("makePayment", ["paymentReferenceId": .string(reference)], timeout: .seconds(60))
            #expect(retry["error"]?["code"] == code(.paymentOutcomeUnknown) || retry["error"]?["code"] == code(.storageLow), "\(retry)")
            try volume.fill()
        }
        #expect(try await market.gatewayProxy.log().forwarded("POST", "/orders") == 1)
        #expect(market.producer.log.contains("Payment charged but not recorded yet"))
        // Space returns: recovery records the charge without a restart; the retry gets the token.
        volume.drain()
        let purchase = try await market.payRetrying(reference)
        #expect(purchase["result"]?["unitsBought"] == 2, "\(purchase)")
        try await market.deliverEverything()
        try await market.audit()
        await market.stop()
    }

    @Test(.enabled(if: TmpfsVolume.canMount, "needs root to mount a tmpfs"))
    func onAFullVolumeTheReserveRecordsTheChargeAndNewMoneyWaitsForSpace() async throws {
        let market = try await FaultMarket(producerVolumeBytes: 8 << 20)
        let volume = try #require(market.volume)
        try await market.gatewayProxy.setRules([Self.orders])
        let reference = try await market.select(units: 2)
        let payment = OnThread { [market] in try await market.consumerClient().call("makePayment", ["paymentReferenceId": .string(reference)], timeout: .seconds(60)) }
        let held = try await market.gatewayProxy.waitForHeld(rule: "charge", stage: .response)
        try volume.fill()
        try await market.gatewayProxy.release(held)
        #expect(try await payment.value["result"]?["unitsBought"] == 2)
        try await market.gatewayProxy.clearRules()
        #expect(market.producer.log.contains("State volume full; giving up the space reserve"))
        // New quotes are refused with a clear error while the volume is full; deliveries go on. (Fill it again:
        // recording the charge checkpointed and cut back the WAL, which may have freed room for the floor.)
        try volume.fill()
        let refused = try await market.consumerClient().call("selectService", ["url": market.url, "serviceId": 1, "priceId": 1, "numberOfUnits": 1])
        #expect(refused["error"]?["code"] == code(.storageLow), "\(refused)")
        #expect(market.producer.log.contains("State volume full; giving up the space reserve"))
        volume.drain()
        let second = try await market.select(units: 1)
        #expect(try await market.payRetrying(second)["result"]?["unitsBought"] == 1)
        try await market.deliverEverything()
        try await market.audit()
        await market.stop()
    }
}
