import Foundation
import Testing
import WPWithinClient
import WPWithinCore
import WPWithinTestSupport

/// The typed results and events of the Swift client (issue 14): decoded without Foundation, a missing or
/// mistyped member a typed `.invalidResponse`, members a newer daemon adds ignored, unknown event types `.other`.
@Suite(.timeLimit(.minutes(1)))
struct TypedResultsTests {
    static let purchase: JSONValue = [
        "purchaseId": .int(9_007_199_254_740_993), "paymentReferenceId": "ref-1", "serverId": "s-1", "serviceId": 1,
        "priceId": 2, "producerUrl": "http://127.0.0.1:1", "currencyCode": "GBP", "totalPaid": 1500, "expiry": "2026-11-25T04:00:00Z",
        "unitsBought": 3, "unitsDelivered": 1, "unitsInFlight": 0, "unitsRemaining": 2, "unsettled": nil,
        "unitsRefunded": 0, "amountRefunded": 0, "refundStatus": nil,
    ]

    /// `purchase` with one member set (nil: removed).
    static func purchase(setting key: String, to value: JSONValue?) -> JSONValue {
        var members = purchase.objectValue ?? [:]
        members[key] = value
        return .object(members)
    }

    /// A fake daemon answering `method` with `result`, everything else as the standard fake.
    static func answering(_ method: String, _ result: JSONValue) -> FakeDaemon.Handler {
        { peer, request in
            guard request["method"]?.stringValue == method else { return try await FakeDaemon.standard(peer, request) }
            try await peer.send(JSONRPC.response(id: .init(json: request["id"]!)!, result: result))
        }
    }

    @Test func theMoneyCallsReturnTypedResults() async throws {
        try await withFakeDaemon(Self.answering("makePayment", Self.purchase)) { _, client in
            let purchase = try await client.makePayment(paymentReferenceId: "ref-1")
            #expect(purchase.purchaseId == 9_007_199_254_740_993, "integers stay exact")
            #expect(purchase.totalPaid == 1500)
            #expect(purchase.currencyCode == "GBP")
            #expect(purchase.unitsRemaining == 2)
            #expect(purchase.unsettled == nil)
        }
        try await withFakeDaemon(Self.answering("listPurchases", [Self.purchase, Self.purchase])) { _, client in
            let purchases = try await client.listPurchases()
            #expect(purchases.count == 2)
        }
        let quote: JSONValue = [
            "paymentReferenceId": "ref-1", "serverId": "s-1", "serviceId": 1, "priceId": 2, "currencyCode": "GBP",
            "merchantClientKey": "T_C_1", "totalPrice": 1500, "unitsToSupply": 3,
        ]
        try await withFakeDaemon(Self.answering("selectService", quote)) { _, client in
            let typed = try await client.selectService(.serverId("s-1"), serviceId: 1, priceId: 2, numberOfUnits: 3)
            #expect(typed == WPWithinClient.Quote(
                currencyCode: "GBP", merchantClientKey: "T_C_1", paymentReferenceId: "ref-1", priceId: 2, serverId: "s-1",
                serviceId: 1, totalPrice: 1500, unitsToSupply: 3))
        }
    }

    @Test func membersANewerDaemonAddsAreIgnored() async throws {
        let newer = Self.purchase(setting: "loyaltyPoints", to: 12)
        try await withFakeDaemon(Self.answering("makePayment", newer)) { _, client in
            let purchase = try await client.makePayment(paymentReferenceId: "ref-1")
            #expect(purchase.purchaseId == 9_007_199_254_740_993)
            // The raw JSON is still there, new member included.
            let raw = try await client.call("makePayment", params: ["paymentReferenceId": "ref-1"])
            #expect(raw["loyaltyPoints"] == 12)
        }
    }

    @Test func aMissingOrMistypedMemberIsAnInvalidResponseNamingIt() async throws {
        let missing = Self.purchase(setting: "totalPaid", to: nil)
        try await withFakeDaemon(Self.answering("makePayment", missing)) { _, client in
            let error = await #expect(throws: WPWithinClientError.self) { try await client.makePayment(paymentReferenceId: "r") }
            #expect(error?.code == .invalidResponse)
            #expect(error?.message.contains("the result of makePayment is not a Purchase") == true)
            #expect(error?.message.contains("\"totalPaid\" is missing") == true, "\(String(describing: error))")
        }
        let mistyped = Self.purchase(setting: "unitsBought", to: "3")
        try await withFakeDaemon(Self.answering("listPurchases", [Self.purchase, mistyped])) { _, client in
            let error = await #expect(throws: WPWithinClientError.self) { try await client.listPurchases() }
            #expect(error?.code == .invalidResponse)
            #expect(error?.message.contains("/1/unitsBought") == true, "\(String(describing: error))")
        }
        try await withFakeDaemon(Self.answering("listPurchases", ["not": "an array"])) { _, client in
            let error = await #expect(throws: WPWithinClientError.self) { try await client.listPurchases() }
            #expect(error?.code == .invalidResponse)
        }
    }

    @Test func eventsCarryATypedPayload() {
        let paid = WPWithinClient.Event(params: [
            "seq": 4, "type": "producer.paymentSucceeded", "time": "2026-11-25T04:00:00Z", "member": "m1", "fleetSeq": 40,
            "clientId": "c", "currencyCode": "GBP", "customerOrderCode": "o", "paymentReferenceId": "ref-1", "priceId": 1,
            "pspOrderCode": "p", "serviceId": 1, "totalAmount": 1500, "units": 3, "somethingNew": true,
        ])
        #expect(paid?.member == "m1")
        #expect(paid?.fleetSeq == 40)
        guard case .producerPaymentSucceeded(let payload) = paid?.payload else {
            Issue.record("not typed: \(String(describing: paid?.payload))")
            return
        }
        #expect(payload.totalAmount == 1500)
        #expect(payload.pspOrderCode == "p")

        let future = WPWithinClient.Event(params: ["seq": 5, "type": "producer.teleported", "time": "t", "where": "moon"])
        #expect(future?.payload == .other(type: "producer.teleported", params: ["seq": 5, "type": "producer.teleported", "time": "t", "where": "moon"]))

        let broken = WPWithinClient.Event(params: ["seq": 6, "type": "producer.serviceAdded", "time": "t", "serviceId": "one"])
        guard case .malformed(let type, _, let reason) = broken?.payload else {
            Issue.record("not malformed: \(String(describing: broken?.payload))")
            return
        }
        #expect(type == "producer.serviceAdded")
        #expect(reason.hasPrefix("/serviceId:"), "\(reason)")
        #expect(WPWithinClient.Event.Payload.knownTypes.count == 30)
    }
}

/// GeneratedTypes.swift is what scripts/generate-swift-types.py makes from the snapshot that a daemon test keeps
/// equal to the live rpc.discover: the Swift types cannot drift from the document.
@Suite struct GeneratedTypesTests {
    @Test func theGeneratedTypesAreUpToDate() async throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        guard let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            Issue.record("python3 is needed to check Sources/WPWithinClient/GeneratedTypes.swift")
            return
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [repository.appendingPathComponent("scripts/generate-swift-types.py").path, "--check"]
        let status = try await onOwnThread {
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }
        #expect(status == 0, "Sources/WPWithinClient/GeneratedTypes.swift is stale: run scripts/generate-swift-types.py")
    }
}
