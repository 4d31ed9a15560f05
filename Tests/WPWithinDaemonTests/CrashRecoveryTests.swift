#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WPWithinClient
import WPWithinCore
import WPWithinTestSupport

/// `kill -9` at the worst moments, and many consumers at once: nothing paid for is lost, nothing is charged
/// twice, no unit comes back, no stock is oversold. Real daemons and the sandbox gateway on loopback.
@Suite struct CrashRecoveryTests {
    /// Calls until the answer is not one of `retryOn` (the codes a careful app retries on).
    static func callRetrying(_ client: RawClient, _ method: String, _ params: JSONValue, retryOn: Set<Int64>, attempts: Int = 50) async throws -> JSONValue {
        var last: JSONValue = .null
        for _ in 0..<attempts {
            last = try await client.call(method, params)
            guard let code = last["error"]?["code"]?.int64Value, retryOn.contains(code) else { return last }
            try await Task.sleep(for: .milliseconds(200))
        }
        return last
    }

    @Test func aProducerKilledBetweenTheGatewaysSuccessAndItsCommitChargesOnceAndLosesNothing() async throws {
        // A fault proxy holds the gateway's answer to the order (the card is charged): the producer is killed
        // exactly then, not at a guessed moment.
        let market = try await FaultMarket()
        try await market.gatewayProxy.setRules([PaymentFaultTests.orders])
        let reference = try await market.select(units: 3)
        let payment = OnThread { [market] in
            try await market.consumerClient().call("makePayment", ["paymentReferenceId": .string(reference)], timeout: .seconds(60))
        }
        let held = try await market.gatewayProxy.waitForHeld(rule: "charge", stage: .response)
        let killed: DaemonProcess = market.producer
        killed.signal(SIGKILL)
        #expect(try await killed.waitForExit() == 128 + SIGKILL)
        try await market.gatewayProxy.release(held, .cut)
        let interrupted = try await payment.value
        #expect(interrupted["error"]?["code"] != nil)  // the consumer was not told it paid…
        #expect(try await market.consumerClient().result("listPurchases").arrayValue?.isEmpty == true)  // …and has no purchase yet

        // Restarted on the same state and URL: reconciliation asks the gateway and finds the charge.
        try await market.restartProducer()
        try await market.gatewayProxy.clearRules()
        // The app retries (makePayment is idempotent per reference): the producer returns the same token.
        let paid = try await market.payRetrying(reference)
        let purchase = try #require(paid["result"], "makePayment after the restart: \(paid)")
        #expect(purchase["unitsBought"] == 3)
        #expect(purchase["totalPaid"] == 1500)
        #expect(market.sandbox.audit.charges(reference: reference).count == 1)  // charged once

        // Every unit is there to use.
        let c = try market.consumerClient()
        let id = try #require(purchase["purchaseId"])
        #expect(try await c.result("beginServiceDelivery", ["purchaseId": id, "units": 3])["unitsToSupply"] == 3)
        #expect(try await c.result("endServiceDelivery", ["purchaseId": id, "unitsReceived": 3])["unitsRemaining"] == 0)

        // The producer's journal tells the story, across the crash.
        let events = try market.producerClient()
        let subscribed = try await events.result("subscribe", ["types": ["producer.paymentStarted", "producer.paymentOutcomeUnknown", "producer.paymentSucceeded"], "resumeFrom": 0])
        var types: [String] = []
        for _ in 0..<Int(subscribed["replayed"]?.int64Value ?? 0) { types.append(try await events.readJSON()["params"]?["type"]?.stringValue ?? "?") }
        #expect(types == ["producer.paymentStarted", "producer.paymentOutcomeUnknown", "producer.paymentSucceeded"])
        try await market.audit()
        for log in [killed.log, market.producer.log, market.consumer.log] { #expect(!log.contains(Market.testPAN)) }
        await market.stop()
    }

    @Test func aConsumerKilledMidDeliveryFinishesItAfterARestartWithNoUnitLostOrRestored() async throws {
        let market = try await Market()
        let htePort = try unusedLoopbackPort()
        let producer = try await market.startProducer(htePort: htePort)
        let consumerDir = try TempDir()
        let consumer = try await market.startConsumer(dir: consumerDir)
        let url = JSONValue.string("http://127.0.0.1:\(htePort)")
        var c = try RawClient(path: consumer.socketPath)
        let quote = try await c.result("selectService", ["url": url, "serviceId": 1, "priceId": 1, "numberOfUnits": 3])
        let reference = try #require(quote["paymentReferenceId"])
        let id = try await #require(try c.result("makePayment", ["paymentReferenceId": reference])["purchaseId"])
        #expect(try await c.result("beginServiceDelivery", ["purchaseId": id, "units": 2])["unitsToSupply"] == 2)

        consumer.signal(SIGKILL)
        #expect(try await consumer.waitForExit() == 128 + SIGKILL)
        let restarted = try await market.startConsumer(dir: consumerDir)
        c = try RawClient(path: restarted.socketPath)
        let before = try await #require(try c.result("listPurchases").arrayValue?.first)
        #expect(before["unitsInFlight"] == 2)
        #expect(before["unitsDelivered"] == 0)
        // Replaying makePayment after the crash is the same purchase, not a second charge.
        #expect(try await c.result("makePayment", ["paymentReferenceId": reference])["purchaseId"] == id)

        let ended = try await c.result("endServiceDelivery", ["purchaseId": id, "unitsReceived": 2])
        #expect(ended["unitsRemaining"] == 1)
        #expect(ended["producerUnitsRemaining"] == 1)
        // A replayed end restores nothing.
        #expect(try await c.call("endServiceDelivery", ["purchaseId": id, "unitsReceived": 2])["error"]?["code"] == .int(Int64(WPWError.Code.conflict.rawValue)))
        #expect(try await c.result("beginServiceDelivery", ["purchaseId": id, "units": 5])["unitsToSupply"] == 1)
        #expect(try await c.result("endServiceDelivery", ["purchaseId": id, "unitsReceived": 1])["unitsRemaining"] == 0)
        #expect(try await c.call("beginServiceDelivery", ["purchaseId": id, "units": 1])["error"]?["code"] == .int(Int64(WPWError.Code.insufficientUnits.rawValue)))
        #expect(market.ordersPlaced(customerOrderCode: reference) == 1)

        // The producer delivered exactly 3 units, in two sessions.
        let events = try RawClient(path: producer.socketPath)
        let subscribed = try await events.result("subscribe", ["types": ["producer.deliveryEnded"], "resumeFrom": 0])
        var units: [Int64] = []
        for _ in 0..<Int(subscribed["replayed"]?.int64Value ?? 0) {
            units.append(try await events.readJSON()["params"]?["unitsCommitted"]?.int64Value ?? -1)
        }
        #expect(units.reduce(0, +) == 3, "producer.deliveryEnded units: \(units)")
        #expect(try await restarted.stop() == 0)
        #expect(try await producer.stop() == 0)
        await market.stop()
    }

    @Test func sixteenConsumersAtOnceNeverOversellAProducersStock() async throws {
        let stock = 20
        let market = try await Market(stock: stock)
        let htePort = try unusedLoopbackPort()
        let producer = try await market.startProducer(htePort: htePort)
        let url = "http://127.0.0.1:\(htePort)"
        let consumers = try await withThrowingTaskGroup(of: DaemonProcess.self) { group in
            for _ in 0..<16 { group.addTask { try await market.startConsumer() } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        // Each wants 2 units: 16 × 2 = 32 > 20, so exactly 10 can pay.
        let outcomes = try await withThrowingTaskGroup(of: (String, JSONValue).self) { group in
            for consumer in consumers {
                let socket = consumer.socketPath
                group.addTask {
                    let client = try await WPWithinClient.connected(socketPath: socket)
                    defer { Task { await client.close() } }
                    // A consumer that selects after the stock is sold out is refused at select (nothing was quoted,
                    // nothing can be charged); one that selects before is refused at pay, or pays.
                    // The typed methods (Quote, Purchase, DeliveryEnded), decoded from real daemons' answers.
                    let quote: WPWithinClient.Quote
                    do {
                        quote = try await client.selectService(.url(url), serviceId: 1, priceId: 1, numberOfUnits: 2)
                    } catch let error as WPWError {
                        return (socket, ["refused": .int(Int64(error.code.rawValue)), "reference": .null])
                    }
                    let reference = JSONValue.string(quote.paymentReferenceId)
                    do {
                        let purchase = try await client.makePayment(paymentReferenceId: quote.paymentReferenceId)
                        _ = try await client.beginServiceDelivery(purchaseId: purchase.purchaseId, units: 2)
                        let end = try await client.endServiceDelivery(purchaseId: purchase.purchaseId, unitsReceived: 2)
                        return (socket, ["paid": reference, "remaining": .int(Int64(end.unitsRemaining))])
                    } catch let error as WPWError {
                        return (socket, ["refused": .int(Int64(error.code.rawValue)), "reference": reference])
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let paid = outcomes.filter { $0.1["paid"] != nil }
        let refused = outcomes.filter { $0.1["refused"] != nil }
        #expect(paid.count == stock / 2)
        #expect(refused.count == 16 - stock / 2)
        #expect(refused.allSatisfy { $0.1["refused"] == .int(Int64(WPWError.Code.outOfStock.rawValue)) }, "\(refused)")
        #expect(paid.allSatisfy { $0.1["remaining"] == 0 })
        // One order per paid reference; none for the refused (stock is reserved before the charge).
        for outcome in paid { #expect(market.ordersPlaced(customerOrderCode: outcome.1["paid"]!) == 1) }
        for outcome in refused where outcome.1["reference"] != .null {
            #expect(market.ordersPlaced(customerOrderCode: outcome.1["reference"]!) == 0)
        }
        #expect(market.audit("order.placed").count == stock / 2)
        // Sold out: the next quote is refused.
        let late = try RawClient(path: consumers[0].socketPath)
        #expect(try await late.call("selectService", ["url": .string(url), "serviceId": 1, "priceId": 1, "numberOfUnits": 1])["error"]?["code"] == .int(Int64(WPWError.Code.outOfStock.rawValue)))

        for consumer in consumers { #expect(try await consumer.stop() == 0) }
        #expect(try await producer.stop() == 0)
        await market.stop()
    }
}

/// Starts a body at once (a call that waits on a daemon) and hands back its result later: the test goes on
/// meanwhile (to kill a process, restart the gateway) and then awaits `value`.
final class OnThread<T: Sendable>: Sendable {
    private let task: Task<T, any Error>

    init(_ body: @escaping @Sendable () async throws -> T) {
        task = Task { try await body() }
    }

    var value: T {
        get async throws { try await task.value }
    }
}
