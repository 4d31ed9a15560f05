#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WPWithinCore
import WPWithinSQLite
import WPWithinTestSupport

/// Refunds of undelivered units (docs/payments.md): at expiry, across a crash, on request, and against a
/// producer without the refund route. Real daemons, the sandbox gateway and fault proxies on loopback; every
/// wait is on a condition (an event, a record), never on how long something took.
@Suite struct RefundTests {
    static func code(_ code: WPWError.Code) -> JSONValue { .int(Int64(code.rawValue)) }

    /// Buys `units` through the market and delivers `delivered` of them; returns the purchase id and reference.
    static func buy(_ market: FaultMarket, units: Int, delivered: Int) async throws -> (id: JSONValue, reference: String) {
        let reference = try await market.select(units: units)
        let paid = try await market.payRetrying(reference)
        let id = try #require(paid["result"]?["purchaseId"], "makePayment: \(paid)")
        if delivered > 0 {
            let c = try market.consumerClient()
            #expect(try await c.result("beginServiceDelivery", ["purchaseId": id, "units": .int(Int64(delivered))])["unitsToSupply"] == .int(Int64(delivered)))
            #expect(try await c.result("endServiceDelivery", ["purchaseId": id, "unitsReceived": .int(Int64(delivered))])["unitsDelivered"] == .int(Int64(delivered)))
        }
        return (id, reference)
    }

