#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import Testing
import WPWithinCore
import WPWithinHTTP
import WPWithinPayments
import WPWithinPeer
import WPWithinTestSupport
import WPWithinWire

/// A producer daemon on loopback, a real sandbox gateway process, and the Go-compatible HTE client.
@Suite struct ProducerDaemonTests {
    static let clientKey = "T_C_97e8cbaa-14e0-4b1c-b2af-469daf8f1356"
    static let serviceKey = "T_S_3bdadc9c-54e0-4587-8d91-29813060fecd"

    @Test func sellsAndDeliversOverTheGoWire() async throws {
        let dir = try TempDir()
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        // The sandbox gateway, as a real process.
        let sandbox = try LaunchedProcess.launch(
            BuiltExecutable.url(named: "wpw-sandbox-gateway"),
            arguments: ["--port", "0", "--host", "127.0.0.1"], stderrPath: dir.file("sandbox.log"))
        let listening = try JSONValue.parse(try await sandbox.nextLine())
        let gatewayPort = try #require(listening["port"]?.int64Value)
        let endpoint = "http://127.0.0.1:\(gatewayPort)"

        let merchant = dir.file("merchant.json")
        try Data(#"{"clientKey":"\#(Self.clientKey)","serviceKey":"\#(Self.serviceKey)"}"#.utf8).write(to: URL(fileURLWithPath: merchant))
        chmod(merchant, 0o600)
        let config = dir.file("producer.json")
        try Data(#"""
        {"roles":["producer"],"producer":{"services":[{"id":1,"name":"RoboWash","description":"Car washed by robot","serviceType":"wash",
          "prices":[{"id":1,"description":"Car wash","amount":500,"currencyCode":"GBP","unitId":1,"unitDescription":"Single wash","stock":5}]}]}}
        """#.utf8).write(to: URL(fileURLWithPath: config))
        let daemon = try DaemonProcess(dir: dir, extraArguments: ["--config", config], environment: [
            "WPWITHIND_GATEWAY_ENDPOINT": endpoint, "WPWITHIND_MERCHANT_FILE": merchant,
        ])
        try await daemon.waitUntilListening()
        let portText = try #require(daemon.log.components(separatedBy: "hte.port=").dropFirst().first?.prefix { $0.isNumber })
        let base = "http://127.0.0.1:\(portText)"
        let rpc = try RawClient(path: daemon.socketPath)
        let serverId = try await #require(try rpc.result("getDevice")["serverId"]?.stringValue)

        let http = HTTPClient(logger: logger)
        let hte = HTEClient(http: http, logger: logger)
        let services = try await hte.services(baseURL: base)
        #expect(services.serverID == serverId)
        #expect(services.services?.map(\.serviceID) == [1])
        let prices = try await hte.prices(baseURL: base, serviceID: 1)
        #expect(prices.prices?.first?.pricePerUnit?.amount == 500)
        await #expect(throws: WPWError.self) { _ = try await hte.prices(baseURL: base, serviceID: 99) }

        let clientID = "a9d3e6c8-0000-4000-8000-000000000001"
        let total = try await hte.requestTotal(baseURL: base, serviceID: 1, TotalPriceRequest(clientID: clientID, selectedNumberOfUnits: 3, selectedPriceID: 1))
        #expect(total.totalPrice == 1500)
        #expect(total.merchantClientKey == Self.clientKey)
        // Overselling the stock of 5 is refused.
        await #expect(throws: WPWError.self) {
            _ = try await hte.requestTotal(baseURL: base, serviceID: 1, TotalPriceRequest(clientID: clientID, selectedNumberOfUnits: 6, selectedPriceID: 1))
        }

        // The consumer's half of the Pay phase: a client token from the gateway (the card never reaches the producer).
        // Merchant keys here only for the order lookup below (what the producer would see at the gateway).
        let gateway = WorldpayOnlineGateway(
            configuration: WorldpayOnlineConfiguration(endpoint: try GatewayEndpoint(endpoint), merchant: MerchantCredentials(clientKey: Self.clientKey, serviceKey: Self.serviceKey)),
            logger: logger)
        let card = PaymentCard(cardholderName: "Joe Bloggs", cardNumber: "4444333322221111", expiryMonth: 12, expiryYear: 2099, cvc: "123")
        let token = try await gateway.createToken(card: card, clientKey: total.merchantClientKey)
        let paid = try await hte.payment(baseURL: base, PaymentRequest(clientID: clientID, clientToken: token.value, paymentReferenceID: total.paymentReferenceID))
        #expect(paid.totalPaid == 1500)
        let deliveryToken = try #require(paid.serviceDeliveryToken)
        #expect(deliveryToken.key.count == 64)
        #expect(deliveryToken.signature?.count == 32)
        // A retry (even with a spent token) is idempotent: same delivery token, nothing charged again.
        let again = try await hte.payment(baseURL: base, PaymentRequest(clientID: clientID, clientToken: token.value, paymentReferenceID: total.paymentReferenceID))
        #expect(again.serviceDeliveryToken?.key == deliveryToken.key)
        let order = try #require(try await gateway.findOrder(customerOrderCode: total.paymentReferenceID))
        #expect(order.amount == 1500)

        // Release: two sessions use the 3 units up.
        let begin1 = try await hte.beginDelivery(baseURL: base, serviceID: 1, BeginServiceDeliveryRequest(clientID: clientID, serviceDeliveryToken: deliveryToken, unitsToSupply: 2))
        #expect(begin1.unitsToSupply == 2)
        let end1 = try await hte.endDelivery(baseURL: base, serviceID: 1, EndServiceDeliveryRequest(clientID: clientID, serviceDeliveryToken: deliveryToken, unitsReceived: 2))
        #expect(end1.unitsJustSupplied == 2)
        #expect(end1.unitsRemaining == 1)
        // A replayed end restores nothing.
        await #expect(throws: WPWError.self) {
            _ = try await hte.endDelivery(baseURL: base, serviceID: 1, EndServiceDeliveryRequest(clientID: clientID, serviceDeliveryToken: deliveryToken, unitsReceived: 2))
        }
        let begin2 = try await hte.beginDelivery(baseURL: base, serviceID: 1, BeginServiceDeliveryRequest(clientID: clientID, serviceDeliveryToken: deliveryToken, unitsToSupply: 5))
        #expect(begin2.unitsToSupply == 1)
        let end2 = try await hte.endDelivery(baseURL: base, serviceID: 1, EndServiceDeliveryRequest(clientID: clientID, serviceDeliveryToken: deliveryToken, unitsReceived: 1))
        #expect(end2.unitsRemaining == 0)
        // A forged token (altered signature) is refused.
        var forged = deliveryToken
        forged.signature = Array(repeating: 0, count: 32)
        await #expect(throws: WPWError.self) {
            _ = try await hte.beginDelivery(baseURL: base, serviceID: 1, BeginServiceDeliveryRequest(clientID: clientID, serviceDeliveryToken: forged, unitsToSupply: 1))
        }

        // The catalog over RPC; stock went down by the 3 units paid for.
        let listed = try await #require(try rpc.result("listServices").arrayValue)
        #expect(listed.first?["prices"]?.arrayValue?.first?["stock"] == 2)
        let added = try await rpc.call("addService", ["service": ["id": 2, "name": "Vacuum", "prices": [["id": 1, "amount": 200, "currencyCode": "GBP", "unitId": 2, "unitDescription": "minute"]]]])
        #expect(added["result"]?["id"] == 2)
        #expect(try await rpc.call("addService", ["service": ["id": 2, "name": "Again"]])["error"]?["code"] == -32016)
        #expect(try await rpc.call("addService", ["service": ["id": 3, "name": "Bad", "prices": [["id": 1, "amount": 0, "currencyCode": "GBP", "unitId": 1, "unitDescription": "x"]]]])["error"]?["code"] == -32027)
        // Replaced: its prices and stock as given, one producer.serviceReplaced; an unknown id is -32010.
        let replaced = try await rpc.call("replaceService", ["service": ["id": 2, "name": "Vacuum+", "prices": [["id": 1, "amount": 250, "currencyCode": "GBP", "unitId": 2, "unitDescription": "minute", "stock": 7]]]])
        #expect(replaced["result"]?["name"] == "Vacuum+", "\(replaced)")
        let vacuum = try #require(try await rpc.result("listServices").arrayValue?.first { $0["id"] == 2 })
        let price = vacuum["prices"]?.arrayValue?.first
        #expect(price?["amount"] == 250 && price?["stock"] == 7, "\(vacuum)")
        #expect(try await rpc.call("replaceService", ["service": ["id": 9, "name": "Nowhere"]])["error"]?["code"] == -32010)
        let replacedEvents = try await rpc.result("subscribe", ["types": ["producer.serviceReplaced"], "resumeFrom": 0])
        #expect(replacedEvents["replayed"] == 1, "\(replacedEvents)")
        #expect(try await rpc.readJSON()["params"]?["serviceId"] == 2)
        #expect(try await rpc.result("unsubscribe")["subscribed"] == false)
        #expect(try await rpc.result("removeService", ["serviceId": 2])["removed"] == true)
        #expect(try await rpc.call("removeService", ["serviceId": 2])["error"]?["code"] == -32010)

        await http.shutdown()
        gateway.shutdown()
        #expect(try await daemon.stop() == 0)
        _ = await sandbox.terminate()
        #expect(!daemon.log.contains("4444333322221111"))
    }
}
