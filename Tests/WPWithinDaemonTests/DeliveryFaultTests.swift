#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WPWithinCore
import WPWithinTestSupport

/// Delivery calls whose answer is lost (the producer stopped with SIGSTOP while the call is in its socket, the
/// consumer times out, the producer continues and acts on it): the consumer's record is settled with the
/// producer's ledger, no unit is stranded or delivered twice, across restarts. Real daemons on loopback.
@Suite struct DeliveryFaultTests {
    /// A short peer timeout, so the consumer gives up on a stopped producer soon (the outcome, not the time,
    /// is what the tests check).
    static let consumerConfig: [String: JSONValue] = ["consumer": ["peerTimeoutMs": 1500]]

    struct Setup {
        let market: Market
        let producer: DaemonProcess
        let consumerDir: TempDir
        var consumer: DaemonProcess
        let url: JSONValue
    }

    static func setUp() async throws -> Setup {
        let market = try await Market()
        let htePort = try unusedLoopbackPort()
        let producer = try await market.startProducer(htePort: htePort)
        let consumerDir = try TempDir()
        let consumer = try await market.startConsumer(dir: consumerDir, config: consumerConfig)
        return Setup(market: market, producer: producer, consumerDir: consumerDir, consumer: consumer, url: .string("http://127.0.0.1:\(htePort)"))
    }

    static func buy(_ c: RawClient, _ url: JSONValue, units: Int) async throws -> (reference: JSONValue, id: JSONValue) {
        let quote = try await c.result("selectService", ["url": url, "serviceId": 1, "priceId": 1, "numberOfUnits": .int(Int64(units))])
        let reference = try #require(quote["paymentReferenceId"])
        let id = try await #require(try c.result("makePayment", ["paymentReferenceId": reference])["purchaseId"])
        return (reference, id)
    }

    /// Waits (on the producer's journal, not a clock) until it has `count` events of `type`.
    static func waitForEvents(_ producer: DaemonProcess, _ type: String, count: Int) async throws -> [JSONValue] {
        let events = try RawClient(path: producer.socketPath)
        let subscribed = try await events.result("subscribe", ["types": [.string(type)], "resumeFrom": 0])
        var seen: [JSONValue] = []
        for _ in 0..<Int(subscribed["replayed"]?.int64Value ?? 0) { seen.append(try await events.readJSON()) }
        while seen.count < count { seen.append(try await events.readJSON(timeout: .seconds(60))) }
        return seen.compactMap { $0["params"] }
    }

