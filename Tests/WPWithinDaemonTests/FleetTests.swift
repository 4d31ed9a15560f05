#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WPWithinClient
import WPWithinCore
import WPWithinTestSupport

/// A fleet on a real PostgreSQL: three `wpwithind-fleet` producer daemons sharing one database, the sandbox
/// gateway behind a fault proxy, a `wpwithind` consumer that reaches the fleet through a proxy that can fail
/// over from one member to another (as a load balancer in front of a site's bays would). Every process is
/// real and on 127.0.0.1; the database listens on a Unix socket in a temporary directory.
final class FleetMarket: @unchecked Sendable {
    static let stock = 20
    let postgres: PostgresServer
    let dir: TempDir
    let sandbox: SandboxGatewayProcess
    let gatewayProxy: FaultProxy
    let htePorts: [Int]
    /// The consumer's one producer URL; its upstream is a member's HTE port (`failOver(to:)`).
    let hteProxy: FaultProxy
    let merchantPath: String
    let cardPath: String
    let memberConfigPath: String
    let memberDirs: [TempDir]
    let consumerDir: TempDir
    private(set) var members: [DaemonProcess?] = []
    private(set) var consumer: DaemonProcess!

    /// - Parameter refundOnExpiry: RoboWash's price refunds undelivered units.
    init(refundOnExpiry: Bool = false) async throws {
        postgres = try await onOwnThread { try PostgresServer() }
        dir = try TempDir()
        try FileManager.default.createDirectory(atPath: dir.file("gateway"), withIntermediateDirectories: true)
        sandbox = try await SandboxGatewayProcess.launch(directory: dir.file("gateway"), merchants: [.example])
        gatewayProxy = try await FaultProxy.launch(upstreamPort: sandbox.port, stderrPath: dir.file("gateway-proxy.log"))
        htePorts = try (0..<3).map { _ in try unusedLoopbackPort() }
        hteProxy = try await FaultProxy.launch(upstreamPort: htePorts[0], stderrPath: dir.file("hte-proxy.log"))
        merchantPath = dir.file("merchant.json")
        try Data(#"{"clientKey":"\#(SandboxGatewayProcess.Merchant.example.clientKey)","serviceKey":"\#(SandboxGatewayProcess.Merchant.example.serviceKey)"}"#.utf8)
            .write(to: URL(fileURLWithPath: merchantPath))
        chmod(merchantPath, 0o600)
        cardPath = dir.file("card.json")
        try Data(#"{"name":"Joe Bloggs","expMonth":12,"expYear":2099,"cardNumber":"\#(Market.testPAN)","type":"Card","cvc":"123"}"#.utf8)
            .write(to: URL(fileURLWithPath: cardPath))
        chmod(cardPath, 0o600)
        let config: JSONValue = [
            "producer": [
                "services": [[
                    "id": 1, "name": "RoboWash", "description": "Car washed by robot",
                    "prices": [["id": 1, "description": "Car wash", "amount": 500, "currencyCode": "GBP", "unitId": 1,
                                "unitDescription": "Single wash", "stock": .int(Int64(Self.stock)), "refundOnExpiry": .bool(refundOnExpiry)]],
                ]],
            ],
            "payments": [
                "connectTimeoutMs": 1000, "totalTimeoutMs": 1500,
                "recovery": [
                    "settleAfterSeconds": 3600, "minimumNotFoundLookups": 3, "watchSeconds": 3600,
                    "retryIntervalMs": 100, "maxRetryIntervalMs": 400,
                ],
            ],
            "store": ["backend": "postgresql", "postgresql": ["connection": .string(postgres.connectionString), "poolSize": 2]],
        ]
        memberConfigPath = dir.file("member.json")
        try Data(config.jsonString.utf8).write(to: URL(fileURLWithPath: memberConfigPath))
        memberDirs = try (0..<3).map { _ in try TempDir() }
        consumerDir = try TempDir()
        // One after the other: the first creates the fleet and its catalog, the others find them.
        for index in 0..<3 { members.append(try await startMember(index)) }
        // Written before the daemon starts (it reads it at once; written after, it was missing now and then: exit 78).
        try Data(#"{"consumer":{"peerTimeoutMs":6000}}"#.utf8).write(to: URL(fileURLWithPath: dir.file("consumer.json")))
        consumer = try DaemonProcess(dir: consumerDir, extraArguments: ["--config", dir.file("consumer.json")], environment: [
            "WPWITHIND_ROLES": "consumer", "WPWITHIND_GATEWAY_ENDPOINT": sandbox.endpoint, "WPWITHIND_CARD_FILE": cardPath,
        ])
        try await consumer.waitUntilListening()
    }

    func startMember(_ index: Int) async throws -> DaemonProcess {
        let daemon = try DaemonProcess(
            dir: memberDirs[index], extraArguments: ["--config", memberConfigPath],
            environment: [
                "WPWITHIND_ROLES": "producer", "WPWITHIND_GATEWAY_ENDPOINT": gatewayProxy.url,
                "WPWITHIND_MERCHANT_FILE": merchantPath, "WPWITHIND_HTE_PORT": String(htePorts[index]),
            ],
            executablePath: BuiltProducts.path("wpwithind-fleet"))
        try await daemon.waitUntilListening()
        return daemon
    }

    func restartMember(_ index: Int) async throws {
        members[index] = try await startMember(index)
    }

    func member(_ index: Int) throws -> RawClient { try RawClient(path: try #require(members[index]).socketPath) }
    func consumerClient() throws -> RawClient { try RawClient(path: consumer.socketPath) }
    func memberURL(_ index: Int) -> JSONValue { .string("http://127.0.0.1:\(htePorts[index])") }
    var proxyURL: JSONValue { .string(hteProxy.url) }

    /// The consumer's next requests reach member `index`.
    func failOver(to index: Int) async throws { try await hteProxy.setUpstream(port: htePorts[index]) }

    func psql(_ sql: String) async throws -> String { try await postgres.query(sql) }

    /// From outside: the gateway's charges against the consumer's purchases and the fleet's orders and stock.
    func audit(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let gateway = sandbox.audit
        var charged: [String: Int] = [:]
        for charge in gateway.charges { charged[Order.paymentReference(ofCustomerOrderCode: charge.customerOrderCode), default: 0] += 1 }
        #expect(charged.values.allSatisfy { $0 == 1 }, "a reference charged twice: \(charged)", sourceLocation: sourceLocation)
        let purchases = try await consumerClient().result("listPurchases").arrayValue ?? []
        let bought = Set(purchases.compactMap { $0["paymentReferenceId"]?.stringValue })
        #expect(bought == Set(charged.keys), "charges \(charged.keys.sorted()) ≠ purchases \(bought.sorted())", sourceLocation: sourceLocation)
        let paidInFleet = try await psql("SELECT payment_reference_id FROM producer_order WHERE state = 'paid' ORDER BY 1")
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(Set(paidInFleet) == bought, sourceLocation: sourceLocation)
        let units = purchases.reduce(0) { $0 + Int($1["unitsBought"]?.int64Value ?? 0) }
        #expect(try await psql("SELECT stock FROM price") == String(Self.stock - units), sourceLocation: sourceLocation)
        for daemon in members.compactMap({ $0 }) + [consumer!] { #expect(!daemon.log.contains(Market.testPAN), sourceLocation: sourceLocation) }
    }

    private var postgresDestroyed = false

    /// A test that throws before `stop()` still leaves no server behind (blocking here, as a last resort).
    deinit {
        kill(gatewayProxy.processIdentifier, SIGKILL)
        kill(hteProxy.processIdentifier, SIGKILL)
        if !postgresDestroyed { postgres.destroy() }
    }

    func stop() async {
        if let consumer, consumer.isRunning { _ = try? await consumer.stop() }
        for member in members.compactMap({ $0 }) where member.isRunning { _ = try? await member.stop() }
        await hteProxy.stop()
        await gatewayProxy.stop()
        await sandbox.stop()
        await postgres.shutDown()
        postgresDestroyed = true
    }
}

@Suite(.serialized) struct FleetTests {
    static let retryable = FaultMarket.retryable

    /// `makePayment` until it answers something not worth retrying.
    static func payRetrying(_ market: FleetMarket, _ reference: String, deadline: Duration = .seconds(120)) async throws -> JSONValue {
        let end = ContinuousClock.now + deadline
        var last: JSONValue = .null
        while ContinuousClock.now < end {
            last = try await market.consumerClient().call("makePayment", ["paymentReferenceId": .string(reference)], timeout: .seconds(60))
            guard let code = last["error"]?["code"]?.int64Value, retryable.contains(code) else { return last }
            try await Task.sleep(for: .milliseconds(100))
        }
        return last
    }

    @Test func sixteenConsumersSpreadOverThreeMembersBuyExactlyTheSharedStock() async throws {
        let market = try await FleetMarket()
        // 16 buyers, each trying 2 units at a time at member (buyer % 3) until refused: 20 units sell, no more.
        let outcomes = try await withThrowingTaskGroup(of: [String].self) { group in
            for buyer in 0..<16 {
                let url = market.memberURL(buyer % 3)
                let socket = market.consumer.socketPath
                group.addTask {
                    let client = try await WPWithinClient.connected(socketPath: socket)
                    defer { Task { await client.close() } }
                    var results: [String] = []
                    for _ in 0..<3 {
                        do {
                            let quote = try await client.selectService(.url(url.stringValue ?? ""), serviceId: 1, priceId: 1, numberOfUnits: 2)
                            _ = try await client.makePayment(paymentReferenceId: quote.paymentReferenceId)
                            results.append("paid")
                        } catch let error as WPWError where error.code == .outOfStock {
                            results.append("outOfStock")
                        }
                    }
                    return results
                }
            }
            return try await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(outcomes.count { $0 == "paid" } == FleetMarket.stock / 2)
        #expect(outcomes.count { $0 == "outOfStock" } == 48 - FleetMarket.stock / 2)
        #expect(market.sandbox.audit.charges.count == FleetMarket.stock / 2)
        // A consumer learns they are one fleet from their service lists.
        let fleetIDs = try await (0..<3).asyncMap {
            try await market.consumerClient().result("requestServices", ["url": market.memberURL($0)])["fleetId"]
        }
        #expect(Set(fleetIDs).count == 1 && fleetIDs[0]?.stringValue?.count == 36, "\(fleetIDs)")
        // Every member sold some of it, and every member's catalog shows the one stock.
        #expect(try await market.psql("SELECT count(DISTINCT charged_by) FROM producer_order WHERE state = 'paid'") == "3")
        for index in 0..<3 {
            let services = try await market.member(index).result("listServices").arrayValue ?? []
            #expect(services.first?["prices"]?.arrayValue?.first?["stock"] == 0)
        }
        try await market.audit()
        await market.stop()
    }

    @Test func aRefundAskedAtAnyMemberIsIssuedOnceForTheFleet() async throws {
        let market = try await FleetMarket(refundOnExpiry: true)
        let c = try market.consumerClient()
        let quote = try await c.result("selectService", ["url": market.proxyURL, "serviceId": 1, "priceId": 1, "numberOfUnits": 5])
        let reference = try #require(quote["paymentReferenceId"]?.stringValue)
        let id = try #require(try await c.result("makePayment", ["paymentReferenceId": .string(reference)])["purchaseId"])
        try await market.failOver(to: 1)
        #expect(try await c.result("beginServiceDelivery", ["purchaseId": id, "units": 1])["unitsToSupply"] == 1)
        #expect(try await c.result("endServiceDelivery", ["purchaseId": id, "unitsReceived": 1])["unitsRemaining"] == 4)
        // Asked at C: the 4 unused units; asked again at A: the same refund, no second gateway call.
        try await market.failOver(to: 2)
        let refunded = try await c.result("requestRefund", ["purchaseId": id])
        #expect(refunded["refundStatus"] == "issued" && refunded["unitsRefunded"] == 4 && refunded["amountRefunded"] == 2000)
        try await market.failOver(to: 0)
        #expect(try await c.result("requestRefund", ["purchaseId": id])["amountRefunded"] == 2000)
        let charge = try #require(market.sandbox.audit.charges(reference: reference).first)
        #expect(market.sandbox.audit.refunds(orderCode: charge.orderCode).map(\.refundAmount) == [2000])
        #expect(market.sandbox.audit.balances(reference: reference, honoured: 500))
        #expect(try await market.psql(
            "SELECT refund_reason || '/' || refund_status || '/' || refund_units || '/' || refund_amount FROM producer_order WHERE state = 'paid'")
            == "requested/issued/4/2000")
        // The units are gone at every member.
        try await market.failOver(to: 1)
        #expect(try await c.call("beginServiceDelivery", ["purchaseId": id, "units": 1])["error"]?["code"] == .int(Int64(WPWError.Code.unitsRefunded.rawValue)))
        try await market.audit()
        await market.stop()
    }

    @Test func aTokenBoughtAtOneMemberIsRedeemedAtTheOthersUntilUsedUp() async throws {
        let market = try await FleetMarket()
        let c = try market.consumerClient()
        let quote = try await c.result("selectService", ["url": market.proxyURL, "serviceId": 1, "priceId": 1, "numberOfUnits": 5])
        let purchase = try await c.result("makePayment", ["paymentReferenceId": quote["paymentReferenceId"] ?? .null])
        let id = try #require(purchase["purchaseId"])
        // Member A sold it; B begins and C ends; then C begins and B ends the rest.
        try await market.failOver(to: 1)
        #expect(try await c.result("beginServiceDelivery", ["purchaseId": id, "units": 2])["unitsToSupply"] == 2)
        try await market.failOver(to: 2)
        #expect(try await c.result("endServiceDelivery", ["purchaseId": id, "unitsReceived": 2])["unitsRemaining"] == 3)
        #expect(try await c.result("beginServiceDelivery", ["purchaseId": id, "units": 5])["unitsToSupply"] == 3)
        try await market.failOver(to: 1)
        #expect(try await c.result("endServiceDelivery", ["purchaseId": id, "unitsReceived": 3])["unitsRemaining"] == 0)
        // Used up at every member.
        for index in [0, 2] {
            try await market.failOver(to: index)
            #expect(try await c.call("beginServiceDelivery", ["purchaseId": id, "units": 1])["result"] == nil)
        }
        #expect(try await market.psql("SELECT purchased || '/' || delivered || '/' || in_flight FROM producer_order WHERE state = 'paid'") == "5/5/0")
        try await market.audit()
        await market.stop()
    }

    @Test func aMemberKilledBetweenTheGatewaysSuccessAndItsCommitIsSettledByAnotherWithOneCharge() async throws {
        let market = try await FleetMarket()
        try await market.gatewayProxy.setRules([PaymentFaultTests.orders])
        let quote = try await market.consumerClient().result(
            "selectService", ["url": market.proxyURL, "serviceId": 1, "priceId": 1, "numberOfUnits": 3])
        let reference = try #require(quote["paymentReferenceId"]?.stringValue)
        let payment = OnThread { [market] in
            try await market.consumerClient().call("makePayment", ["paymentReferenceId": .string(reference)], timeout: .seconds(60))
        }
        // The gateway has charged; member A is killed before it can record it.
        let held = try await market.gatewayProxy.waitForHeld(rule: "charge", stage: .response)
        let killed = try #require(market.members[0])
        killed.signal(SIGKILL)
        #expect(try await killed.waitForExit() == 128 + SIGKILL)
        try await market.gatewayProxy.release(held, .cut)
        #expect(try await payment.value["error"]?["code"] != nil)
        try await market.gatewayProxy.clearRules()
        // The consumer's retry reaches member B, which finds the charge at the gateway and honours it.
        try await market.failOver(to: 1)
        let paid = try await Self.payRetrying(market, reference)
        let purchase = try #require(paid["result"], "makePayment at member B: \(paid)")
        #expect(purchase["unitsBought"] == 3)
        #expect(market.sandbox.audit.charges(reference: reference).count == 1)
        // One attempt, started by A (which also quoted it), recorded paid by B's reconciliation.
        #expect(try await market.psql("SELECT state || ' ' || attempts || ' ' || (charged_by = server_id) FROM producer_order") == "paid 1 true")
        // The units are honoured at C.
        try await market.failOver(to: 2)
        let c = try market.consumerClient()
        let id = try #require(purchase["purchaseId"])
        #expect(try await c.result("beginServiceDelivery", ["purchaseId": id, "units": 3])["unitsToSupply"] == 3)
        #expect(try await c.result("endServiceDelivery", ["purchaseId": id, "unitsReceived": 3])["unitsRemaining"] == 0)
        try await market.audit()
        await market.stop()
    }

    @Test func withTheDatabaseStoppedMembersRefuseAndSaySoThenRecover() async throws {
        let market = try await FleetMarket()
        let c = try market.consumerClient()
        // A quote taken before the outage, paid during it.
        let early = try await c.result("selectService", ["url": market.memberURL(2), "serviceId": 1, "priceId": 1, "numberOfUnits": 1])
        try await onOwnThread { try market.postgres.stop() }
        let unpaid = try await c.call("makePayment", ["paymentReferenceId": early["paymentReferenceId"] ?? .null])
        #expect(unpaid["error"] != nil, "\(unpaid)")
        // The producer said why (its error code, HTTP 503), not "a payment is in progress".
        #expect(unpaid["error"]?["data"]?["errorCode"] == .int(Int64(WPWError.Code.unavailable.rawValue)), "\(unpaid)")
        #expect(unpaid["error"]?["data"]?["httpStatus"] == 503, "\(unpaid)")
        // A quote cannot be recorded: refused, nothing charged; the member says why in getStatus.
        let refused = try await c.call("selectService", ["url": market.memberURL(1), "serviceId": 1, "priceId": 1, "numberOfUnits": 1])
        #expect(refused["error"] != nil, "\(refused)")
        // The member's own socket says it too: a catalog change cannot be recorded (unavailable, -32000).
        let service: JSONValue = [
            "id": 9, "name": "Wax", "description": "Hot wax", "serviceType": "car-wash",
            "prices": [["id": 1, "description": "Wax", "amount": 200, "currencyCode": "GBP", "unitId": 1, "unitDescription": "Car"]],
        ]
        let adding = try await market.member(1).call("addService", ["service": service])
        #expect(adding["error"]?["code"] == .int(Int64(WPWError.Code.unavailable.rawValue)), "\(adding)")
        let status = try await market.member(1).result("getStatus")
        #expect(status["health"]?["producerStore"]?["backend"] == "postgresql")
        #expect(status["health"]?["producerStore"]?["writable"] == false)
        #expect(status["health"]?["ok"] == false)
        #expect(market.sandbox.audit.charges.isEmpty)
        try await onOwnThread { try market.postgres.start() }
        // Back: the next purchases go through (a call may first meet a connection broken by the outage).
        var purchase: JSONValue = .null
        var refusedForGood: [(reference: String, answer: JSONValue)] = []
        for _ in 0..<5 {
            let quote = try await c.call("selectService", ["url": market.memberURL(1), "serviceId": 1, "priceId": 1, "numberOfUnits": 1])
            guard let reference = quote["result"]?["paymentReferenceId"]?.stringValue else { continue }
            // makePayment is idempotent per reference: retried until it answers for good, so a charge whose
            // answer the outage cut is not left behind (the audit below would find it charged, not bought).
            purchase = try await Self.payRetrying(market, reference)
            if purchase["result"] != nil { break }
            refusedForGood.append((reference, purchase))
        }
        // A payment answered with an error that is not worth retrying must have charged nothing.
        for (reference, answer) in refusedForGood {
            #expect(market.sandbox.audit.charges(reference: reference).isEmpty, "\(reference) was charged, but makePayment answered \(answer)")
        }
        #expect(purchase["result"]?["unitsBought"] == 1, "\(purchase)")
        #expect(try await market.member(1).result("getStatus")["health"]?["producerStore"]?["writable"] == true)
        try await market.audit()
        await market.stop()
    }
}

extension FleetTests {
    /// Reads events from a subscription until one of `type` arrives; returns it (`params`).
    static func next(_ client: RawClient, _ type: String) async throws -> JSONValue {
        for _ in 0..<200 {
            let message = try await client.readJSON(timeout: .seconds(60))
            if let params = message["params"], params["type"]?.stringValue == type { return params }
        }
        throw HarnessError("no \(type) event")
    }

    @Test func subscribeOnAnyMemberFollowsTheWholeFleetWithResume() async throws {
        let market = try await FleetMarket()
        let serverIDs = try await (0..<3).asyncMap { try await market.member($0).result("getDevice")["serverId"]?.stringValue ?? "" }
        // A subscriber on member C hears A's sale and B's delivery.
        let watcher = try market.member(2)
        _ = try await watcher.result("subscribe", ["types": ["producer.paymentSucceeded", "producer.deliveryEnded"]])
        let c = try market.consumerClient()
        let quote = try await c.result("selectService", ["url": market.proxyURL, "serviceId": 1, "priceId": 1, "numberOfUnits": 2])
        let purchase = try await c.result("makePayment", ["paymentReferenceId": quote["paymentReferenceId"] ?? .null])
        let paid = try await Self.next(watcher, "producer.paymentSucceeded")
        #expect(paid["member"]?.stringValue == serverIDs[0])
        #expect(paid["paymentReferenceId"] == quote["paymentReferenceId"])
        #expect(paid["fleetSeq"]?.int64Value != nil)
        try await market.failOver(to: 1)
        let id = try #require(purchase["purchaseId"])
        _ = try await c.result("beginServiceDelivery", ["purchaseId": id, "units": 1])
        _ = try await c.result("endServiceDelivery", ["purchaseId": id, "unitsReceived": 1])
        let ended = try await Self.next(watcher, "producer.deliveryEnded")
        #expect(ended["member"]?.stringValue == serverIDs[1])
        let seenSeq = try #require(ended["seq"]?.int64Value)

        // C stops; the fleet goes on; C comes back and a subscriber resuming where it was gets what it missed.
        #expect(try await market.members[2]!.stop() == 0)
        _ = try await c.result("beginServiceDelivery", ["purchaseId": id, "units": 1])
        _ = try await c.result("endServiceDelivery", ["purchaseId": id, "unitsReceived": 1])
        try await market.restartMember(2)
        let resumed = try market.member(2)
        _ = try await resumed.result("subscribe", ["types": ["producer.deliveryEnded"], "resumeFrom": .int(seenSeq)])
        let missed = try await Self.next(resumed, "producer.deliveryEnded")
        #expect(missed["member"]?.stringValue == serverIDs[1])
        #expect(missed["unitsDelivered"] == 2)
        #expect((missed["seq"]?.int64Value ?? 0) > seenSeq)
        try await market.audit()
        await market.stop()
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
