#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WPWithinCore
@testable import WPWithinDaemon
import WPWithinTestSupport

private func code(_ value: WPWError.Code) -> JSONValue { .int(Int64(value.rawValue)) }

/// A producer (prices of 500, 501 and 1001 GBP per unit, service type `wash`), the sandbox gateway, and a
/// consumer whose configuration file the test rewrites and reloads with SIGHUP.
final class SpendingMarket: @unchecked Sendable {
    let market: Market
    let producer: DaemonProcess
    let consumerDir: TempDir
    let configPath: String
    private(set) var consumer: DaemonProcess!
    let url: JSONValue

    init(policy: JSONValue) async throws {
        market = try await Market()
        let htePort = try unusedLoopbackPort()
        let prices: [JSONValue] = [(1, 500), (2, 501), (3, 1001)].map { id, amount in
            ["id": .int(Int64(id)), "description": "Wash", "amount": .int(Int64(amount)), "currencyCode": "GBP", "unitId": 1,
             "unitDescription": "Single wash", "stock": .null]
        }
        producer = try await market.startProducer(htePort: htePort, config: [
            "producer": ["services": [["id": 1, "name": "RoboWash", "description": "Car washed by robot", "serviceType": "wash",
                                       "prices": .array(prices)]]],
        ])
        url = .string("http://127.0.0.1:\(htePort)")
        consumerDir = try TempDir()
        configPath = market.dir.file("consumer-spending.json")
        try write(policy)
        consumer = try await market.startConsumer(dir: consumerDir, configPath: configPath)
    }

    func write(_ policy: JSONValue) throws {
        try Data(JSONValue.object(["consumer": ["spending": policy]]).jsonString.utf8).write(to: URL(fileURLWithPath: configPath))
    }

    func client() throws -> RawClient { try RawClient(path: consumer.socketPath) }

