#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WPWithinCore
import WPWithinTestSupport

/// Discover → Select → Pay → Release between two real daemons and the sandbox gateway, driven over the
/// consumer's socket.
@Suite struct FourPhasesTests {
    @Test func aConsumerBuysAndUsesUpUnitsFromAProducer() async throws {
        let dir = try TempDir()
        let sandbox = try LaunchedProcess.launch(
            BuiltExecutable.url(named: "wpw-sandbox-gateway"), arguments: ["--port", "0"], stderrPath: dir.file("sandbox.log"))
        let gatewayPort = try #require(try JSONValue.parse(try await sandbox.nextLine())["port"]?.int64Value)
        let endpoint = "http://127.0.0.1:\(gatewayPort)"
        let merchant = dir.file("merchant.json")
        try Data(#"{"clientKey":"\#(ProducerDaemonTests.clientKey)","serviceKey":"\#(ProducerDaemonTests.serviceKey)"}"#.utf8).write(to: URL(fileURLWithPath: merchant))
        let card = dir.file("card.json")
        try Data(#"{"firstName":"Joe","lastName":"Bloggs","expMonth":12,"expYear":2099,"cardNumber":"4444333322221111","type":"Card","cvc":"123"}"#.utf8).write(to: URL(fileURLWithPath: card))
        chmod(merchant, 0o600)
        chmod(card, 0o600)
        let producerConfig = dir.file("producer.json")
        try Data(#"""
        {"producer":{"services":[{"id":1,"name":"RoboWash","description":"Car washed by robot",
          "prices":[{"id":1,"description":"Car wash","amount":500,"currencyCode":"GBP","unitId":1,"unitDescription":"Single wash"}]}]}}
        """#.utf8).write(to: URL(fileURLWithPath: producerConfig))

        let port = try freeUDPPort()
        let producerDir = try TempDir()
        var producerEnv = loopbackDiscovery(port: port, roles: "producer")
        producerEnv["WPWITHIND_GATEWAY_ENDPOINT"] = endpoint
        producerEnv["WPWITHIND_MERCHANT_FILE"] = merchant
        let producer = try DaemonProcess(dir: producerDir, extraArguments: ["--config", producerConfig], environment: producerEnv)
        var consumerEnv = loopbackDiscovery(port: port, roles: "consumer")
        consumerEnv["WPWITHIND_GATEWAY_ENDPOINT"] = endpoint
        consumerEnv["WPWITHIND_CARD_FILE"] = card
        let consumerDir = try TempDir()
        let consumer = try DaemonProcess(dir: consumerDir, environment: consumerEnv)
        try await producer.waitUntilListening()
        try await consumer.waitUntilListening()
        let p = try RawClient(path: producer.socketPath)
        let c = try RawClient(path: consumer.socketPath)
        let events = try RawClient(path: producer.socketPath)
        _ = try await events.result("subscribe", ["types": ["producer.deliveryBegun", "producer.deliveryEnded"]])

        // Discover.
        let serverId = try await #require(try p.result("getDevice")["serverId"]?.stringValue)
        _ = try await p.result("startServiceBroadcast")
        _ = try await c.result("searchForDevice", ["serverId": .string(serverId), "timeoutMs": 30_000])
        let services = try await c.result("requestServices", ["serverId": .string(serverId)])
        #expect(services["services"]?.arrayValue?.first?["name"] == "RoboWash")
        #expect(services["fleetId"] == .null)  // a single Thing is in no fleet (and says nothing on the wire)
        let prices = try await c.result("getServicePrices", ["serverId": .string(serverId), "serviceId": 1])
        #expect(prices["prices"]?.arrayValue?.first?["amount"] == 500)

        // Select.
        let quote = try await c.result("selectService", ["serverId": .string(serverId), "serviceId": 1, "priceId": 1, "numberOfUnits": 3])
        #expect(quote["totalPrice"] == 1500)
        let reference = try #require(quote["paymentReferenceId"])
        #expect(try await c.call("selectService", ["serverId": .string(serverId), "serviceId": 1, "priceId": 9, "numberOfUnits": 1])["error"]?["code"] == -32010)
        #expect(try await c.call("selectService", ["serverId": .string(serverId), "serviceId": 1, "priceId": 1, "numberOfUnits": 0])["error"]?["code"] == -32602)

        // Pay (twice: the second is the same purchase, not a second charge).
        let purchase = try await c.result("makePayment", ["paymentReferenceId": reference])
        #expect(purchase["unitsBought"] == 3)
        #expect(purchase["totalPaid"] == 1500)
        let again = try await c.result("makePayment", ["paymentReferenceId": reference])
        #expect(again["purchaseId"] == purchase["purchaseId"])
        #expect(try await c.call("makePayment", ["paymentReferenceId": "nope"])["error"]?["code"] == -32010)
        let purchaseId = try #require(purchase["purchaseId"])

        // Release: 3 units in two sessions.
        let b1 = try await c.result("beginServiceDelivery", ["purchaseId": purchaseId, "units": 2])
        #expect(b1["unitsToSupply"] == 2)
        // Ending more than was begun is refused and changes nothing.
        let overEnd = try await c.call("endServiceDelivery", ["purchaseId": purchaseId, "unitsReceived": 3])
        #expect(overEnd["error"]?["code"] == -32602)
        #expect(overEnd["error"]?["data"]?["field"] == "unitsReceived")
        #expect(try await c.result("listPurchases").arrayValue?.first?["unitsInFlight"] == 2)
        let e1 = try await c.result("endServiceDelivery", ["purchaseId": purchaseId, "unitsReceived": 2])
        #expect(e1["unitsRemaining"] == 1)
        #expect(try await c.call("endServiceDelivery", ["purchaseId": purchaseId, "unitsReceived": 1])["error"]?["code"] == -32011)
        let b2 = try await c.result("beginServiceDelivery", ["purchaseId": purchaseId, "units": 1])
        #expect(b2["unitsToSupply"] == 1)
        let e2 = try await c.result("endServiceDelivery", ["purchaseId": purchaseId, "unitsReceived": 1])
        #expect(e2["unitsRemaining"] == 0)
        #expect(try await c.call("beginServiceDelivery", ["purchaseId": purchaseId, "units": 1])["error"]?["code"] == -32013)
        let listed = try await #require(try c.result("listPurchases").arrayValue)
        #expect(listed.count == 1)
        #expect(listed.first?["unitsDelivered"] == 3)

        // The app that delivers the service hears every begin and end.
        var types: [String] = []
        while types.count < 4 { if let type = try await events.readJSON()["params"]?["type"]?.stringValue { types.append(type) } }
        #expect(types == ["producer.deliveryBegun", "producer.deliveryEnded", "producer.deliveryBegun", "producer.deliveryEnded"])

        #expect(try await producer.stop() == 0)
        #expect(try await consumer.stop() == 0)
        _ = await sandbox.terminate()
        for daemon in [producer, consumer] { #expect(!daemon.log.contains("4444333322221111")) }
    }
}