    /// Polls `listPurchases` until the purchase's refund is issued (the consumer's sweep asks the producer).
    static func waitForConsumerRefund(_ market: FaultMarket, _ id: JSONValue, timeout: Duration = .seconds(120)) async throws -> JSONValue {
        let end = ContinuousClock.now + timeout
        var last: JSONValue = .null
        while ContinuousClock.now < end {
            last = try await market.consumerClient().result("listPurchases").arrayValue?.first { $0["purchaseId"] == id } ?? .null
            if last["refundStatus"] == "issued" { return last }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw HarnessError("the consumer never recorded the refund: \(last)")
    }

    /// The events of `types` in a daemon's journal so far.
    static func journal(_ client: RawClient, _ types: [String]) async throws -> [JSONValue] {
        let subscribed = try await client.result("subscribe", ["types": .array(types.map(JSONValue.string)), "resumeFrom": 0])
        var events: [JSONValue] = []
        for _ in 0..<Int(subscribed["replayed"]?.int64Value ?? 0) { events.append(try await client.readJSON()["params"] ?? .null) }
        return events
    }

    @Test func aTokenExpiringWithUnitsLeftIsRefundedExactlyTheUnusedPartOnce() async throws {
        let market = try await FaultMarket(refundOnExpiry: true, tokenTTLSeconds: 15, refundCheckSeconds: 1)
        let (id, reference) = try await Self.buy(market, units: 5, delivered: 2)
        let (usedUp, _) = try await Self.buy(market, units: 2, delivered: 2)

        // The producer's sweep refunds the 3 unused units when the token expires.
        let issued = try await market.waitForProducerEvent("producer.refundIssued") { $0["paymentReferenceId"]?.stringValue == reference }
        #expect(issued["reason"] == "expiry")
        #expect(issued["unitsRefunded"] == 3)
        #expect(issued["refundAmount"] == 1500)
        let charge = try #require(market.sandbox.audit.charges(reference: reference).first)
        #expect(market.sandbox.audit.refunds(orderCode: charge.orderCode).map(\.refundAmount) == [1500])

        // The consumer learns it from the producer's refund route and records it.
        let purchase = try await Self.waitForConsumerRefund(market, id)
        #expect(purchase["unitsRefunded"] == 3)
        #expect(purchase["amountRefunded"] == 1500)
        #expect(purchase["unitsDelivered"] == 2)
        #expect(purchase["unitsRemaining"] == 0)
        let received = try await Self.journal(market.consumerClient(), ["consumer.refundReceived"])
        #expect(received.count == 1)
        #expect(received.first?["unitsRefunded"] == 3 && received.first?["amountRefunded"] == 1500 && received.first?["reason"] == "expiry")

        // A purchase used up has nothing to refund: the consumer's sweep closes it without asking the producer.
        let end = ContinuousClock.now + .seconds(120)
        var closed: JSONValue = .null
        while ContinuousClock.now < end {
            closed = try await market.consumerClient().result("listPurchases").arrayValue?.first { $0["purchaseId"] == usedUp } ?? .null
            if closed["refundStatus"] == "none" { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(closed["refundStatus"] == "none" && closed["unitsRefunded"] == 0 && closed["amountRefunded"] == 0, "\(closed)")

        // The units are gone: begin is refused with the typed error; asking again changes nothing.
        let c = try market.consumerClient()
        #expect(try await c.call("beginServiceDelivery", ["purchaseId": id, "units": 1])["error"]?["code"] == Self.code(.unitsRefunded))
        #expect(try await c.result("requestRefund", ["purchaseId": id])["amountRefunded"] == 1500)
        #expect(market.sandbox.audit.refunds(orderCode: charge.orderCode).count == 1)
        try await market.audit(expectDelivered: true)
        await market.stop()
    }

    /// `gatewayMadeIt`: the proxy holds the gateway's answer (the refund was made) or the request (it was not).
    @Test(arguments: [true, false])
    func aProducerKilledBetweenTheRefundsRecordAndTheGatewaysAnswerRefundsOnceAfterARestart(gatewayMadeIt: Bool) async throws {
        let market = try await FaultMarket(refundOnExpiry: true, tokenTTLSeconds: 15, refundCheckSeconds: 1)
        try await market.gatewayProxy.setRules([
            FaultProxy.Rule("POST", "/orders/*/refund", name: "refund", gatewayMadeIt ? .holdResponse : .hold),
        ])
        let (id, reference) = try await Self.buy(market, units: 4, delivered: 1)

        // The refund is recorded (pending) and asked for; the proxy holds it (before or after the gateway made
        // it): the producer is killed exactly then.
        let request = try await market.gatewayProxy.waitForHeld(
            rule: "refund", stage: gatewayMadeIt ? .response : .request, timeout: .seconds(120))
        #expect(market.sandbox.audit.refunds.count == (gatewayMadeIt ? 1 : 0))
        let killed: DaemonProcess = market.producer
        killed.signal(SIGKILL)
        #expect(try await killed.waitForExit() == 128 + SIGKILL)
        try await market.gatewayProxy.release(request, .cut)
        try await market.gatewayProxy.clearRules()

        // Restarted: reconciliation looks the charge up, and asks for the refund only if it was not made.
        try await market.restartProducer()
        let issued = try await market.waitForProducerEvent("producer.refundIssued") { $0["paymentReferenceId"]?.stringValue == reference }
        #expect(issued["unitsRefunded"] == 3 && issued["refundAmount"] == 1500)
        let charge = try #require(market.sandbox.audit.charges(reference: reference).first)
        #expect(market.sandbox.audit.refunds(orderCode: charge.orderCode).map(\.refundAmount) == [1500])

        let purchase = try await Self.waitForConsumerRefund(market, id)
        #expect(purchase["unitsRefunded"] == 3 && purchase["amountRefunded"] == 1500)
        // Still one refund after everything settled, and after another restart.
        try await market.restartProducer()
        #expect(try await market.consumerClient().result("requestRefund", ["purchaseId": id])["refundStatus"] == "issued")
        #expect(market.sandbox.audit.refunds(orderCode: charge.orderCode).count == 1)
        try await market.audit(expectDelivered: true)
        await market.stop()
    }

    /// A refund call the gateway fails (a 500, once) leaves the refund pending and is told to the app as
    /// `producer.error` (operation `refund`); the next pass looks the charge up, asks again and records it
    /// issued: one refund at the gateway, of exactly the unused part.
    @Test func aRefundTheGatewayFailsIsAProducerErrorThenIssuedOnce() async throws {
        let market = try await FaultMarket(refundOnExpiry: true, refundCheckSeconds: 1)
        try await market.gatewayProxy.setRules([
            FaultProxy.Rule("POST", "/orders/*/refund", times: 1, .status(500, body: .text("down\n"), headers: ["Content-Type": "text/plain"])),
        ])
        let (id, reference) = try await Self.buy(market, units: 4, delivered: 1)
        let first = try await market.consumerClient().result("requestRefund", ["purchaseId": id])
        #expect(first["refundStatus"] == "pending" && first["unitsRefunded"] == 0, "\(first)")
        let error = try await market.waitForProducerEvent("producer.error") { $0["paymentReferenceId"]?.stringValue == reference }
        #expect(error["operation"] == "refund", "\(error)")
        let purchase = try await Self.waitForConsumerRefund(market, id)
        #expect(purchase["unitsRefunded"] == 3 && purchase["amountRefunded"] == 1500, "\(purchase)")
        let charge = try #require(market.sandbox.audit.charges(reference: reference).first)
        #expect(market.sandbox.audit.refunds(orderCode: charge.orderCode).map(\.refundAmount) == [1500])
        try await market.audit(expectDelivered: true)
        await market.stop()
    }

    @Test func requestRefundIsGrantedOnceByAWpwithindProducer() async throws {
        let market = try await FaultMarket(refundOnExpiry: true)
        let (id, reference) = try await Self.buy(market, units: 4, delivered: 1)
        let c = try market.consumerClient()

        let refunded = try await c.result("requestRefund", ["purchaseId": id])
        #expect(refunded["refundStatus"] == "issued")
        #expect(refunded["unitsRefunded"] == 3 && refunded["amountRefunded"] == 1500)
        #expect(refunded["unitsRemaining"] == 0)
        // The same refund again: no second gateway call.
        let again = try await c.result("requestRefund", ["purchaseId": id])
        #expect(again["unitsRefunded"] == 3 && again["amountRefunded"] == 1500)
        let charge = try #require(market.sandbox.audit.charges(reference: reference).first)
        #expect(market.sandbox.audit.refunds(orderCode: charge.orderCode).map(\.refundAmount) == [1500])
        #expect(try await c.call("beginServiceDelivery", ["purchaseId": id, "units": 1])["error"]?["code"] == Self.code(.unitsRefunded))

        let producerEvents = try await Self.journal(market.producerClient(), ["producer.refundIssued"])
        #expect(producerEvents.count == 1)
        #expect(producerEvents.first?["reason"] == "requested" && producerEvents.first?["unitsRefunded"] == 3)
        #expect(try await Self.journal(c, ["consumer.refundReceived"]).count == 1)

        // A purchase with nothing left: nothingToRefund, and nothing changes.
        let (full, _) = try await Self.buy(market, units: 2, delivered: 2)
        let nothing = try await c.call("requestRefund", ["purchaseId": full])
        #expect(nothing["error"]?["code"] == Self.code(.nothingToRefund), "\(nothing)")
        try await market.audit(expectDelivered: true)
        await market.stop()
    }

    @Test func aProducerWithoutRefundsOrWithoutTheRouteIsRefundNotOfferedAndNothingChanges() async throws {
        // A price without refundOnExpiry: the wpwithind producer refuses.
        let market = try await FaultMarket(refundOnExpiry: false)
        let (id, _) = try await Self.buy(market, units: 3, delivered: 1)
        let c = try market.consumerClient()
        let before = try await c.result("listPurchases")
        let refused = try await c.call("requestRefund", ["purchaseId": id])
        #expect(refused["error"]?["code"] == Self.code(.refundNotOffered), "\(refused)")
        #expect(refused["error"]?["data"]?["reason"] == "notAllowed")

        // A producer that lacks the route answers 404 as a Go producer does (`404 page not found`, text/plain).
        try await market.hteProxy.setRules([
            FaultProxy.Rule("POST", "/service/1/refund", .status(404, body: .text("404 page not found\n"), headers: ["Content-Type": "text/plain; charset=utf-8"])),
        ])
        let noRoute = try await c.call("requestRefund", ["purchaseId": id])
        #expect(noRoute["error"]?["code"] == Self.code(.refundNotOffered), "\(noRoute)")
        #expect(noRoute["error"]?["data"]?["reason"] == "noRoute")
        #expect(noRoute["error"]?["message"]?.stringValue?.contains("does not offer refunds") == true)

        // Nothing changed: the same record, no refund at the gateway, the units still deliverable.
        #expect(try await c.result("listPurchases") == before)
        #expect(market.sandbox.audit.refunds.isEmpty)
        try await market.hteProxy.clearRules()
        #expect(try await c.result("beginServiceDelivery", ["purchaseId": id, "units": 2])["unitsToSupply"] == 2)
        #expect(try await c.result("endServiceDelivery", ["purchaseId": id, "unitsReceived": 2])["unitsRemaining"] == 0)
        try await market.audit(expectDelivered: true)
        await market.stop()
    }

    /// A delivery token altered on the consumer's disk (its signature changed: a forged token) is refused by
    /// the wpwithind producer as -32015 `invalidToken` (HTTP 403), which the consumer passes on for a delivery
    /// and for a refund; nothing changes on either side.
    @Test func aTokenAlteredOnTheConsumersDiskIsInvalidTokenAndNothingChanges() async throws {
        let market = try await FaultMarket(refundOnExpiry: true)
        let (id, _) = try await Self.buy(market, units: 3, delivered: 1)
        let purchasesBefore = try await market.consumerClient().result("listPurchases")
        let servicesBefore = try await market.producerClient().result("listServices")
        let purchaseID: Int64 = try #require(id.int64Value)
        try await market.restartConsumer { stateDir in
            let db = try SQLiteConnection(path: stateDir + "/wpwithin.sqlite")
            let token = try #require(try db.text("SELECT token_json FROM purchase WHERE id = ?", [purchaseID]))
            let marker = #""signature":""#
            let at = try #require(token.range(of: marker), "\(token)")
            // The signature's first base64 character changed: one bit pattern of its first byte.
            let first = at.upperBound..<token.index(after: at.upperBound)
            let altered = token.replacingCharacters(in: first, with: token[first] == "A" ? "B" : "A")
            #expect(altered != token)
            try db.run("UPDATE purchase SET token_json = ? WHERE id = ?", [altered, purchaseID])
        }
        let c = try market.consumerClient()
        let begin = try await c.call("beginServiceDelivery", ["purchaseId": id, "units": 1])
        #expect(begin["error"]?["code"] == Self.code(.invalidToken), "\(begin)")
        let refund = try await c.call("requestRefund", ["purchaseId": id])
        #expect(refund["error"]?["code"] == Self.code(.invalidToken), "\(refund)")
        // Nothing changed: the consumer's record, the producer's stock, no refund at the gateway.
        #expect(try await c.result("listPurchases") == purchasesBefore)
        #expect(try await market.producerClient().result("listServices") == servicesBefore)
        #expect(market.sandbox.audit.refunds.isEmpty)
        await market.stop()
    }
}
