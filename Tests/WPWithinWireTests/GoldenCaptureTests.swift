import Foundation
import Testing
import WPWithinCore
@testable import WPWithinWire

/// Our encodings against bytes the Go SDK actually sent.
@Suite struct GoldenCaptureTests {
    func roundTrip<T: Codable & Equatable>(_ type: T.Type, _ body: String) throws -> T {
        let value = try GoJSON.decode(type, from: body)
        #expect(try GoJSON.encodeString(value) == body, "re-encoding \(T.self) must give Go's exact bytes")
        #expect(try GoJSON.encodeLine(value) == Array((body + "\n").utf8))
        // Foundation's decoder reading our output agrees too.
        #expect(try GoJSON.decode(type, from: GoJSON.encode(value)) == value)
        return value
    }

    @Test func capturedHTEExchangeRoundTripsByteForByte() throws {
        let bodies = try Fixtures.hteBodies()
        try #require(bodies.count == 10)

        let discover = try roundTrip(ServiceListResponse.self, bodies[0])
        #expect(discover.serverID == "cfdc20bd-0076-4027-4577-f1dfa9dc6cae")
        #expect(discover.services == [ServiceDetails(serviceID: 1, serviceDescription: "Car washed by robot", serviceName: "RoboWash", serviceType: "wash")])

        let prices = try roundTrip(ServicePriceResponse.self, bodies[1])
        #expect(prices.prices?.count == 2)
        #expect(prices.prices?[1] == Price(priceID: 2, priceDescription: "SUV Wash", pricePerUnit: PricePerUnit(amount: 650, currencyCode: "GBP"), unitID: 1, unitDescription: "Single wash"))

        let totalRequest = try roundTrip(TotalPriceRequest.self, bodies[2])
        #expect(totalRequest == TotalPriceRequest(clientID: "bfef4e66-71ff-4a75-5a5c-5004a37463fe", selectedNumberOfUnits: 10, selectedPriceID: 1))

        let total = try roundTrip(TotalPriceResponse.self, bodies[3])
        #expect(total.totalPrice == 5000 && total.unitsToSupply == 10 && total.currencyCode == "GBP")
        #expect(total.paymentReferenceID == "f3fe04a9-d62b-4f86-645a-60e018d3da14")
        #expect(total.merchantClientKey == "T_C_97e8cbaa-14e0-4b1c-b2af-469daf8f1356")

        let payment = try roundTrip(PaymentRequest.self, bodies[4])
        #expect(payment.clientToken == "TEST_SU_89448b56-a64b-4977-b6ed-a7aceda83110")

        let paid = try roundTrip(PaymentResponse.self, bodies[5])
        let token = try #require(paid.serviceDeliveryToken)
        #expect(token.key == total.paymentReferenceID)
        #expect(token.signature == nil)
        #expect(token.refundOnExpiry == false)
        #expect(token.issued.instant == Instant(secondsSinceEpoch: 1_795_576_160, nanoseconds: 386_060_323))
        #expect(token.expiry.instant == Instant(secondsSinceEpoch: 1_795_576_160 + 7 * 86_400, nanoseconds: 386_060_433))
        #expect(token.issued.utcOffsetSeconds == 0)

        let begin = try roundTrip(BeginServiceDeliveryRequest.self, bodies[6])
        #expect(begin.serviceDeliveryToken == token && begin.unitsToSupply == 10)
        let begun = try roundTrip(BeginServiceDeliveryResponse.self, bodies[7])
        #expect(begun.unitsToSupply == 10 && begun.serviceDeliveryToken == token)
        let end = try roundTrip(EndServiceDeliveryRequest.self, bodies[8])
        #expect(end.unitsReceived == 10)
        let ended = try roundTrip(EndServiceDeliveryResponse.self, bodies[9])
        #expect(ended.unitsJustSupplied == 10 && ended.unitsRemaining == 0)
    }

    @Test func builtValuesEncodeToGoBytes() throws {
        let bodies = try Fixtures.hteBodies()
        let details = ServiceDetails(serviceID: 1, serviceDescription: "Car washed by robot", serviceName: "RoboWash", serviceType: "wash")
        #expect(try GoJSON.encodeString(ServiceListResponse(serverID: "cfdc20bd-0076-4027-4577-f1dfa9dc6cae", services: [details])) == bodies[0])
        let request = TotalPriceRequest(clientID: "bfef4e66-71ff-4a75-5a5c-5004a37463fe", selectedNumberOfUnits: 10, selectedPriceID: 1)
        #expect(try GoJSON.encodeString(request) == bodies[2])
    }

    @Test func pascalCaseServiceDetailsKeys() throws {
        let json = try GoJSON.encodeString(ServiceDetails(serviceID: 7, serviceDescription: "d", serviceName: "n", serviceType: "t"))
        #expect(json == #"{"ServiceID":7,"ServiceDescription":"d","ServiceName":"n","ServiceType":"t"}"#)
    }

    @Test func capturedErrorBodies() throws {
        let bodies = try Fixtures.errorBodies()
        try #require(bodies.count == 2)
        let notFound = try roundTrip(ErrorResponse.self, bodies[0])
        #expect(notFound == ErrorResponse(message: "Service not found for id 99"))
        #expect(notFound.description == "0 - Service not found for id 99 (0)")
        let price = try roundTrip(ErrorResponse.self, bodies[1])
        #expect(price.message == "Price not found for id 99")
        #expect(try GoJSON.encodeString(ErrorResponse(WPWError(.notFound, "Service not found for id 99"))) == bodies[0])
        // The Go producer's 500 panic body is a JSON string, not an ErrorResponse: Go consumers fail to decode it.
        #expect(throws: (any Error).self) { try GoJSON.decode(ErrorResponse.self, from: #""invalid memory address or nil pointer dereference""#) }
    }

    @Test func capturedBroadcastDatagram() throws {
        let captured = try Fixtures.bytes("broadcast-datagram.json")
        let message = try BroadcastMessage.parse(datagram: captured)
        #expect(message.scheme == "http://")
        #expect(message.portNumber == 64521)
        #expect(message.serviceTypes == ["wash"])
        #expect(message.baseURL == "http://127.0.0.1:64521")
        #expect(try message.datagram() == captured)
        let built = BroadcastMessage(
            deviceDescription: "Car service provided by robot...", hostname: "127.0.0.1",
            serverID: "cfdc20bd-0076-4027-4577-f1dfa9dc6cae", deviceName: "sample-producer-callbacks.go", serviceTypes: ["wash"])
        #expect(try built.datagram() == captured)
        #expect(captured.last != 0x0A)  // no newline in a datagram
    }
}
