import Foundation
import Testing
import WPWithinCore
@testable import WPWithinWire

@Suite struct GoJSONDecodingTests {
    /// A fleet member's service list names its fleet (our extension); a single producer's says nothing, so
    /// its bytes stay Go's; an answer without the key (a Go producer's) reads as no fleet.
    @Test func theFleetIDIsAnExtensionSentOnlyByAFleetMember() throws {
        let member = ServiceListResponse(serverID: "s", services: nil, fleetID: "f")
        #expect(try GoJSON.encodeString(member) == #"{"serverID":"s","services":null,"fleetID":"f"}"#)
        #expect(try GoJSON.decode(ServiceListResponse.self, from: #"{"serverID":"s","services":null,"fleetID":"f"}"#) == member)
        #expect(try GoJSON.encodeString(ServiceListResponse(serverID: "s", services: nil)) == #"{"serverID":"s","services":null}"#)
        #expect(try GoJSON.decode(ServiceListResponse.self, from: #"{"serverID":"s","services":null}"#).fleetID == nil)
    }

    @Test func keysMatchIgnoringCaseLikeGo() throws {
        let details = try GoJSON.decode(ServiceDetails.self, from: #"{"serviceid":3,"SERVICEDESCRIPTION":"d","serviceName":"n","servicetype":"t"}"#)
        #expect(details == ServiceDetails(serviceID: 3, serviceDescription: "d", serviceName: "n", serviceType: "t"))
        let request = try GoJSON.decode(TotalPriceRequest.self, from: #"{"ClientId":"c","SelectedNumberOfUnits":2,"selectedpriceid":5}"#)
        #expect(request == TotalPriceRequest(clientID: "c", selectedNumberOfUnits: 2, selectedPriceID: 5))
        let error = try GoJSON.decode(ErrorResponse.self, from: #"{"httpStatusCode":404,"Message":"m","ERRORCODE":2}"#)
        #expect(error == ErrorResponse(httpStatusCode: 404, message: "m", errorCode: 2))
    }

    @Test func exactKeyWinsOverAFoldedOne() throws {
        let token = try GoJSON.decode(ServiceDeliveryToken.self, from: #"{"KEY":"folded","key":"exact"}"#)
        #expect(token.key == "exact")
    }

    @Test func nullListsAndMissingKeysGiveZeroValues() throws {
        let list = try GoJSON.decode(ServiceListResponse.self, from: #"{"serverID":"s","services":null}"#)
        #expect(list.services == nil)
        #expect(try GoJSON.encodeString(list) == #"{"serverID":"s","services":null}"#)
        let prices = try GoJSON.decode(ServicePriceResponse.self, from: #"{"serverID":"s","prices":null}"#)
        #expect(prices.prices == nil)
        #expect(try GoJSON.encodeString(prices) == #"{"serverID":"s","prices":null}"#)
        let empty = try GoJSON.decode(TotalPriceResponse.self, from: "{}")
        #expect(empty == TotalPriceResponse(serverID: "", clientID: "", priceID: 0, unitsToSupply: 0, totalPrice: 0, currencyCode: "", paymentReferenceID: "", merchantClientKey: ""))
        let begin = try GoJSON.decode(BeginServiceDeliveryRequest.self, from: #"{"clientID":"c","serviceDeliveryToken":null,"unitsToSupply":null,"extra":[1,2]}"#)
        #expect(begin.serviceDeliveryToken == .zero && begin.unitsToSupply == 0)
        #expect(begin.serviceDeliveryToken.expiry.isZero)
        let topLevelNull = try GoJSON.decode(PaymentRequest.self, from: "null")
        #expect(topLevelNull == PaymentRequest(clientID: "", clientToken: "", paymentReferenceID: ""))
        let broadcast = try GoJSON.decode(BroadcastMessage.self, from: #"{"serviceTypes":null}"#)
        #expect(broadcast.serviceTypes == [] && broadcast.serverID == "")
        let paid = try GoJSON.decode(PaymentResponse.self, from: #"{"serverID":"s","serviceDeliveryToken":null}"#)
        #expect(paid.serviceDeliveryToken == nil)
    }

    @Test func wrongTypesAreRejected() {
        #expect(throws: (any Error).self) { try GoJSON.decode(TotalPriceRequest.self, from: #"{"selectedNumberOfUnits":"10"}"#) }
        #expect(throws: (any Error).self) { try GoJSON.decode(TotalPriceRequest.self, from: #"{"clientID":5}"#) }
        #expect(throws: (any Error).self) { try GoJSON.decode(TotalPriceRequest.self, from: #"{"selectedNumberOfUnits":10.5}"#) }
        #expect(throws: (any Error).self) { try GoJSON.decode(TotalPriceRequest.self, from: "[]") }
        #expect(throws: (any Error).self) { try GoJSON.decode(ServiceDeliveryToken.self, from: #"{"expiry":"2017-09-01 10:00:00Z"}"#) }
        #expect(throws: (any Error).self) { try GoJSON.decode(ServiceDeliveryToken.self, from: #"{"signature":"not base64!"}"#) }
    }
}

@Suite struct GoJSONEncodingTests {
    @Test func escapesLikeGo() throws {
        let error = ErrorResponse(message: "a<b>&c \"q\" \\ / \n\t\r \u{01} \u{1F} \u{2028}\u{2029} é 😀")
        #expect(try GoJSON.encodeString(error)
            == #"{"HTTPStatusCode":0,"message":"a\u003cb\u003e\u0026c \"q\" \\ / \n\t\r \u0001 \u001f \u2028\u2029 é 😀","errorCode":0}"#)
        let back = try GoJSON.decode(ErrorResponse.self, from: GoJSON.encode(error))
        #expect(back == error)
    }

    @Test func taggedServiceWritesPricesAsAnObjectSortedLikeGo() throws {
        let p2 = Price(priceID: 2, priceDescription: "b", pricePerUnit: PricePerUnit(amount: 5, currencyCode: "GBP"), unitID: 1, unitDescription: "u")
        let p10 = Price(priceID: 10, priceDescription: "a", pricePerUnit: nil, unitID: 1, unitDescription: "u")
        let service = Service(serviceID: 1, name: "n", description: "d", serviceType: "", prices: [2: p2, 10: p10])
        let json = try GoJSON.encodeString(service)
        #expect(json == #"{"serviceID":1,"name":"n","description":"d","serviceType":"","prices":{"10":{"priceID":10,"priceDescription":"a","pricePerUnit":null,"unitID":1,"unitDescription":"u"},"2":{"priceID":2,"priceDescription":"b","pricePerUnit":{"amount":5,"currencyCode":"GBP"},"unitID":1,"unitDescription":"u"}}}"#)
        #expect(try GoJSON.decode(Service.self, from: json) == service)
        #expect(try GoJSON.encodeString(Service(serviceID: 1, name: "n", description: "", serviceType: "", prices: nil)).hasSuffix(#""prices":null}"#))
    }

    @Test func signedTokenCarriesBase64AndEchoesExactly() throws {
        let issued = try GoTime(parsing: "2017-09-01T10:00:00.123456+01:00")
        let expiry = try GoTime(parsing: "2017-09-08T10:00:00.1234567-05:30")
        let token = ServiceDeliveryToken(key: "k", issued: issued, expiry: expiry, refundOnExpiry: true, signature: [0xFF, 0x00, 0x10])
        let json = try GoJSON.encodeString(token)
        #expect(json == #"{"key":"k","issued":"2017-09-01T10:00:00.123456+01:00","expiry":"2017-09-08T10:00:00.1234567-05:30","refundOnExpiry":true,"signature":"/wAQ"}"#)
        let back = try GoJSON.decode(ServiceDeliveryToken.self, from: json)
        #expect(back == token)
        #expect(try GoJSON.encodeString(back) == json)
        #expect(try GoJSON.decode(ServiceDeliveryToken.self, from: #"{"signature":""}"#).signature == [])
    }

    @Test func emptyBroadcastTypesAreAnArray() throws {
        let message = BroadcastMessage(deviceDescription: "d", hostname: "10.0.0.1", serverID: "s", deviceName: "n", serviceTypes: [])
        #expect(try GoJSON.encodeString(message) == #"{"deviceDescription":"d","hostname":"10.0.0.1","portNumber":64521,"serverID":"s","urlPrefix":"","scheme":"http://","deviceName":"n","serviceTypes":[]}"#)
        let huge = BroadcastMessage(deviceDescription: String(repeating: "x", count: 3000), hostname: "h", serverID: "s", deviceName: "n", serviceTypes: [])
        #expect(throws: EncodingError.self) { try huge.datagram() }
    }
}

@Suite struct DomainMappingTests {
    @Test func quoteToTotalPriceResponse() throws {
        let gbp = try #require(Currency(code: "GBP"))
        let quote = Quote(
            paymentReferenceID: "f3fe04a9-d62b-4f86-845a-60e018d3da14", serverID: "srv", clientID: "cli", serviceID: 1,
            serviceName: "RoboWash", priceID: 1, unitID: 1, unitDescription: "Single wash", units: 10,
            unitPrice: Money(minorUnits: 500, currency: gbp), total: Money(minorUnits: 5000, currency: gbp),
            createdAt: Instant(secondsSinceEpoch: 0), expiresAt: Instant(secondsSinceEpoch: 600))
        #expect(try GoJSON.encodeString(TotalPriceResponse(quote, merchantClientKey: "T_C_x"))
            == #"{"serverID":"srv","clientID":"cli","priceID":1,"unitsToSupply":10,"totalPrice":5000,"currencyCode":"GBP","paymentReferenceID":"f3fe04a9-d62b-4f86-845a-60e018d3da14","merchantClientKey":"T_C_x"}"#)
        let domainPrice = try WPWithinCore.Price(id: 1, description: "Car wash", amount: 500, currencyCode: "GBP", unitID: 1, unitDescription: "Single wash")
        #expect(try GoJSON.encodeString(WPWithinWire.Price(domainPrice)) == #"{"priceID":1,"priceDescription":"Car wash","pricePerUnit":{"amount":500,"currencyCode":"GBP"},"unitID":1,"unitDescription":"Single wash"}"#)
        let service = try WPWithinCore.Service(id: 1, name: "RoboWash", description: "Car washed by robot", serviceType: "wash", prices: [domainPrice])
        #expect(ServiceDetails(service) == ServiceDetails(serviceID: 1, serviceDescription: "Car washed by robot", serviceName: "RoboWash", serviceType: "wash"))
    }

    @Test func domainTokenToWireAndBack() throws {
        let token = DeliveryToken(
            key: "ab", issued: Instant(secondsSinceEpoch: 1_504_256_400, nanoseconds: 123_000_000),
            expiry: Instant(secondsSinceEpoch: 1_504_861_200), refundOnExpiry: false, signature: [1, 2, 3])
        let wire = ServiceDeliveryToken(token, utcOffsetSeconds: 3600)
        #expect(try GoJSON.encodeString(wire) == #"{"key":"ab","issued":"2017-09-01T10:00:00.123+01:00","expiry":"2017-09-08T10:00:00+01:00","refundOnExpiry":false,"signature":"AQID"}"#)
        let presented = wire.presented
        #expect(presented == PresentedToken(token))
    }
}
