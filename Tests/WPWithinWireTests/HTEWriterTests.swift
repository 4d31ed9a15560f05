import Testing
import WPWithinCore
@testable import WPWithinWire

/// The one-pass writers of the HTE bodies give exactly the bytes of the ordered encoder, and the byte-wise
/// string escaping gives exactly what the scalar-by-scalar one gave.
@Suite struct HTEWriterTests {
    /// The escaping as it was written before (scalar by scalar): the oracle.
    static func scalarEscaped(_ s: String) -> [UInt8] {
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = [0x22]
        for scalar in s.unicodeScalars {
            switch scalar.value {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0x00..<0x20, 0x3C, 0x3E, 0x26:
                out += Array("\\u00".utf8) + [hex[Int(scalar.value >> 4)], hex[Int(scalar.value & 0xF)]]
            case 0x2028: out += Array("\\u2028".utf8)
            case 0x2029: out += Array("\\u2029".utf8)
            default: out += Array(String(scalar).utf8)
            }
        }
        return out + [0x22]
    }

    static let alphabet: [String] = [
        "a", "Z", "0", " ", "\"", "\\", "/", "\n", "\r", "\t", "\u{0}", "\u{1}", "\u{1F}", "\u{7F}", "<", ">", "&",
        "\u{2028}", "\u{2029}", "\u{2027}", "\u{202A}", "€", "é", "日", "🚗", "\u{E2}", "\u{80}",
    ]

    static func randomString<G: RandomNumberGenerator>(_ g: inout G, maxLength: Int = 24) -> String {
        String((0..<Int.random(in: 0...maxLength, using: &g)).map { _ in alphabet.randomElement(using: &g)! }.joined())
    }

    @Test func stringsAreEscapedAsBefore() {
        var g = SystemRandomNumberGenerator()
        for s in Self.alphabet + ["", "plain ascii only", "a\u{2028}b\u{2029}c€\u{E2}\u{80}"] {
            var out: [UInt8] = []
            GoJSON.writeString(s, into: &out)
            #expect(out == Self.scalarEscaped(s), "\(s.debugDescription)")
        }
        for _ in 0..<2000 {
            let s = Self.randomString(&g, maxLength: 40)
            var out: [UInt8] = []
            GoJSON.writeString(s, into: &out)
            #expect(out == Self.scalarEscaped(s), "\(s.debugDescription)")
        }
    }

    static func token<G: RandomNumberGenerator>(_ g: inout G) -> ServiceDeliveryToken {
        let instant = Instant(secondsSinceEpoch: Int64.random(in: 0...4_000_000_000, using: &g), nanoseconds: Int32.random(in: 0..<1_000_000_000, using: &g))
        return ServiceDeliveryToken(
            key: randomString(&g), issued: GoTime(instant, utcOffsetSeconds: [0, 3600, -18000].randomElement(using: &g)!),
            expiry: GoTime(instant), refundOnExpiry: Bool.random(using: &g),
            signature: Bool.random(using: &g) ? (0..<Int.random(in: 0...40, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) } : nil)
    }

    static func same<T: GoJSONWritable>(_ value: T) throws {
        #expect(try GoJSON.encode(value) == GoJSON.encodeThroughEncoder(value), "\(value)")
    }

    @Test func everyWriterMatchesTheEncoder() throws {
        var g = SystemRandomNumberGenerator()
        func s() -> String { Self.randomString(&g) }
        func i() -> Int { [0, 1, -1, Int.max, Int.min, Int.random(in: -1_000_000...1_000_000, using: &g)].randomElement(using: &g)! }
        for _ in 0..<300 {
            try Self.same(TotalPriceRequest(clientID: s(), selectedNumberOfUnits: i(), selectedPriceID: i()))
            try Self.same(TotalPriceResponse(
                serverID: s(), clientID: s(), priceID: i(), unitsToSupply: i(), totalPrice: i(), currencyCode: s(),
                paymentReferenceID: s(), merchantClientKey: s()))
            try Self.same(PaymentRequest(clientID: s(), clientToken: s(), paymentReferenceID: s()))
            try Self.same(Self.token(&g))
            try Self.same(PaymentResponse(serverID: s(), clientID: s(), totalPaid: i(), serviceDeliveryToken: Bool.random(using: &g) ? Self.token(&g) : nil))
            try Self.same(BeginServiceDeliveryRequest(clientID: s(), serviceDeliveryToken: Self.token(&g), unitsToSupply: i()))
            try Self.same(BeginServiceDeliveryResponse(serverID: s(), clientID: s(), serviceDeliveryToken: Self.token(&g), unitsToSupply: i()))
            try Self.same(EndServiceDeliveryRequest(clientID: s(), serviceDeliveryToken: Self.token(&g), unitsReceived: i()))
            try Self.same(EndServiceDeliveryResponse(
                serverID: s(), clientID: s(), serviceDeliveryToken: Self.token(&g), unitsJustSupplied: i(), unitsRemaining: i()))
        }
    }

    /// The consumer's begin and end splice the token as stored at purchase (its Go JSON) into the body: the
    /// bytes are those of encoding the request with the token decoded from what was stored.
    @Test func splicedTokensGiveTheSameBodies() throws {
        var g = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let stored = try GoJSON.encode(Self.token(&g))  // what recordPurchase keeps
            let token = try GoJSON.decode(ServiceDeliveryToken.self, from: stored)
            let client = Self.randomString(&g), units = Int.random(in: -5...1_000_000, using: &g)
            #expect(BeginServiceDeliveryRequest.goJSON(clientID: client, serviceDeliveryTokenJSON: stored, unitsToSupply: units)
                == (try GoJSON.encode(BeginServiceDeliveryRequest(clientID: client, serviceDeliveryToken: token, unitsToSupply: units))))
            #expect(EndServiceDeliveryRequest.goJSON(clientID: client, serviceDeliveryTokenJSON: stored, unitsReceived: units)
                == (try GoJSON.encode(EndServiceDeliveryRequest(clientID: client, serviceDeliveryToken: token, unitsReceived: units))))
        }
    }

    @Test func aTimeGoCannotWriteFailsOnBothPaths() {
        let far = GoTime(Instant(secondsSinceEpoch: 400_000_000_000))  // year > 9999
        let token = ServiceDeliveryToken(key: "k", issued: far, expiry: far, refundOnExpiry: false, signature: nil)
        #expect(throws: (any Error).self) { try GoJSON.encode(token) }
        #expect(throws: (any Error).self) { try GoJSON.encodeThroughEncoder(token) }
    }
}
