import Foundation
import Testing
import WPWithinCore
import WPWithinTestSupport

let merchant = SandboxGatewayProcess.Merchant.example

/// A `POST /tokens` body for the example merchant (the sandbox's magic cardholder names change its behaviour).
func tokenBody(name: String = "Joe Bloggs") -> JSONValue {
    [
        "reusable": false, "clientKey": .string(merchant.clientKey),
        "paymentMethod": [
            "name": .string(name), "expiryMonth": 12, "expiryYear": 2099, "cardNumber": "4444333322221111",
            "type": "Card", "cvc": "123",
        ],
    ]
}

func orderBody(token: String, reference: String, amount: Int64 = 500) -> JSONValue {
    [
        "token": .string(token), "amount": .int(amount), "currencyCode": "GBP",
        "orderDescription": "RoboWash", "customerOrderCode": .string(reference),
    ]
}

extension SandboxGatewayProcess {
    func newToken(name: String = "Joe Bloggs") async throws -> String {
        let response = try await request("POST", "/v1/tokens", json: tokenBody(name: name))
        return try #require(response.json?["token"]?.stringValue, "no token: \(response.status) \(response.text)")
    }

    func placeOrder(token: String, reference: String, amount: Int64 = 500) async throws -> LoopbackHTTPResponse {
        try await request("POST", "/v1/orders", json: orderBody(token: token, reference: reference, amount: amount), serviceKey: merchant.serviceKey)
    }

    func findOrder(reference: String) async throws -> LoopbackHTTPResponse {
        try await request("GET", "/v1/orders?customerOrderCode=\(reference)", serviceKey: merchant.serviceKey)
    }

    func lookupOrder(code: String) async throws -> LoopbackHTTPResponse {
        try await request("GET", "/v1/orders/\(code)", serviceKey: merchant.serviceKey)
    }

    func refund(code: String, amount: Int64? = nil) async throws -> LoopbackHTTPResponse {
        try await request("POST", "/v1/orders/\(code)/refund", json: amount.map { ["refundAmount": .int($0)] } ?? [:], serviceKey: merchant.serviceKey)
    }
}

/// A fresh directory, removed after `body`, and a sandbox in it (stopped after `body`).
func withSandbox<T>(
    stateFile: Bool = true, control: Bool = true, _ body: (SandboxGatewayProcess, TemporaryDirectory) async throws -> T
) async throws -> T {
    let directory = try TemporaryDirectory(prefix: "wpw-faulttools")
    defer { directory.remove() }
    let sandbox = try await SandboxGatewayProcess.launch(directory: directory.url.path, stateFile: stateFile, control: control)
    do {
        let result = try await body(sandbox, directory)
        await sandbox.stop()
        return result
    } catch {
        await sandbox.stop()
        throw error
    }
}

func uniqueReference() -> String { "ref-" + UUID().uuidString.lowercased() }