    /// SIGSTOP, then waits until the kernel shows the process stopped (state `T` in /proc/PID/stat).
    static func stop(_ daemon: DaemonProcess) async throws {
        daemon.signal(SIGSTOP)
        let end = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < end {
            let stat = (try? String(contentsOfFile: "/proc/\(daemon.pid)/stat", encoding: .utf8)) ?? ""
            if let close = stat.lastIndex(of: ")"), stat[stat.index(close, offsetBy: 2)] == "T" { return }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw HarnessError("the producer did not stop")
    }

    static func purchase(_ c: RawClient) async throws -> JSONValue { try await #require(try c.result("listPurchases").arrayValue?.first) }

    @Test func aBeginWhoseAnswerIsLostIsSettledByItsEndAndNoUnitIsStranded() async throws {
        var s = try await Self.setUp()
        var c = try RawClient(path: s.consumer.socketPath)
        let (_, id) = try await Self.buy(c, s.url, units: 5)

        try await Self.stop(s.producer)
        let lost = try await c.call("beginServiceDelivery", ["purchaseId": id, "units": 3])
        s.producer.signal(SIGCONT)
        #expect(lost["error"]?["code"] == .int(Int64(WPWError.Code.peerUnreachable.rawValue)), "\(lost)")
        #expect(lost["error"]?["data"]?["unsettled"] == "begin")
        // The producer acted on the begin once it ran again: 3 units in flight there.
        let begun = try await Self.waitForEvents(s.producer, "producer.deliveryBegun", count: 1)
        #expect(begun.first?["unitsInFlight"] == 3)
        // The consumer kept them in flight, marked unsettled; a new begin is refused until it is ended.
        #expect(try await Self.purchase(c)["unitsInFlight"] == 3)
        #expect(try await Self.purchase(c)["unsettled"] == "begin")
        let refused = try await c.call("beginServiceDelivery", ["purchaseId": id, "units": 1])
        #expect(refused["error"]?["code"] == .int(Int64(WPWError.Code.conflict.rawValue)))
        #expect(refused["error"]?["data"]?["unsettled"] == "begin")

        // Across a restart of the consumer the mark holds.
        #expect(try await s.consumer.stop() == 0)
        s.consumer = try await s.market.startConsumer(dir: s.consumerDir, config: Self.consumerConfig)
        c = try RawClient(path: s.consumer.socketPath)
        #expect(try await Self.purchase(c)["unsettled"] == "begin")

        // Ending it settles it with the producer: the 3 units are delivered, 2 remain, and both agree.
        let ended = try await c.result("endServiceDelivery", ["purchaseId": id, "unitsReceived": 3])
        #expect(ended["unitsDelivered"] == 3 && ended["unitsRemaining"] == 2 && ended["producerUnitsRemaining"] == 2)
        #expect(ended["unsettled"] == .null)
        #expect(try await c.result("beginServiceDelivery", ["purchaseId": id, "units": 5])["unitsToSupply"] == 2)
        #expect(try await c.result("endServiceDelivery", ["purchaseId": id, "unitsReceived": 2])["unitsRemaining"] == 0)
        let committed = try await Self.waitForEvents(s.producer, "producer.deliveryEnded", count: 2).compactMap { $0["unitsCommitted"]?.int64Value }
        #expect(committed.reduce(0, +) == 5)
        #expect(try await s.consumer.stop() == 0)
        #expect(try await s.producer.stop() == 0)
        await s.market.stop()
    }

    @Test func aBeginThatNeverReachedTheProducerIsReturnedWhenEnded() async throws {
        let s = try await Self.setUp()
        let c = try RawClient(path: s.consumer.socketPath)
        let (_, id) = try await Self.buy(c, s.url, units: 4)
        // The producer is gone (killed) while the begin is on its way: nothing reached it.
        try await Self.stop(s.producer)
        let lost = try await c.call("beginServiceDelivery", ["purchaseId": id, "units": 4])
        #expect(lost["error"]?["data"]?["unsettled"] == "begin", "\(lost)")
        s.producer.signal(SIGKILL)
        _ = try await s.producer.waitForExit()
        // The producer, restarted on its state, has no delivery in progress (the begin died with it).
        let restarted = try await s.market.startProducer(dir: s.producer.dir, htePort: Int(s.url.stringValue!.split(separator: ":").last!)!)
        let ended = try await c.call("endServiceDelivery", ["purchaseId": id, "unitsReceived": 4])
        // The consumer says what is true: nothing was delivered, the 4 units remain, and its record agrees.
        #expect(ended["error"]?["code"] == .int(Int64(WPWError.Code.conflict.rawValue)), "\(ended)")
        #expect(ended["error"]?["data"]?["unitsDelivered"] == 0)
        #expect(ended["error"]?["data"]?["unitsRemaining"] == 4)
        let after = try await Self.purchase(c)
        #expect(after["unitsDelivered"] == 0 && after["unitsInFlight"] == 0 && after["unitsRemaining"] == 4 && after["unsettled"] == .null)
        #expect(try await c.result("beginServiceDelivery", ["purchaseId": id, "units": 4])["unitsToSupply"] == 4)
        #expect(try await c.result("endServiceDelivery", ["purchaseId": id, "unitsReceived": 4])["unitsRemaining"] == 0)
        #expect(try await s.consumer.stop() == 0)
        #expect(try await restarted.stop() == 0)
        await s.market.stop()
    }

    @Test func anEndWhoseAnswerIsLostIsCaughtUpOnTheNextCall() async throws {
        let s = try await Self.setUp()
        let c = try RawClient(path: s.consumer.socketPath)

        // Case 1: the app sends the end again.
        let (_, first) = try await Self.buy(c, s.url, units: 5)
        #expect(try await c.result("beginServiceDelivery", ["purchaseId": first, "units": 3])["unitsToSupply"] == 3)
        try await Self.stop(s.producer)
        let lost = try await c.call("endServiceDelivery", ["purchaseId": first, "unitsReceived": 3])
        s.producer.signal(SIGCONT)
        #expect(lost["error"]?["data"]?["unsettled"] == "end", "\(lost)")
        _ = try await Self.waitForEvents(s.producer, "producer.deliveryEnded", count: 1)
        let again = try await c.result("endServiceDelivery", ["purchaseId": first, "unitsReceived": 3])
        #expect(again["unitsDelivered"] == 3 && again["unitsInFlight"] == 0 && again["unitsRemaining"] == 2)
        #expect(again["settledFromProducer"] == true)

        // Case 2: the app begins the next delivery instead; the pending end is settled first.
        let (_, second) = try await Self.buy(c, s.url, units: 5)
        #expect(try await c.result("beginServiceDelivery", ["purchaseId": second, "units": 2])["unitsToSupply"] == 2)
        try await Self.stop(s.producer)
        let lost2 = try await c.call("endServiceDelivery", ["purchaseId": second, "unitsReceived": 2])
        s.producer.signal(SIGCONT)
        #expect(lost2["error"]?["data"]?["unsettled"] == "end")
        _ = try await Self.waitForEvents(s.producer, "producer.deliveryEnded", count: 2)
        let next = try await c.result("beginServiceDelivery", ["purchaseId": second, "units": 10])
        #expect(next["unitsToSupply"] == 3)  // 5 bought, 2 delivered
        #expect(next["unitsDelivered"] == 2 && next["unitsInFlight"] == 3)
        let done = try await c.result("endServiceDelivery", ["purchaseId": second, "unitsReceived": 3])
        #expect(done["unitsRemaining"] == 0 && done["unitsDelivered"] == 5)

        // No message claims a release that did not happen: a repeated end says what the producer's ledger says.
        let repeated = try await c.call("endServiceDelivery", ["purchaseId": second, "unitsReceived": 3])
        #expect(repeated["error"]?["code"] == .int(Int64(WPWError.Code.conflict.rawValue)))
        let message = repeated["error"]?["message"]?.stringValue ?? ""
        #expect(message.contains("5 of 5") && !message.contains("released"), "\(message)")
        #expect(try await s.consumer.stop() == 0)
        #expect(try await s.producer.stop() == 0)
        await s.market.stop()
    }
}
