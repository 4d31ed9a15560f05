import Foundation
import Testing
import WPWithinCore
import WPWithinHTTP
@testable import WPWithinPeer
import WPWithinWire
import WPWithinTestSupport

/// Our `HTEClient` against a fake Go producer that replays the captured Go response bytes
/// (`Fixtures/http-e2e-follow.txt`, `Fixtures/hte-error-examples.txt`).
@Suite struct GoProducerGoldenTests {
    struct Received: Sendable {
        var method: String
        var path: String
        var body: [UInt8]
        var contentType: String?
    }

    /// A handler answering each captured request with the captured response (status, content type, body + `\n`).
    static func goProducer(_ exchanges: [Captures.Exchange], recorder: Recorder<Received>) -> HTTPHandler {
        { request in
            recorder.append(Received(method: request.method, path: request.path, body: request.body, contentType: request.headers["content-type"]))
            guard let exchange = exchanges.first(where: { $0.method == request.method && $0.path == request.path }) else {
                return HTTPResponse(status: 404, headers: ["Content-Type": "text/plain; charset=utf-8"], body: Array("404 page not found\n".utf8))
            }
            return HTTPResponse(
                status: exchange.status, headers: ["Content-Type": exchange.contentType], body: Array((exchange.responseBody + "\n").utf8))
        }
    }

