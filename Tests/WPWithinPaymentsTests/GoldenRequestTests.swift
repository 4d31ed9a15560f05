import Foundation
import Logging
import Testing
import WPWithinCore
import WPWithinHTTP
import WPWithinPayments

/// The client's requests against what the Go SDK really sent (Fixtures/fakegw-e2e.jsonl), recorded by an
/// in-process WPWithinHTTP server that answers with the captured responses.
@Suite struct GoldenRequestTests {
    struct Capture {
        var path: String
        var headers: [String: JSONValue]
        var requestBody: JSONValue
        var responseBody: JSONValue
    }

    static func captures() throws -> [Capture] {
        let url = try #require(Bundle.module.url(forResource: "fakegw-e2e", withExtension: "jsonl", subdirectory: "Fixtures"))
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let value = try JSONDecoder().decode(JSONValue.self, from: Data(line.utf8))
            return Capture(
                path: try #require(value["path"]?.stringValue),
                headers: try #require(value["request_headers"]?.objectValue),
                requestBody: try #require(value["request_body"]),
                responseBody: try #require(value["response_body"])
            )
        }
    }

    actor Recorder {
        var requests: [HTTPRequest] = []
        func record(_ request: HTTPRequest) { requests.append(request) }
    }

    @Test func requestsMatchTheGoSDKCapture() async throws {
        let captures = try Self.captures()
        let tokenCapture = try #require(captures.first { $0.path == "/v1/tokens" })
        let orderCapture = try #require(captures.first { $0.path == "/v1/orders" })
        let recorder = Recorder()
        let encoder = JSONEncoder()
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let server = HTTPServer(
            configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0),
            logger: Logger(label: "golden", factory: { _ in SwiftLogNoOpLogHandler() }),
            onServerRunning: { port in portContinuation.yield(port) }
        ) { request in
            await recorder.record(request)
            let capture = request.path == "/v1/tokens" ? tokenCapture : orderCapture
            return .json(status: 200, body: (try? Array(encoder.encode(capture.responseBody))) ?? [])
        }

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())

            let tokenBody = try #require(tokenCapture.requestBody.objectValue)
            let method = try #require(tokenBody["paymentMethod"]?.objectValue)
            let card = PaymentCard(
                cardholderName: try #require(method["name"]?.stringValue), cardNumber: try #require(method["cardNumber"]?.stringValue),
                expiryMonth: Int(try #require(method["expiryMonth"]?.int64Value)), expiryYear: Int(try #require(method["expiryYear"]?.int64Value)),
                cvc: try #require(method["cvc"]?.stringValue)
            )
            let orderBody = try #require(orderCapture.requestBody.objectValue)
            let serviceKey = try #require(orderCapture.headers["Authorization"]?.stringValue)
            let gateway = WorldpayOnlineGateway(
                configuration: WorldpayOnlineConfiguration(
                    endpoint: try GatewayEndpoint("http://127.0.0.1:\(port)/v1"),
                    merchant: MerchantCredentials(clientKey: try #require(tokenBody["clientKey"]?.stringValue), serviceKey: serviceKey)
                ),
                logger: Logger(label: "golden", factory: { _ in SwiftLogNoOpLogHandler() })
            )

            let token = try await gateway.createToken(card: card, clientKey: try #require(tokenBody["clientKey"]?.stringValue))
            #expect(token.value == orderBody["token"]?.stringValue)
            let gbp = try #require(Currency(code: "GBP"))
            let description = OrderDescription.make(serviceName: "RoboWash", units: 10, unitPrice: Money(minorUnits: 500, currency: gbp))
            #expect(.string(description) == orderBody["orderDescription"])
            let result = try await gateway.placeOrder(
                OrderRequest(
                    token: token, amount: Money(minorUnits: try #require(orderBody["amount"]?.int64Value), currency: gbp),
                    orderDescription: description, customerOrderCode: try #require(orderBody["customerOrderCode"]?.stringValue)
                )
            )
            #expect(result.orderCode == orderCapture.responseBody["orderCode"]?.stringValue)
            #expect(result.maskedCardNumber == "************1111")

            let recorded = await recorder.requests
            try #require(recorded.count == 2)
            for (request, capture) in zip(recorded, [tokenCapture, orderCapture]) {
                #expect(request.method == "POST")
                #expect(request.path == capture.path)
                let body = try JSONDecoder().decode(JSONValue.self, from: Data(request.body))
                #expect(Self.keyPaths(body) == Self.keyPaths(capture.requestBody))
                #expect(body == capture.requestBody)
                // Same bytes as Go's encoding/json: same length, same key order.
                #expect(String(request.body.count) == capture.headers["Content-Length"]?.stringValue)
                #expect(request.headers["Content-Type"] == "application/json")
                #expect(request.headers["Authorization"] == capture.headers["Authorization"]?.stringValue)
            }
            let tokenText = String(decoding: recorded[0].body, as: UTF8.self)
            #expect(tokenText.hasPrefix(#"{"reusable":false,"paymentMethod":{"name":"Joe Bloggs","expiryMonth":12,"#))
            #expect(tokenText.contains(#""issueNumber":null,"startMonth":null,"startYear":null,"#))

            try await server.shutdownGracefully()
            try await group.waitForAll()
        }
    }

    /// Every key path in a JSON value (`paymentMethod.cardNumber`), sorted.
    static func keyPaths(_ value: JSONValue, prefix: String = "") -> [String] {
        guard let object = value.objectValue else { return [] }
        return object.flatMap { key, child in
            let path = prefix.isEmpty ? key : prefix + "." + key
            return [path] + keyPaths(child, prefix: path)
        }.sorted()
    }
}
