#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WPWithinCore
import WPWithinTestSupport

/// Answers, errors and events that no other daemon test makes, made here so that RawClient validates each
/// against rpc.discover at least once (scripts/openrpc-coverage.py reports what a run validated;
/// docs/testing.md). Each test asserts the code or event it is about, so a daemon that stops producing it
/// fails here rather than silently dropping out of the coverage.
@Suite struct OpenRPCCoverageTests {
    /// Reads events from `client` until every type in `wanted` was seen (each line is validated on the way).
    static func readEvents(_ client: RawClient, until wanted: Set<String>, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Set<String> {
        var seen: Set<String> = []
        while !wanted.isSubset(of: seen) {
            let message = try await client.readJSON(timeout: .seconds(60), sourceLocation: sourceLocation)
            if let type = message["params"]?["type"]?.stringValue { seen.insert(type) }
        }
        return seen
    }

    static func code(_ response: JSONValue) -> Int64? { response["error"]?["code"]?.int64Value }

    @Test func aPurchaseHeardByBothSidesAndTheCatalogChanging() async throws {
        let market = try await Market()
        let producer = try await market.startProducer()
        let consumer = try await market.startConsumer()
        let p = try RawClient(path: producer.socketPath)
        let c = try RawClient(path: consumer.socketPath)
        let producerEvents = try RawClient(path: producer.socketPath)
        let consumerEvents = try RawClient(path: consumer.socketPath)
        _ = try await producerEvents.result("subscribe", ["resumeFrom": 0])
        _ = try await consumerEvents.result("subscribe", ["resumeFrom": 0])

        // The catalog: add, remove; a currency nobody has is refused.
        let service: JSONValue = [
            "id": 2, "name": "Vacuum", "description": "Interior vacuum", "serviceType": "car-wash",
            "prices": [["id": 1, "description": "Vacuum", "amount": 300, "currencyCode": "GBP", "unitId": 1, "unitDescription": "Car"]],
        ]
        _ = try await p.result("addService", ["service": service])
        let odd: JSONValue = [
            "id": 3, "name": "Odd", "description": "Priced in nothing", "serviceType": "car-wash",
            "prices": [["id": 1, "description": "Odd", "amount": 300, "currencyCode": "XXQ", "unitId": 1, "unitDescription": "Car"]],
        ]
        #expect(Self.code(try await p.call("addService", ["service": odd])) == -32026)  // unsupportedCurrency
        _ = try await p.result("removeService", ["serviceId": 2])

        // A purchase, used up.
        let serverId = try #require(try await p.result("getDevice")["serverId"])
        _ = try await p.result("startServiceBroadcast")
        _ = try await c.result("searchForDevice", ["serverId": serverId, "timeoutMs": 30_000])
        let quote = try await c.result("selectService", ["serverId": serverId, "serviceId": 1, "priceId": 1, "numberOfUnits": 2])
        let purchase = try await c.result("makePayment", ["paymentReferenceId": try #require(quote["paymentReferenceId"])])
        let purchaseId = try #require(purchase["purchaseId"])
        _ = try await c.result("beginServiceDelivery", ["purchaseId": purchaseId, "units": 2])
        _ = try await c.result("endServiceDelivery", ["purchaseId": purchaseId, "unitsReceived": 2])

        let producerSide: Set<String> = [
            "daemon.started", "producer.serviceAdded", "producer.serviceRemoved", "producer.quoteCreated", "producer.paymentStarted",
            "producer.paymentSucceeded", "producer.deliveryBegun", "producer.deliveryEnded",
        ]
        let consumerSide: Set<String> = [
            "daemon.started", "consumer.deviceDiscovered", "consumer.quoteReceived", "consumer.purchaseRecorded",
            "consumer.deliveryBegun", "consumer.deliveryConfirmed", "consumer.deliveryEnded",
        ]
        _ = try await Self.readEvents(producerEvents, until: producerSide)
        _ = try await Self.readEvents(consumerEvents, until: consumerSide)
        #expect(try await producer.stop() == 0)
        #expect(try await consumer.stop() == 0)
        await market.stop()
    }

    @Test func paymentsTheGatewayRefuses() async throws {
        let market = try await Market()
        let producer = try await market.startProducer()
        let producerEvents = try RawClient(path: producer.socketPath)
        _ = try await producerEvents.result("subscribe", ["types": ["producer.paymentFailed", "producer.error"]])
        let serverId = try #require(try await RawClient(path: producer.socketPath).result("getDevice")["serverId"])
        _ = try await RawClient(path: producer.socketPath).result("startServiceBroadcast")

        /// Selects 1 unit from a consumer whose card has `cardName`, pays, and returns the error code.
        func pay(cardName: String, expecting expected: Int64, watchConsumer: Bool = false) async throws {
            let consumer = try await market.startConsumer(cardName: cardName)
            let c = try RawClient(path: consumer.socketPath)
            let events = try RawClient(path: consumer.socketPath)
            _ = try await events.result("subscribe", ["types": ["consumer.error"]])
            _ = try await c.result("searchForDevice", ["serverId": serverId, "timeoutMs": 30_000])
            let quote = try await c.result("selectService", ["serverId": serverId, "serviceId": 1, "priceId": 1, "numberOfUnits": 1])
            let answer = try await c.call("makePayment", ["paymentReferenceId": try #require(quote["paymentReferenceId"])], timeout: .seconds(60))
            #expect(Self.code(answer) == expected, "\(cardName): \(answer)")
            if watchConsumer { _ = try await Self.readEvents(events, until: ["consumer.error"]) }
            #expect(try await consumer.stop() == 0)
        }
        try await pay(cardName: "FAILED", expecting: -32020, watchConsumer: true)  // paymentDeclined
        try await pay(cardName: "GARBAGE", expecting: -32024)  // gatewayProtocol: the token answer is not JSON
        _ = try await Self.readEvents(producerEvents, until: ["producer.paymentFailed"])
        #expect(try await producer.stop() == 0)
        await market.stop()
    }

    @Test func aCardTheGatewayCallsInvalidAndAConsumerWithoutACard() async throws {
        let market = try await Market()
        let producer = try await market.startProducer()
        let serverId = try #require(try await RawClient(path: producer.socketPath).result("getDevice")["serverId"])
        _ = try await RawClient(path: producer.socketPath).result("startServiceBroadcast")
        func quote(_ c: RawClient) async throws -> JSONValue {
            _ = try await c.result("searchForDevice", ["serverId": serverId, "timeoutMs": 30_000])
            let quote = try await c.result("selectService", ["serverId": serverId, "serviceId": 1, "priceId": 1, "numberOfUnits": 1])
            return try #require(quote["paymentReferenceId"])
        }

        // Luhn-invalid: the gateway answers INVALID_PAYMENT_DETAILS.
        let card = market.dir.file("bad-card.json")
        try Data(#"{"name":"Joe Bloggs","expMonth":12,"expYear":2099,"cardNumber":"4444333322221112","type":"Card","cvc":"123"}"#.utf8)
            .write(to: URL(fileURLWithPath: card))
        chmod(card, 0o600)
        var environment = loopbackDiscovery(port: market.discoveryPort, roles: "consumer")
        environment["WPWITHIND_GATEWAY_ENDPOINT"] = market.gatewayEndpoint
        environment["WPWITHIND_CARD_FILE"] = card
        let badCard = try DaemonProcess(dir: TempDir(), environment: environment)
        try await badCard.waitUntilListening()
        let c1 = try RawClient(path: badCard.socketPath)
        #expect(Self.code(try await c1.call("makePayment", ["paymentReferenceId": try await quote(c1)])) == -32021)  // invalidCard
        #expect(try await badCard.stop() == 0)

        // No card at all.
        environment["WPWITHIND_CARD_FILE"] = nil
        let noCard = try DaemonProcess(dir: TempDir(), environment: environment)
        try await noCard.waitUntilListening()
        let c2 = try RawClient(path: noCard.socketPath)
        #expect(Self.code(try await c2.call("makePayment", ["paymentReferenceId": try await quote(c2)])) == -32029)  // credentials
        #expect(try await noCard.stop() == 0)
        #expect(try await producer.stop() == 0)
        await market.stop()
    }

    @Test func aProducerURLThatAnswersNonsense() async throws {
        let nonsense = try await FaultProxy.launch(
            upstreamPort: try unusedLoopbackPort(),
            rules: [.init(nil, "/", match: .prefix, .fabricate(.text("<html>not HTE</html>"), status: 200))])
        let dir = try TempDir()
        let consumer = try DaemonProcess(dir: dir, environment: ["WPWITHIND_ROLES": "consumer"])
        try await consumer.waitUntilListening()
        let c = try RawClient(path: consumer.socketPath)
        #expect(Self.code(try await c.call("requestServices", ["url": .string(nonsense.url)])) == -32042)  // peerProtocol
        #expect(try await consumer.stop() == 0)
        await nonsense.stop()
    }

    @Test func aReloadThatFailsIsADaemonErrorEvent() async throws {
        let dir = try TempDir()
        let config = dir.file("wpwithind.json")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: config))
        let daemon = try DaemonProcess(dir: dir, extraArguments: ["--config", config])
        try await daemon.waitUntilListening()
        let events = try RawClient(path: daemon.socketPath)
        _ = try await events.result("subscribe", ["types": ["daemon.error"]])
        try Data("{ not json".utf8).write(to: URL(fileURLWithPath: config))
        daemon.signal(SIGHUP)
        let event = try await events.readJSON(timeout: .seconds(60))
        #expect(event["params"]?["type"] == "daemon.error")
        #expect(event["params"]?["source"] == "reload")
        #expect(try await daemon.stop() == 0)
    }

    @Test func aSlowTokenAndAnUnknownMerchant() async throws {
        let market = try await Market(slowDelayMs: 10_000)
        let producer = try await market.startProducer()
        let serverId = try #require(try await RawClient(path: producer.socketPath).result("getDevice")["serverId"])
        _ = try await RawClient(path: producer.socketPath).result("startServiceBroadcast")
        func pay(_ consumer: DaemonProcess, _ serverId: JSONValue) async throws -> JSONValue {
            let c = try RawClient(path: consumer.socketPath)
            _ = try await c.result("searchForDevice", ["serverId": serverId, "timeoutMs": 30_000])
            let quote = try await c.result("selectService", ["serverId": serverId, "serviceId": 1, "priceId": 1, "numberOfUnits": 1])
            return try await c.call("makePayment", ["paymentReferenceId": try #require(quote["paymentReferenceId"])], timeout: .seconds(60))
        }
        // The token request outlasts the consumer's gateway timeout (the sandbox holds SLOW for 10 s).
        let slow = try await market.startConsumer(cardName: "SLOW", config: ["payments": ["connectTimeoutMs": 1000, "totalTimeoutMs": 300]])
        let timedOut = try await pay(slow, serverId)
        #expect(Self.code(timedOut) == -32023, "\(timedOut)")  // gatewayTimeout
        #expect(try await slow.stop() == 0)
        #expect(try await producer.stop() == 0)

        // A producer whose merchant client key the gateway does not know: the consumer's token is refused.
        let unknownMerchant = market.dir.file("unknown-merchant.json")
        try Data(#"{"clientKey":"T_C_00000000-0000-0000-0000-000000000000","serviceKey":"T_S_00000000-0000-0000-0000-000000000000"}"#.utf8)
            .write(to: URL(fileURLWithPath: unknownMerchant))
        chmod(unknownMerchant, 0o600)
        var environment = loopbackDiscovery(port: market.discoveryPort, roles: "producer")
        environment["WPWITHIND_GATEWAY_ENDPOINT"] = market.gatewayEndpoint
        environment["WPWITHIND_MERCHANT_FILE"] = unknownMerchant
        let stranger = try DaemonProcess(dir: TempDir(), extraArguments: ["--config", market.producerConfigPath], environment: environment)
        try await stranger.waitUntilListening()
        let strangerId = try #require(try await RawClient(path: stranger.socketPath).result("getDevice")["serverId"])
        _ = try await RawClient(path: stranger.socketPath).result("startServiceBroadcast")
        let consumer = try await market.startConsumer()
        let refused = try await pay(consumer, strangerId)
        #expect(Self.code(refused) == -32025, "\(refused)")  // gatewayRejected
        #expect(try await consumer.stop() == 0)
        #expect(try await stranger.stop() == 0)
        await market.stop()
    }

    @Test func anExpiredDeliveryLeaseIsSettledAtTheNextBegin() async throws {
        let market = try await Market()
        let producer = try await market.startProducer(config: ["producer": ["deliveryLeaseSeconds": 1]])
        let consumer = try await market.startConsumer()
        let events = try RawClient(path: producer.socketPath)
        _ = try await events.result("subscribe", ["types": ["producer.deliveryLeaseExpired"]])
        let serverId = try #require(try await RawClient(path: producer.socketPath).result("getDevice")["serverId"])
        _ = try await RawClient(path: producer.socketPath).result("startServiceBroadcast")
        let c = try RawClient(path: consumer.socketPath)
        _ = try await c.result("searchForDevice", ["serverId": serverId, "timeoutMs": 30_000])
        let quote = try await c.result("selectService", ["serverId": serverId, "serviceId": 1, "priceId": 1, "numberOfUnits": 2])
        let purchase = try await c.result("makePayment", ["paymentReferenceId": try #require(quote["paymentReferenceId"])])
        let purchaseId = try #require(purchase["purchaseId"])
        _ = try await c.result("beginServiceDelivery", ["purchaseId": purchaseId, "units": 1])
        // Never ended. Once the lease is over (waited for as a lower bound), the next begin settles it.
        try await Task.sleep(for: .milliseconds(2100))
        _ = try await c.call("beginServiceDelivery", ["purchaseId": purchaseId, "units": 1])
        let event = try await events.readJSON(timeout: .seconds(60))
        #expect(event["params"]?["type"] == "producer.deliveryLeaseExpired")
        #expect(try await consumer.stop() == 0)
        #expect(try await producer.stop() == 0)
        await market.stop()
    }

    @Test func aSubscriberThatFallsBehindIsToldSubscriptionLost() async throws {
        let dir = try TempDir()
        let config = dir.file("wpwithind.json")
        try Data(#"{"rpc":{"eventBufferPerSubscriber":16}}"#.utf8).write(to: URL(fileURLWithPath: config))
        let daemon = try DaemonProcess(dir: dir, extraArguments: ["--config", config], environment: ["WPWITHIND_ROLES": "producer"])
        try await daemon.waitUntilListening()
        let service: JSONValue = [
            "id": 7, "name": "Flood", "description": "Added and removed", "serviceType": "test",
            "prices": [["id": 1, "description": "Unit", "amount": 1, "currencyCode": "GBP", "unitId": 1, "unitDescription": "Unit"]],
        ]
        var lost: JSONValue?
        // Nobody reads the stream while four connections add and remove services: the daemon's 16-event
        // buffer overflows and it drops the subscriber. Each round reads everything the round sent (or the
        // subscriptionLost that ends it), so no wait depends on the machine's pace; a round that happened not
        // to overflow is followed by another.
        for _ in 0..<5 where lost == nil {
            let subscriber = try RawClient(path: daemon.socketPath)
            _ = try await subscriber.result("subscribe", ["types": ["producer.serviceAdded", "producer.serviceRemoved"]])
            let pairs = 150
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        let flooder = try RawClient(path: daemon.socketPath)
                        var own = service.objectValue ?? [:]
                        own["id"] = .int(Int64(10 + worker))
                        for _ in 0..<pairs {
                            _ = try await flooder.result("addService", ["service": .object(own)])
                            _ = try await flooder.result("removeService", ["serviceId": .int(Int64(10 + worker))])
                        }
                    }
                }
                try await group.waitForAll()
            }
            for _ in 0..<(4 * pairs * 2) {
                let message = try await subscriber.readJSON(timeout: .seconds(60))
                if message["method"] == "subscriptionLost" {
                    lost = message
                    break
                }
            }
        }
        let notification = try #require(lost, "five floods never overflowed a 16-event buffer")
        #expect(notification["params"]?["reason"] == "overflow")
        #expect(try await daemon.stop() == 0)
    }
}