    @Test func fixtureParsesIntoSixExchanges() throws {
        let exchanges = try Captures.hteExchanges()
        #expect(exchanges.map(\.path) == [
            "/service/discover", "/service/1/prices", "/service/1/requestTotal", "/payment",
            "/service/1/delivery/begin", "/service/1/delivery/end",
        ])
        for exchange in exchanges {
            #expect(exchange.status == 200)
            #expect(exchange.contentType == "application/json;charset=UTF-8")
            // Go's json.Encoder adds "\n": the captured Content-Length counts it.
            #expect(exchange.contentLength == exchange.responseBody.utf8.count + 1)
        }
    }

    @Test func decodesEveryCapturedGoResponseAndSendsGoIdenticalRequests() async throws {
        let exchanges = try Captures.hteExchanges()
        let recorder = Recorder<Received>()
        try await withHTTPServer(handler: Self.goProducer(exchanges, recorder: recorder)) { port in
            let http = HTTPClient(logger: quietLogger)
            let client = HTEClient(http: http, logger: quietLogger)
            let base = "http://127.0.0.1:\(port)"
            let serverID = "cfdc20bd-0076-4027-4577-f1dfa9dc6cae"
            let clientID = "bfef4e66-71ff-4a75-5a5c-5004a37463fe"

            let services = try await client.services(baseURL: base)
            #expect(services.serverID == serverID)
            #expect(services.services == [ServiceDetails(serviceID: 1, serviceDescription: "Car washed by robot", serviceName: "RoboWash", serviceType: "wash")])

            let prices = try await client.prices(baseURL: base, serviceID: 1)
            #expect(prices.prices?.map(\.priceID) == [1, 2])
            #expect(prices.prices?.last?.pricePerUnit == PricePerUnit(amount: 650, currencyCode: "GBP"))

            let total = try await client.requestTotal(
                baseURL: base, serviceID: 1, TotalPriceRequest(clientID: clientID, selectedNumberOfUnits: 10, selectedPriceID: 1))
            #expect(total.totalPrice == 5000)
            #expect(total.paymentReferenceID == "f3fe04a9-d62b-4f86-645a-60e018d3da14")
            #expect(total.merchantClientKey == "T_C_97e8cbaa-14e0-4b1c-b2af-469daf8f1356")

            let payment = try await client.payment(
                baseURL: base,
                PaymentRequest(clientID: total.clientID, clientToken: "TEST_SU_89448b56-a64b-4977-b6ed-a7aceda83110", paymentReferenceID: total.paymentReferenceID))
            let token = try #require(payment.serviceDeliveryToken)
            #expect(payment.totalPaid == 5000)
            #expect(token.signature == nil)
            #expect(token.issued.instant.nanoseconds == 386_060_323)

            let begin = try await client.beginDelivery(
                baseURL: base, serviceID: 1, BeginServiceDeliveryRequest(clientID: clientID, serviceDeliveryToken: token, unitsToSupply: 10))
            #expect(begin.unitsToSupply == 10)
            #expect(begin.serviceDeliveryToken == token)

            let end = try await client.endDelivery(
                baseURL: base, serviceID: 1, EndServiceDeliveryRequest(clientID: clientID, serviceDeliveryToken: token, unitsReceived: 10))
            #expect(end.unitsJustSupplied == 10)
            #expect(end.unitsRemaining == 0)

            // What we sent is byte-for-byte what the Go consumer sent (token echoed with 9-digit fractions).
            let received = recorder.all
            #expect(received.count == 6)
            for (sent, captured) in zip(received, exchanges) {
                #expect(sent.method == captured.method)
                #expect(sent.path == captured.path)
                #expect(String(decoding: sent.body, as: UTF8.self) == (captured.requestBody ?? ""))
                if captured.method == "POST" { #expect(sent.contentType == "application/json") }
            }
            await http.shutdown()
        }
    }

    @Test func goErrorBodiesBecomeTypedErrors() async throws {
        let errors = try Captures.errorExchanges()
        #expect(errors.map(\.status) == [404, 404, 500])
        let recorder = Recorder<Received>()
        try await withHTTPServer(handler: Self.goProducer(errors, recorder: recorder)) { port in
            let http = HTTPClient(logger: quietLogger)
            let client = HTEClient(http: http, logger: quietLogger)
            let base = "http://127.0.0.1:\(port)"

            let noService = await #expect(throws: WPWError.self) { try await client.prices(baseURL: base, serviceID: 99) }
            #expect(noService?.code == .notFound)
            #expect(noService?.message == "Service not found for id 99")
            #expect(noService?.data?["httpStatus"] == 404)
            #expect(noService?.data?["errorCode"] == 0)

            let noPrice = await #expect(throws: WPWError.self) {
                try await client.requestTotal(baseURL: base, serviceID: 1, TotalPriceRequest(clientID: "c1", selectedNumberOfUnits: 1, selectedPriceID: 99))
            }
            #expect(noPrice?.code == .notFound)
            #expect(noPrice?.message == "Price not found for id 99")
            // The request body matches the captured one too.
            #expect(recorder.all.last.map { String(decoding: $0.body, as: UTF8.self) } == errors[1].requestBody)

            // Go's nil-dereference panic: HTTP 500 with a JSON string body.
            let panic = await #expect(throws: WPWError.self) {
                try await client.payment(baseURL: base, PaymentRequest(clientID: "c1", clientToken: "T", paymentReferenceID: "nope"))
            }
            #expect(panic?.code == .peerProtocol)
            #expect(panic?.data?["httpStatus"] == 500)

            // Unknown route on a Go producer: text/plain 404 without an ErrorResponse.
            let unknown = await #expect(throws: WPWError.self) { try await client.services(baseURL: base + "/nowhere") }
            #expect(unknown?.code == .peerProtocol)
            await http.shutdown()
        }
    }

    @Test func goStyleStatusesMapToPeerRejected() {
        let body = Array(#"{"HTTPStatusCode":0,"message":"Client ID does not match Order Client ID","errorCode":0}"#.utf8)
        let error = HTEClient.rejection(status: 400, body: body, route: "/payment")
        #expect(error.code == .peerRejected)
        #expect(error.message == "Client ID does not match Order Client ID")
        // A Go 422 (bad JSON) is not mistaken for insufficientUnits.
        #expect(HTEClient.rejection(status: 422, body: Array(#"{"HTTPStatusCode":0,"message":"Unable to parse POST body","errorCode":0}"#.utf8), route: "/x").code == .peerRejected)
        #expect(HTEClient.rejection(status: 422, body: Array(#"{"HTTPStatusCode":422,"message":"Too many units requested","errorCode":-32013}"#.utf8), route: "/x").code == .insufficientUnits)
        #expect(HTEClient.rejection(status: 403, body: Array(#"{"message":"Invalid ServiceDeliveryToken key"}"#.utf8), route: "/x").code == .invalidToken)
        #expect(HTEClient.rejection(status: 410, body: Array(#"{"message":"ServiceDeliveryToken has expired"}"#.utf8), route: "/x").code == .expired)
        #expect(HTEClient.rejection(status: 502, body: Array("<html>".utf8), route: "/x").code == .peerProtocol)
    }

    @Test func unreachableProducerIsPeerUnreachable() async throws {
        let port = try unusedLoopbackPort()
        let http = HTTPClient(logger: quietLogger)
        let client = HTEClient(http: http, logger: quietLogger)
        let error = await #expect(throws: WPWError.self) { try await client.services(baseURL: "http://127.0.0.1:\(port)") }
        #expect(error?.code == .peerUnreachable)
        #expect(error?.data?["requestMayHaveReachedPeer"] == false)
        await http.shutdown()
    }

    @Test func garbageSuccessBodyIsPeerProtocol() async throws {
        try await withHTTPServer(handler: { _ in HTTPResponse(status: 200, body: Array("not json".utf8)) }) { port in
            let http = HTTPClient(logger: quietLogger)
            let client = HTEClient(http: http, logger: quietLogger)
            let error = await #expect(throws: WPWError.self) { try await client.services(baseURL: "http://127.0.0.1:\(port)") }
            #expect(error?.code == .peerProtocol)
            await http.shutdown()
        }
    }
}