    var producerServerID: String {
        get async throws { try #require(try await RawClient(path: producer.socketPath).result("getDevice")["serverId"]?.stringValue) }
    }

    /// Rewrites the policy and reloads it with SIGHUP; returns once `daemon.reloaded` is published.
    func reload(_ policy: JSONValue) async throws {
        try write(policy)
        let events = try client()
        _ = try await events.result("subscribe", ["types": ["daemon.reloaded", "daemon.error"]])
        consumer.signal(SIGHUP)
        let event = try await events.readJSON(timeout: .seconds(60))
        #expect(event["params"]?["type"] == "daemon.reloaded", "\(event)")
    }

    func restartConsumer(kill9: Bool = false) async throws {
        if kill9 {
            consumer.signal(SIGKILL)
            _ = try await consumer.waitForExit()
        } else {
            #expect(try await consumer.stop() == 0)
        }
        consumer = try await market.startConsumer(dir: consumerDir, configPath: configPath)
    }

    func select(priceId: Int = 1, units: Int = 1) async throws -> JSONValue {
        let quote = try await client().result(
            "selectService", ["url": url, "serviceId": 1, "priceId": .int(Int64(priceId)), "numberOfUnits": .int(Int64(units))])
        return try #require(quote["paymentReferenceId"])
    }

    func pay(_ reference: JSONValue) async throws -> JSONValue {
        try await client().call("makePayment", ["paymentReferenceId": reference], timeout: .seconds(60))
    }

    /// The consumer's budgets as `getStatus` shows them, keyed by window.
    func statusBudgets() async throws -> [String: JSONValue] {
        let budgets = try await client().result("getStatus")["consumer"]?["budgets"]?.arrayValue ?? []
        return Dictionary(budgets.map { ($0["window"]?.stringValue ?? "?", $0) }) { first, _ in first }
    }

    var tokensCreated: Int { market.audit("token.created").count }

    func stop() async {
        _ = try? await consumer.stop()
        _ = try? await producer.stop()
        await market.stop()
    }
}

/// The consumer's spending policy against a real producer and the sandbox gateway: each limit at its edge,
/// refusals that change nothing, budgets across a restart, lists, concurrent payments, a crash after the card
/// was used.
@Suite(.serialized) struct SpendingPolicyTests {
    /// Refused: the typed error with `data.limit`, no token asked of the gateway.
    func expectRefused(
        _ reply: JSONValue, _ expected: WPWError.Code, limit: String? = nil, exceededBy: Int64? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(reply["error"]?["code"] == code(expected), "\(reply)", sourceLocation: sourceLocation)
        if let limit { #expect(reply["error"]?["data"]?["limit"] == .string(limit), "\(reply)", sourceLocation: sourceLocation) }
        if let exceededBy { #expect(reply["error"]?["data"]?["exceededBy"] == .int(exceededBy), "\(reply)", sourceLocation: sourceLocation) }
    }

    @Test func eachPurchaseLimitAllowsItsEdgeAndARefusalChangesNothing() async throws {
        let m = try await SpendingMarket(policy: ["maxUnits": 2, "maxTotal": ["GBP": 1000], "maxUnitPrice": ["GBP": 500]])
        let events = try m.client()
        _ = try await events.result("subscribe", ["types": ["consumer.spendingRefused", "consumer.error"]])

        // At each edge: allowed.
        #expect(try await m.pay(try await m.select(units: 2))["result"]?["totalPaid"] == 1000)
        #expect(m.tokensCreated == 1)

        // maxUnits: 3 units of 500 (within maxUnitPrice; the total is over too, units come first).
        let threeUnits = try await m.select(units: 3)
        expectRefused(try await m.pay(threeUnits), .spendingLimitExceeded, limit: "maxUnits", exceededBy: 1)
        // maxUnitPrice: one unit at 501.
        let dearUnit = try await m.select(priceId: 2)
        let refusedUnit = try await m.pay(dearUnit)
        expectRefused(refusedUnit, .spendingLimitExceeded, limit: "maxUnitPrice", exceededBy: 1)
        #expect(refusedUnit["error"]?["data"]?["limitAmount"] == 500 && refusedUnit["error"]?["data"]?["requested"] == 501)
        #expect(refusedUnit["error"]?["data"]?["currencyCode"] == "GBP" && refusedUnit["error"]?["data"]?["paymentReferenceId"] == dearUnit)
        // No card was used for any refusal.
        #expect(m.tokensCreated == 1)

        // The refusal is an event (and not a consumer.error).
        let event = try await events.readJSON(timeout: .seconds(30))["params"]
        #expect(event?["type"] == "consumer.spendingRefused", "\(String(describing: event))")
        #expect(event?["rule"] == "maxUnits" && event?["paymentReferenceId"] == threeUnits && event?["units"] == 3)
        #expect(event?["code"] == code(.spendingLimitExceeded) && event?["limitAmount"] == 2 && event?["requested"] == 3)
        #expect(event?["totalAmount"] == 1500 && event?["currencyCode"] == "GBP" && event?["serviceType"] == .null)
        let second = try await events.readJSON(timeout: .seconds(30))["params"]
        #expect(second?["type"] == "consumer.spendingRefused" && second?["rule"] == "maxUnitPrice")

        // maxTotal: 1001 in one unit, with maxUnitPrice raised by a reload.
        try await m.reload(["maxUnits": 2, "maxTotal": ["GBP": 1000], "maxUnitPrice": ["GBP": 1001]])
        expectRefused(try await m.pay(try await m.select(priceId: 3)), .spendingLimitExceeded, limit: "maxTotal", exceededBy: 1)
        #expect(m.tokensCreated == 1)

        // The refused quotes are still payable once the policy allows them.
        try await m.reload(["maxUnits": 3, "maxTotal": ["GBP": 1500], "maxUnitPrice": ["GBP": 501]])
        #expect(try await m.pay(threeUnits)["result"]?["unitsBought"] == 3)
        #expect(try await m.pay(dearUnit)["result"]?["totalPaid"] == 501)
        #expect(m.tokensCreated == 3)
        #expect(m.market.audit("order.placed").count == 3)
        let policy = try await m.client().result("getSpendingPolicy")
        #expect(policy["policy"]?["maxUnits"] == 3 && policy["policy"]?["maxTotal"] == [["currencyCode": "GBP", "amount": 1500]])
        #expect(policy["policy"]?["allowProducers"] == .null && policy["budgets"] == [])

        // A quote selected while no rule needed the service's type: makePayment asks the producer for it.
        let untyped = try await m.select()
        try await m.reload(["denyServiceTypes": ["wash"]])
        let deniedType = try await m.pay(untyped)
        #expect(deniedType["error"]?["code"] == code(.serviceTypeNotAllowed) && deniedType["error"]?["data"]?["serviceType"] == "wash")
        #expect(m.tokensCreated == 3)
        await m.stop()
    }

    @Test func budgetsAllowTheirEdgeAndARestartDoesNotResetThem() async throws {
        let m = try await SpendingMarket(policy: ["dailyBudget": ["GBP": 1500]])
        #expect(try await m.pay(try await m.select(units: 2))["result"] != nil)
        // 1000 spent: 501 is one over the day's budget.
        let over = try await m.pay(try await m.select(priceId: 2))
        expectRefused(over, .spendingLimitExceeded, limit: "dailyBudget", exceededBy: 1)
        #expect(over["error"]?["data"]?["spent"] == 1000 && over["error"]?["data"]?["remaining"] == 500)
        #expect(over["error"]?["data"]?["windowSeconds"] == 86_400)
        // 500 is the edge.
        #expect(try await m.pay(try await m.select())["result"] != nil)
        var day = try #require(try await m.statusBudgets()["day"])
        #expect(day["spent"] == 1500 && day["remaining"] == 0 && day["limit"] == 1500 && day["currencyCode"] == "GBP")

        // A restart: the same budget left, and a payment over it refused.
        try await m.restartConsumer()
        day = try #require(try await m.statusBudgets()["day"])
        #expect(day["spent"] == 1500 && day["purchased"] == 1500 && day["pending"] == 0 && day["remaining"] == 0)
        let tokens = m.tokensCreated
        expectRefused(try await m.pay(try await m.select()), .spendingLimitExceeded, limit: "dailyBudget", exceededBy: 500)
        #expect(m.tokensCreated == tokens)

        // The month (30 days) counts the same purchases.
        try await m.reload(["dailyBudget": ["GBP": 100_000], "monthlyBudget": ["GBP": 2000]])
        let monthOver = try await m.pay(try await m.select(priceId: 2))
        expectRefused(monthOver, .spendingLimitExceeded, limit: "monthlyBudget", exceededBy: 1)
        #expect(monthOver["error"]?["data"]?["windowSeconds"] == 2_592_000)
        #expect(try await m.pay(try await m.select())["result"] != nil)
        let policy = try await m.client().result("getSpendingPolicy")
        let month = try #require(policy["budgets"]?.arrayValue?.first { $0["window"] == "month" })
        #expect(month["spent"] == 2000 && month["remaining"] == 0 && month["windowSeconds"] == 2_592_000)
        #expect(try await m.client().result("listPurchases").arrayValue?.count == 3)
        #expect(m.market.audit("order.placed").count == 3)
        await m.stop()
    }

    @Test func allowAndDenyListsOfProducersServiceTypesAndCurrencies() async throws {
        let m = try await SpendingMarket(policy: ["allowServiceTypes": ["wash"]])
        let serverID = try await m.producerServerID
        // The service's type (`wash`) is allowed.
        #expect(try await m.pay(try await m.select())["result"] != nil)

        let reference = try await m.select()
        try await m.reload(["denyServiceTypes": ["wash"]])
        let deniedType = try await m.pay(reference)
        #expect(deniedType["error"]?["code"] == code(.serviceTypeNotAllowed), "\(deniedType)")
        #expect(deniedType["error"]?["data"]?["rule"] == "denyServiceTypes" && deniedType["error"]?["data"]?["serviceType"] == "wash")
        try await m.reload(["allowServiceTypes": ["charge"]])
        #expect(try await m.pay(reference)["error"]?["data"]?["rule"] == "allowServiceTypes")

        try await m.reload(["denyProducers": [.string(serverID.uppercased())]])
        let denied = try await m.pay(reference)
        #expect(denied["error"]?["code"] == code(.producerNotAllowed), "\(denied)")
        #expect(denied["error"]?["data"]?["rule"] == "denyProducers" && denied["error"]?["data"]?["serverId"] == .string(serverID))
        try await m.reload(["allowProducers": ["00000000-0000-4000-8000-000000000000"]])
        #expect(try await m.pay(reference)["error"]?["data"]?["rule"] == "allowProducers")

        try await m.reload(["allowCurrencies": ["EUR"]])
        let currency = try await m.pay(reference)
        #expect(currency["error"]?["code"] == code(.currencyNotAllowed) && currency["error"]?["data"]?["currencyCode"] == "GBP")

        #expect(m.tokensCreated == 1)
        try await m.reload(["allowProducers": [.string(serverID)], "allowServiceTypes": ["wash"], "allowCurrencies": ["GBP"]])
        #expect(try await m.pay(reference)["result"] != nil)
        #expect(m.tokensCreated == 2)
        await m.stop()
    }

    @Test func sixteenConcurrentPaymentsAgainstABudgetForThreePayExactlyThree() async throws {
        let m = try await SpendingMarket(policy: ["dailyBudget": ["GBP": 1500]])
        var references: [JSONValue] = []
        for _ in 0..<16 { references.append(try await m.select()) }
        let replies = try await withThrowingTaskGroup(of: JSONValue.self) { group in
            for reference in references {
                let client = try m.client()
                group.addTask { try await client.call("makePayment", ["paymentReferenceId": reference], timeout: .seconds(120)) }
            }
            var replies: [JSONValue] = []
            for try await reply in group { replies.append(reply) }
            return replies
        }
        let paid = replies.filter { $0["result"] != nil }
        let refused = replies.filter { $0["error"]?["code"] == code(.spendingLimitExceeded) && $0["error"]?["data"]?["limit"] == "dailyBudget" }
        #expect(paid.count == 3, "\(replies)")
        #expect(refused.count == 13, "\(replies)")
        // Checked against the gateway's own log and the consumer's records.
        let audit = try GatewayAudit(path: m.market.auditPath)
        #expect(audit.charges.count == 3)
        #expect(audit.charges.reduce(0) { $0 + $1.amount } == 1500)
        #expect(m.tokensCreated == 3)
        #expect(try await m.client().result("listPurchases").arrayValue?.count == 3)
        let day = try #require(try await m.statusBudgets()["day"])
        #expect(day["spent"] == 1500 && day["remaining"] == 0 && day["pending"] == 0)
        await m.stop()
    }

    /// The consumer dies after the card was used (its payment held on its way to the producer): after the
    /// restart the started payment still counts against the budget, and once its outcome is learnt it counts
    /// once, as a purchase.
    @Test func aPaymentStartedBeforeACrashCountsAgainstTheBudgetAfterTheRestart() async throws {
        let market = try await FaultMarket()
        try Data(#"{"consumer":{"peerTimeoutMs":6000,"spending":{"dailyBudget":{"GBP":1000}}}}"#.utf8)
            .write(to: URL(fileURLWithPath: market.consumerConfigPath))
        try await market.restartConsumer()
        let reference = try await market.select(units: 2)
        try await market.hteProxy.setRules([FaultProxy.Rule("POST", "/payment", name: "pay", .hold)])
        let payment = OnThread { [market] in
            try await market.consumerClient().call("makePayment", ["paymentReferenceId": .string(reference)], timeout: .seconds(60))
        }
        let held = try await market.hteProxy.waitForHeld(rule: "pay")
        #expect(market.sandbox.audit.events("token.created").count == 1)
        market.consumer.signal(SIGKILL)
        _ = try? await payment.value
        try await market.restartConsumer(kill9: true)

        let budgets = try await market.consumerClient().result("getSpendingPolicy")["budgets"]?.arrayValue ?? []
        let day = try #require(budgets.first { $0["window"] == "day" })
        #expect(day["spent"] == 1000 && day["pending"] == 1000 && day["purchased"] == 0 && day["remaining"] == 0, "\(budgets)")
        let second = try await market.select(units: 1)
        let refused = try await market.consumerClient().call("makePayment", ["paymentReferenceId": .string(second)])
        #expect(refused["error"]?["code"] == code(.spendingLimitExceeded) && refused["error"]?["data"]?["pending"] == 1000, "\(refused)")

        // A retry whose tokens call fails charges nothing itself, but the first attempt may have: still reserved.
        await market.sandbox.kill9()
        let noToken = try await market.consumerClient().call("makePayment", ["paymentReferenceId": .string(reference)])
        #expect(noToken["error"]?["code"] == code(.gatewayUnavailable), "\(noToken)")
        let stillReserved = try await market.consumerClient().result("getSpendingPolicy")["budgets"]?.arrayValue?.first
        #expect(stillReserved?["pending"] == 1000, "\(String(describing: stillReserved))")
        try await market.sandbox.start()

        // The held payment reaches the producer now (charged, nobody waiting); a retry learns the outcome.
        try await market.hteProxy.clearRules()
        try await market.hteProxy.release(held)
        let purchase = try await market.payRetrying(reference)
        #expect(purchase["result"]?["unitsBought"] == 2, "\(purchase)")
        let after = try await market.consumerClient().result("getStatus")["consumer"]?["budgets"]?.arrayValue?.first
        #expect(after?["spent"] == 1000 && after?["purchased"] == 1000 && after?["pending"] == 0, "\(String(describing: after))")
        #expect(market.sandbox.audit.charges(reference: reference).count == 1)
        try await market.deliverEverything()
        try await market.audit()
        await market.stop()
    }

    /// A payment refused before any charge (the gateway declines) releases its reservation.
    @Test func aDeclinedPaymentReleasesItsReservation() async throws {
        let m = try await SpendingMarket(policy: ["dailyBudget": ["GBP": 1000]])
        try await m.restartConsumerWithCard("FAILED")
        let declined = try await m.pay(try await m.select(units: 2))
        #expect(declined["error"]?["code"] == code(.paymentDeclined), "\(declined)")
        let day = try #require(try await m.statusBudgets()["day"])
        #expect(day["spent"] == 0 && day["pending"] == 0 && day["remaining"] == 1000, "\(day)")
        await m.stop()
    }
}

extension SpendingMarket {
    /// Restarts the consumer with a card whose cardholder name is one of the sandbox's magic names.
    func restartConsumerWithCard(_ name: String) async throws {
        #expect(try await consumer.stop() == 0)
        consumer = try await market.startConsumer(dir: consumerDir, cardName: name, configPath: configPath)
    }
}

/// Which failures of the producer's payment call release a reservation (`ConsumerEngine.releasesReservation`).
@Suite struct SpendingReservationTests {
    static func error(_ code: WPWError.Code, reached: Bool? = nil) -> WPWError {
        WPWError(code, "x", data: reached.map { ["requestMayHaveReachedPeer": .bool($0)] })
    }

    @Test func refusalsThatLeaveNothingChargedRelease() {
        for code in [WPWError.Code.paymentDeclined, .invalidCard, .outOfStock, .notFound, .expired, .gatewayUnavailable, .gatewayRejected] {
            #expect(ConsumerEngine.releasesReservation(Self.error(code), reservedNow: false), "\(code)")
        }
    }

    @Test func whatMayFollowAChargeKeepsTheReservation() {
        for code in [WPWError.Code.paymentOutcomeUnknown, .gatewayTimeout, .peerRejected, .peerProtocol, .conflict, .internalError] {
            #expect(!ConsumerEngine.releasesReservation(Self.error(code), reservedNow: true), "\(code)")
        }
        #expect(!ConsumerEngine.releasesReservation(Self.error(.peerUnreachable, reached: true), reservedNow: true))
        #expect(!ConsumerEngine.releasesReservation(Self.error(.peerUnreachable), reservedNow: true))
        // Never reached: released for a payment this call started, not for a retry of an earlier one.
        #expect(ConsumerEngine.releasesReservation(Self.error(.peerUnreachable, reached: false), reservedNow: true))
        #expect(!ConsumerEngine.releasesReservation(Self.error(.peerUnreachable, reached: false), reservedNow: false))
    }
}

/// `consumer.spending` in the configuration file: parsed, checked, reloadable.
@Suite struct SpendingConfigurationTests {
    func load(_ json: String) throws -> DaemonConfiguration {
        let dir = try TempDir()
        try Data(json.utf8).write(to: URL(fileURLWithPath: dir.file("c.json")))
        return try DaemonConfiguration.load(path: dir.file("c.json"), environment: [:])
    }

    func refusal(_ json: String) -> String? {
        do {
            _ = try load(json)
            return nil
        } catch let error as ConfigurationError {
            return error.key
        } catch {
            return "\(error)"
        }
    }

    @Test func aPolicyIsReadWithEveryKey() throws {
        let configuration = try load(#"""
            {"consumer":{"spending":{"maxTotal":{"GBP":2000},"maxUnitPrice":{"EUR":100},"maxUnits":10,
             "dailyBudget":{"GBP":5000},"monthlyBudget":{"GBP":50000,"JPY":0},"allowProducers":["ABC"],"denyProducers":["def"],
             "allowServiceTypes":["wash"],"denyServiceTypes":["parking"],"allowCurrencies":["GBP","EUR"]}}}
            """#)
        let policy = configuration.spending
        #expect(policy.maxTotal == ["GBP": 2000] && policy.maxUnitPrice == ["EUR": 100] && policy.maxUnits == 10)
        #expect(policy.dailyBudget == ["GBP": 5000] && policy.monthlyBudget == ["GBP": 50000, "JPY": 0])
        #expect(policy.allowProducers == ["abc"] && policy.denyProducers == ["def"])
        #expect(policy.allowServiceTypes == ["wash"] && policy.denyServiceTypes == ["parking"])
        #expect(policy.allowCurrencies == ["GBP", "EUR"])
        #expect(try DaemonConfiguration.load(path: nil, environment: [:]).spending.isEmpty)
        #expect(try load(#"{"consumer":{"spending":null}}"#).spending.isEmpty)
    }

    @Test func badValuesAreRefusedNamingTheKey() {
        #expect(refusal(#"{"consumer":{"spending":{"maxTotal":{"XXX":1}}}}"#) == "consumer.spending.maxTotal.XXX")
        #expect(refusal(#"{"consumer":{"spending":{"dailyBudget":{"GBP":-1}}}}"#) == "consumer.spending.dailyBudget.GBP")
        #expect(refusal(#"{"consumer":{"spending":{"dailyBudget":{"GBP":"5"}}}}"#) == "consumer.spending.dailyBudget.GBP")
        #expect(refusal(#"{"consumer":{"spending":{"maxUnits":0}}}"#) == "consumer.spending.maxUnits")
        #expect(refusal(#"{"consumer":{"spending":{"denyProducers":"abc"}}}"#) == "consumer.spending.denyProducers")
        #expect(refusal(#"{"consumer":{"spending":{"allowCurrencies":["pounds"]}}}"#) == "consumer.spending.allowCurrencies")
        #expect(refusal(#"{"consumer":{"spending":{"allowServiceTypes":[""]}}}"#) == "consumer.spending.allowServiceTypes")
        #expect(refusal(#"{"consumer":{"spending":{"weeklyBudget":{}}}}"#) == "consumer.spending.weeklyBudget")
    }

    @Test func aReloadThatAlsoChangesARestartOnlyKeyStillAppliesThePolicy() throws {
        var old = DaemonConfiguration()
        old.socketPath = "/run/a.sock"
        var new = old
        new.socketPath = "/run/b.sock"
        new.spending.maxUnits = 3
        let merged = ReloadService.keepingRestartOnly(new: new, old: old)
        #expect(merged.socketPath == "/run/a.sock" && merged.spending.maxUnits == 3)
    }
}
