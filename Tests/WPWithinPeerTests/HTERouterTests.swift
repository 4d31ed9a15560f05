import Foundation
import Testing
import WPWithinCore
import WPWithinHTTP
import WPWithinPeer
import WPWithinWire

/// `HTERouter` + a domain-backed `HTEProducer` served by a real `HTTPServer`, called with `HTEClient` and
/// with raw `HTTPClient` requests.
@Suite struct HTERouterTests {
    static let clientID = "bfef4e66-71ff-4a75-5a5c-5004a37463fe"

    /// Runs a router over `producer` and hands the base URL plus clients to `body`.
    func withProducer(
        _ producer: DomainProducer, prefix: String = "",
        _ body: @Sendable (String, HTEClient, HTTPClient) async throws -> Void
    ) async throws {
        let router = HTERouter(producer: producer, urlPrefix: prefix, logger: quietLogger)
        try await withHTTPServer(handler: router.handler) { port in
            let http = HTTPClient(logger: quietLogger)
            do {
                try await body("http://127.0.0.1:\(port)\(prefix)", HTEClient(http: http, logger: quietLogger), http)
            } catch {
                await http.shutdown()
                throw error
            }
            await http.shutdown()
        }
    }

    // MARK: Full flow

    @Test func fullPurchaseFlowOverHTTP() async throws {
        let producer = try DomainProducer()
        try await withProducer(producer) { base, client, _ in
            let services = try await client.services(baseURL: base)
            #expect(services.serverID == DomainProducer.serverID)
            #expect(services.services?.map(\.serviceName) == ["RoboWash", "Vacuum"])

            let prices = try await client.prices(baseURL: base, serviceID: 1)
            #expect(prices.prices?.map(\.priceID) == [1, 2])

            let total = try await client.requestTotal(
                baseURL: base, serviceID: 1, TotalPriceRequest(clientID: Self.clientID, selectedNumberOfUnits: 5, selectedPriceID: 1))
            #expect(total.totalPrice == 2500)
            #expect(total.unitsToSupply == 5)
            #expect(total.clientID == Self.clientID)
            #expect(Identifiers.isUUID(total.paymentReferenceID))

            let request = PaymentRequest(clientID: total.clientID, clientToken: "TEST_SU_token", paymentReferenceID: total.paymentReferenceID)
            let payment = try await client.payment(baseURL: base, request)
            let token = try #require(payment.serviceDeliveryToken)
            #expect(payment.totalPaid == 2500)
            #expect(token.key.utf8.count == 64)
            #expect(token.signature?.count == 32)
            // Paying again does not charge again: the same token comes back.
            #expect(try await client.payment(baseURL: base, request).serviceDeliveryToken == token)

            var remaining = 5
            var delivered = 0
            for ask in [2, 10] {
                let begin = try await client.beginDelivery(
                    baseURL: base, serviceID: 1, BeginServiceDeliveryRequest(clientID: Self.clientID, serviceDeliveryToken: token, unitsToSupply: ask))
                #expect(begin.unitsToSupply == min(ask, remaining))
                #expect(begin.serviceDeliveryToken == token)
                let end = try await client.endDelivery(
                    baseURL: base, serviceID: 1,
                    EndServiceDeliveryRequest(clientID: Self.clientID, serviceDeliveryToken: token, unitsReceived: begin.unitsToSupply))
                delivered += end.unitsJustSupplied
                remaining = end.unitsRemaining
            }
            #expect(delivered == 5)
            #expect(remaining == 0)

            let usedUp = await #expect(throws: WPWError.self) {
                try await client.beginDelivery(
                    baseURL: base, serviceID: 1, BeginServiceDeliveryRequest(clientID: Self.clientID, serviceDeliveryToken: token, unitsToSupply: 1))
            }
            #expect(usedUp?.code == .insufficientUnits)
            #expect(usedUp?.data?["httpStatus"] == 422)
        }
    }

    @Test func urlPrefixIsHonoured() async throws {
        let producer = try DomainProducer()
        try await withProducer(producer, prefix: "/hte") { base, client, http in
            #expect(base.hasSuffix("/hte"))
            #expect(try await client.services(baseURL: base).services?.count == 2)
            let root = base.replacingOccurrences(of: "/hte", with: "")
            let outside = try await http.execute(HTTPClientRequest(method: "GET", url: root + "/service/discover"), timeout: .seconds(10))
            #expect(outside.status == 404)
        }
    }

    // MARK: Errors

    struct Case: Sendable, CustomStringConvertible {
        var method: String
        var path: String
        var body: String?
        var status: Int
        var message: String?
        var description: String { "\(method) \(path) \(body ?? "")" }
    }

    /// Sends a raw request and checks the status and the Go-shaped error body.
    func check(_ c: Case, base: String, http: HTTPClient, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let response = try await http.execute(
            HTTPClientRequest(method: c.method, url: base + c.path, headers: ["Content-Type": "application/json"], body: Array((c.body ?? "").utf8)),
            timeout: .seconds(10))
        #expect(response.status == c.status, "\(c)", sourceLocation: sourceLocation)
        #expect(response.status != 500, "\(c)", sourceLocation: sourceLocation)
        #expect(response.headers["content-type"] == "application/json;charset=UTF-8", sourceLocation: sourceLocation)
        let text = String(decoding: response.body, as: UTF8.self)
        #expect(text.hasPrefix("{\"HTTPStatusCode\":\(c.status),\"message\":\""), "\(c): \(text)", sourceLocation: sourceLocation)
        #expect(text.hasSuffix("}\n"), sourceLocation: sourceLocation)
        let decoded = try GoJSON.decode(ErrorResponse.self, from: response.body)
        #expect(decoded.httpStatusCode == c.status, sourceLocation: sourceLocation)
        #expect(decoded.errorCode != 0, sourceLocation: sourceLocation)
        if let message = c.message { #expect(decoded.message == message, "\(c)", sourceLocation: sourceLocation) }
    }

    @Test func routingErrors() async throws {
        let producer = try DomainProducer()
        try await withProducer(producer) { base, _, http in
            let cases = [
                Case(method: "GET", path: "/nope", status: 404),
                Case(method: "GET", path: "/service/discover/", status: 404),
                Case(method: "GET", path: "/service/1/prices/extra", status: 404),
                Case(method: "GET", path: "/service//prices", status: 404),
                Case(method: "POST", path: "/service/discover", body: "{}", status: 405),
                Case(method: "GET", path: "/payment", status: 405),
                Case(method: "DELETE", path: "/service/1/delivery/begin", status: 405),
                Case(method: "GET", path: "/service/abc/prices", status: 400, message: "Unable to parse input service id"),
                Case(method: "POST", path: "/service/1x/requestTotal", body: "{}", status: 400, message: "Unable to parse input service id"),
                Case(method: "POST", path: "/service/99999999999999999999/delivery/end", body: "{}", status: 400),
                Case(method: "GET", path: "/service/99/prices", status: 404, message: "Service not found for id 99"),
                Case(method: "GET", path: "/service/-3/prices", status: 404, message: "Service not found for id -3"),
                // Our refund extension: POST only; a producer that does not implement refunds refuses them (409).
                Case(method: "GET", path: "/service/1/refund", status: 405),
                Case(method: "POST", path: "/service/x/refund", body: "{}", status: 400, message: "Unable to parse input service id"),
                Case(method: "POST", path: "/service/1/refund", body: "[1]", status: 422),
                Case(method: "POST", path: "/service/1/refund", body: "{}", status: 409, message: "this producer does not offer refunds"),
            ]
            for c in cases { try await check(c, base: base, http: http) }
            let wrongMethod = try await http.execute(HTTPClientRequest(method: "GET", url: base + "/payment"), timeout: .seconds(10))
            #expect(wrongMethod.headers["allow"] == "POST")
        }
    }

    @Test func requestTotalAndPaymentErrors() async throws {
        let producer = try DomainProducer()
        try await withProducer(producer) { base, client, http in
            let cases = [
                Case(method: "POST", path: "/service/1/requestTotal", body: "{not json", status: 422, message: "Unable to parse POST body"),
                Case(method: "POST", path: "/service/1/requestTotal", body: "", status: 422, message: "Unable to parse POST body"),
                Case(method: "POST", path: "/service/1/requestTotal", body: #"{"clientID":5,"selectedNumberOfUnits":1,"selectedPriceID":1}"#, status: 422),
                Case(method: "POST", path: "/service/1/requestTotal", body: #"{"clientID":"c","selectedNumberOfUnits":"1","selectedPriceID":1}"#, status: 422),
                Case(method: "POST", path: "/service/1/requestTotal", body: #"{"clientID":"c","selectedNumberOfUnits":1.5,"selectedPriceID":1}"#, status: 422),
                Case(method: "POST", path: "/service/1/requestTotal", body: #"{"clientID":"c","selectedNumberOfUnits":0,"selectedPriceID":1}"#, status: 400),
                Case(method: "POST", path: "/service/1/requestTotal", body: #"{"clientID":"c","selectedNumberOfUnits":-4,"selectedPriceID":1}"#, status: 400),
                Case(method: "POST", path: "/service/1/requestTotal", body: #"{"clientID":"","selectedNumberOfUnits":1,"selectedPriceID":1}"#, status: 400),
                Case(method: "POST", path: "/service/1/requestTotal", body: #"{"clientID":"c","selectedNumberOfUnits":1,"selectedPriceID":99}"#, status: 404, message: "Price not found for id 99"),
                Case(method: "POST", path: "/service/7/requestTotal", body: #"{"clientID":"c","selectedNumberOfUnits":1,"selectedPriceID":1}"#, status: 404, message: "Service not found for id 7"),
                Case(method: "POST", path: "/service/2/requestTotal", body: #"{"clientID":"c","selectedNumberOfUnits":6,"selectedPriceID":1}"#, status: 409),
                Case(method: "POST", path: "/service/1/requestTotal", body: #"{"clientID":"c","selectedNumberOfUnits":9223372036854775807,"selectedPriceID":1}"#, status: 400),
                Case(method: "POST", path: "/payment", body: "[]", status: 422),
                Case(method: "POST", path: "/payment", body: #"{"clientID":"c","clientToken":"T","paymentReferenceID":"nope"}"#, status: 404, message: "Unable to find order for payment ref nope"),
            ]
            for c in cases { try await check(c, base: base, http: http) }

            func quote() async throws -> TotalPriceResponse {
                try await client.requestTotal(baseURL: base, serviceID: 1, TotalPriceRequest(clientID: Self.clientID, selectedNumberOfUnits: 2, selectedPriceID: 1))
            }
            func pay(_ ref: String, client: String = Self.clientID, token: String) -> Case {
                Case(method: "POST", path: "/payment", body: String(decoding: try! GoJSON.encode(PaymentRequest(clientID: client, clientToken: token, paymentReferenceID: ref)), as: UTF8.self), status: 0)
            }
            let q = try await quote()
            var c = pay(q.paymentReferenceID, client: "someone-else", token: "T")
            c.status = 409
            c.message = "Client ID does not match Order Client ID"
            try await check(c, base: base, http: http)
            c = pay(q.paymentReferenceID, token: "DECLINE")
            c.status = 402
            try await check(c, base: base, http: http)
            c = pay(q.paymentReferenceID, token: "GATEWAY_DOWN")
            c.status = 503
            try await check(c, base: base, http: http)
            // A failed payment can be retried and then succeed.
            c = pay(q.paymentReferenceID, token: "OK")
            let paid = try await http.execute(HTTPClientRequest(method: "POST", url: base + "/payment", body: Array(c.body!.utf8)), timeout: .seconds(10))
            #expect(paid.status == 200)

            // An expired quote: 410.
            let late = try await quote()
            await producer.advance(by: .seconds(601))
            c = pay(late.paymentReferenceID, token: "OK")
            c.status = 410
            try await check(c, base: base, http: http)
            let expired = await #expect(throws: WPWError.self) {
                try await client.payment(baseURL: base, PaymentRequest(clientID: Self.clientID, clientToken: "T", paymentReferenceID: late.paymentReferenceID))
            }
            #expect(expired?.code == .expired)
        }
    }

    @Test func deliveryErrors() async throws {
        let producer = try DomainProducer()
        try await withProducer(producer) { base, client, http in
            let total = try await client.requestTotal(
                baseURL: base, serviceID: 1, TotalPriceRequest(clientID: Self.clientID, selectedNumberOfUnits: 3, selectedPriceID: 1))
            let token = try #require(try await client.payment(
                baseURL: base, PaymentRequest(clientID: Self.clientID, clientToken: "T", paymentReferenceID: total.paymentReferenceID)).serviceDeliveryToken)

            func begin(_ t: ServiceDeliveryToken, client: String = Self.clientID, units: Int = 1) -> String {
                String(decoding: try! GoJSON.encode(BeginServiceDeliveryRequest(clientID: client, serviceDeliveryToken: t, unitsToSupply: units)), as: UTF8.self)
            }
            func end(_ t: ServiceDeliveryToken, units: Int = 1) -> String {
                String(decoding: try! GoJSON.encode(EndServiceDeliveryRequest(clientID: Self.clientID, serviceDeliveryToken: t, unitsReceived: units)), as: UTF8.self)
            }
            var forgedKey = token
            forgedKey.key = String(repeating: "a", count: 64)
            var forgedSignature = token
            forgedSignature.signature = [UInt8](repeating: 7, count: 32)
            var unsigned = token
            unsigned.signature = nil

            let cases = [
                Case(method: "POST", path: "/service/1/delivery/begin", body: "{", status: 422),
                Case(method: "POST", path: "/service/1/delivery/begin", body: #"{"clientID":"c","serviceDeliveryToken":{"key":"k","issued":"yesterday"},"unitsToSupply":1}"#, status: 422),
                Case(method: "POST", path: "/service/1/delivery/begin", body: #"{"clientID":"c","serviceDeliveryToken":{"key":"k","signature":"!!"},"unitsToSupply":1}"#, status: 422),
                Case(method: "POST", path: "/service/1/delivery/begin", body: begin(forgedKey), status: 404, message: "Order not found for ServiceDeliveryToken"),
                Case(method: "POST", path: "/service/1/delivery/begin", body: begin(forgedSignature), status: 403, message: "Invalid ServiceDeliveryToken signature"),
                Case(method: "POST", path: "/service/1/delivery/begin", body: begin(unsigned), status: 403),
                Case(method: "POST", path: "/service/1/delivery/begin", body: begin(token, client: "intruder"), status: 403, message: "ServiceDeliveryToken was not issued to this client"),
                Case(method: "POST", path: "/service/2/delivery/begin", body: begin(token), status: 404, message: "Could not deliver service. Please contact service provider."),
                Case(method: "POST", path: "/service/1/delivery/begin", body: begin(token, units: 0), status: 400),
                Case(method: "POST", path: "/service/1/delivery/begin", body: begin(token, units: -2), status: 400),
                Case(method: "POST", path: "/service/1/delivery/end", body: end(token), status: 409),
                Case(method: "POST", path: "/service/1/delivery/end", body: end(forgedKey), status: 404),
                Case(method: "POST", path: "/service/1/delivery/end", body: "null", status: 404),
            ]
            for c in cases { try await check(c, base: base, http: http) }

            let forged = await #expect(throws: WPWError.self) {
                try await client.beginDelivery(baseURL: base, serviceID: 1, BeginServiceDeliveryRequest(clientID: Self.clientID, serviceDeliveryToken: forgedSignature, unitsToSupply: 1))
            }
            #expect(forged?.code == .invalidToken)

            // Begin in time, then the token expires: begin is refused (410), end still closes the delivery.
            let begun = try await client.beginDelivery(
                baseURL: base, serviceID: 1, BeginServiceDeliveryRequest(clientID: Self.clientID, serviceDeliveryToken: token, unitsToSupply: 1))
            #expect(begun.unitsToSupply == 1)
            await producer.advance(by: .seconds(8 * 86_400))
            try await check(
                Case(method: "POST", path: "/service/1/delivery/begin", body: begin(token), status: 410, message: "ServiceDeliveryToken has expired"),
                base: base, http: http)
            let closed = try await client.endDelivery(
                baseURL: base, serviceID: 1, EndServiceDeliveryRequest(clientID: Self.clientID, serviceDeliveryToken: token, unitsReceived: 1))
            #expect(closed.unitsRemaining == 2)
        }
    }

    // MARK: Byte-level comparison with the Go captures

    /// Replaces values that legitimately differ between runs (order id, token key, times, signature).
    static func normalise(_ text: String) -> String {
        var out = text
        out = out.replacing(/"paymentReferenceID":"[^"]*"/, with: #""paymentReferenceID":"<REF>""#)
        out = out.replacing(/"key":"[^"]*"/, with: #""key":"<KEY>""#)
        out = out.replacing(/"issued":"[^"]*"/, with: #""issued":"<T>""#)
        out = out.replacing(/"expiry":"[^"]*"/, with: #""expiry":"<T>""#)
        out = out.replacing(/"signature":(null|"[^"]*")/, with: #""signature":<SIG>"#)
        return out
    }

    @Test func successBodiesMatchTheGoCapturesByteForByte() async throws {
        let exchanges = try Captures.hteExchanges()
        let catalog = try Catalog(services: [
            WPWithinCore.Service(
                id: 1, name: "RoboWash", description: "Car washed by robot", serviceType: "wash",
                prices: [
                    try WPWithinCore.Price(id: 1, description: "Car wash", amount: 500, currencyCode: "GBP", unitID: 1, unitDescription: "Single wash"),
                    try WPWithinCore.Price(id: 2, description: "SUV Wash", amount: 650, currencyCode: "GBP", unitID: 1, unitDescription: "Single wash"),
                ])
        ])
        let producer = try DomainProducer(catalog: catalog)
        try await withProducer(producer) { base, _, http in
            var token: ServiceDeliveryToken?
            var reference = ""
            for exchange in exchanges {
                var body = exchange.requestBody ?? ""
                if exchange.path == "/payment" {
                    body = String(decoding: try GoJSON.encode(PaymentRequest(clientID: Self.clientID, clientToken: "TEST_SU_x", paymentReferenceID: reference)), as: UTF8.self)
                } else if exchange.path.hasSuffix("/delivery/begin"), let token {
                    body = String(decoding: try GoJSON.encode(BeginServiceDeliveryRequest(clientID: Self.clientID, serviceDeliveryToken: token, unitsToSupply: 10)), as: UTF8.self)
                } else if exchange.path.hasSuffix("/delivery/end"), let token {
                    body = String(decoding: try GoJSON.encode(EndServiceDeliveryRequest(clientID: Self.clientID, serviceDeliveryToken: token, unitsReceived: 10)), as: UTF8.self)
                }
                let response = try await http.execute(
                    HTTPClientRequest(method: exchange.method, url: base + exchange.path, headers: ["Content-Type": "application/json"], body: Array(body.utf8)),
                    timeout: .seconds(10))
                #expect(response.status == exchange.status, "\(exchange.path)")
                #expect(response.headers["content-type"] == exchange.contentType)
                let ours = String(decoding: response.body, as: UTF8.self)
                #expect(Self.normalise(ours) == Self.normalise(exchange.responseBody) + "\n", "\(exchange.path)")
                if exchange.path.hasSuffix("/requestTotal") {
                    reference = try GoJSON.decode(TotalPriceResponse.self, from: response.body).paymentReferenceID
                }
                if exchange.path == "/payment" {
                    token = try GoJSON.decode(PaymentResponse.self, from: response.body).serviceDeliveryToken
                    // The times keep Go's RFC 3339 shape: nanoseconds, `Z`.
                    #expect(ours.contains(#""issued":"2026-11-25T03:09:20.386060323Z""#))
                }
            }
            #expect(token != nil)
        }
    }

    @Test func errorStatusTable() {
        #expect(HTEStatus.forError(.notFound) == 404)
        #expect(HTEStatus.forError(.invalidParams) == 400)
        #expect(HTEStatus.forError(.amountInvalid) == 400)
        #expect(HTEStatus.forError(.insufficientUnits) == 422)
        #expect(HTEStatus.forError(.parseError) == 422)
        #expect(HTEStatus.forError(.outOfStock) == 409)
        #expect(HTEStatus.forError(.credentials) == 502)
        #expect(HTEStatus.forError(.conflict) == 409)
        #expect(HTEStatus.forError(.invalidToken) == 403)
        #expect(HTEStatus.forError(.expired) == 410)
        #expect(HTEStatus.forError(.paymentDeclined) == 402)
        #expect(HTEStatus.forError(.gatewayRejected) == 502)
        #expect(HTEStatus.forError(.gatewayUnavailable) == 503)
        #expect(HTEStatus.forError(.gatewayTimeout) == 504)
        #expect(HTEStatus.forError(.internalError) == 500)
    }
}
