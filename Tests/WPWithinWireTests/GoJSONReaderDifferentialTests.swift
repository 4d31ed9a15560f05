import Testing
import WPWithinCore
@testable import WPWithinWire

/// The one-pass reader (`GoJSON.decode` of a `GoJSONReadable`) against the path it replaces, the `JSONValue`
/// parser and `init(from:)` through `JSONValueDecoder` (the oracle): for every wire type and every body, the
/// same value, or both refuse it with the same kind of error.
///
/// Where the oracle differs from Go's encoding/json, the reader keeps the oracle's behaviour; the cases say
/// what Go would do. Two oracle results depend on its dictionary's order (random per process), so no case
/// has them: two keys that both only fold to one field ("AMOUNT" and "Amount"), and a Go map with two keys for
/// one id ("1" and "01") or two bad prices of different kinds.
@Suite struct GoJSONReaderDifferentialTests {
    // MARK: The comparison

    /// How a decode refused a body. A syntax error is a `dataCorrupted` that carries the parser's error.
    enum Refusal: Equatable {
        case syntax, dataCorrupted, typeMismatch, valueNotFound, keyNotFound, other(String)

        init(_ error: any Error) {
            guard let error = error as? DecodingError else {
                self = .other("\(Swift.type(of: error))")
                return
            }
            switch error {
            case .dataCorrupted(let context): self = context.underlyingError == nil ? .dataCorrupted : .syntax
            case .typeMismatch: self = .typeMismatch
            case .valueNotFound: self = .valueNotFound
            case .keyNotFound: self = .keyNotFound
            @unknown default: self = .other("\(error)")
            }
        }
    }

    enum Agreement {
        case bothRead, bothRefused
        case disagree(String)
    }

    struct WireType: Sendable {
        let name: String
        /// The JSON keys of its fields (empty: not an object).
        let fields: [String]
        let compare: @Sendable ([UInt8]) -> Agreement
    }

    static func wire<T: GoJSONReadable & Equatable & SendableMetatype>(_ type: T.Type, _ fields: [String]) -> WireType {
        WireType(name: "\(T.self)", fields: fields) { body in
            let old = Result { try JSONValueDecoder().decode(T.self, from: body) }
            let new = Result { try GoJSON.decode(T.self, from: body) }
            switch (old, new) {
            case (.success(let a), .success(let b)):
                return a == b ? .bothRead : .disagree("old \(dumped(a)), new \(dumped(b))")
            case (.failure(let a), .failure(let b)):
                return Refusal(a) == Refusal(b) ? .bothRefused : .disagree("old \(Refusal(a)) (\(a)), new \(Refusal(b)) (\(b))")
            case (.success(let a), .failure(let b)):
                return .disagree("old read \(dumped(a)), new refused: \(b)")
            case (.failure(let a), .success(let b)):
                return .disagree("old refused (\(a)), new read \(dumped(b))")
            }
        }
    }

    /// Every field of a value (some types' descriptions leave fields out).
    static func dumped(_ value: some Any) -> String {
        var text = ""
        dump(value, to: &text)
        return text
    }

    static let types: [WireType] = [
        wire(PricePerUnit.self, ["amount", "currencyCode"]),
        wire(Price.self, ["priceID", "priceDescription", "pricePerUnit", "unitID", "unitDescription"]),
        wire(Service.self, ["serviceID", "name", "description", "serviceType", "prices"]),
        wire(ServiceDetails.self, ["ServiceID", "ServiceDescription", "ServiceName", "ServiceType"]),
        wire(ServiceListResponse.self, ["serverID", "services", "fleetID"]),
        wire(ServicePriceResponse.self, ["serverID", "prices"]),
        wire(TotalPriceRequest.self, ["clientID", "selectedNumberOfUnits", "selectedPriceID"]),
        wire(TotalPriceResponse.self, [
            "serverID", "clientID", "priceID", "unitsToSupply", "totalPrice", "currencyCode", "paymentReferenceID", "merchantClientKey",
        ]),
        wire(PaymentRequest.self, ["clientID", "clientToken", "paymentReferenceID"]),
        wire(ServiceDeliveryToken.self, ["key", "issued", "expiry", "refundOnExpiry", "signature"]),
        wire(PaymentResponse.self, ["serverID", "clientID", "totalPaid", "serviceDeliveryToken"]),
        wire(BeginServiceDeliveryRequest.self, ["clientID", "serviceDeliveryToken", "unitsToSupply"]),
        wire(BeginServiceDeliveryResponse.self, ["serverID", "clientID", "serviceDeliveryToken", "unitsToSupply"]),
        wire(EndServiceDeliveryRequest.self, ["clientID", "serviceDeliveryToken", "unitsReceived"]),
        wire(EndServiceDeliveryResponse.self, ["serverID", "clientID", "serviceDeliveryToken", "unitsJustSupplied", "unitsRemaining"]),
        wire(LedgerSnapshot.self, ["purchased", "delivered", "inFlight"]),
        wire(ErrorResponse.self, ["HTTPStatusCode", "message", "errorCode", "ledger", "orderState"]),
        wire(BroadcastMessage.self, [
            "deviceDescription", "hostname", "portNumber", "serverID", "urlPrefix", "scheme", "deviceName", "serviceTypes",
        ]),
        wire(GoTime.self, []),
    ]

    static func type(_ name: String) -> WireType { types.first { $0.name == name }! }

    /// Counts the outcomes of many comparisons and keeps the first disagreements.
    struct Tally {
        var read = 0, refused = 0
        var disagreements: [String] = []
        var cases: Int { read + refused + disagreements.count }

        /// Compares the two readers on `body`. Every 256 cases it yields: these suites run 160,000 cases
        /// (≈ 35 s of CPU in a debug build) on the Swift concurrency pool, which has one thread per core; without
        /// yielding they hold both threads of a 2-core CI machine, and the suites that wait on real daemons
        /// (whose waits resume on the pool) overrun their hang guards.
        mutating func check(_ type: WireType, _ body: [UInt8]) async {
            if cases % 256 == 255 { await Task.yield() }
            switch type.compare(body) {
            case .bothRead: read += 1
            case .bothRefused: refused += 1
            case .disagree(let how):
                disagreements.append("\(type.name) \(String(decoding: body, as: UTF8.self).debugDescription): \(how)")
            }
        }

        mutating func check(_ type: WireType, _ body: String) async { await check(type, Array(body.utf8)) }

        /// No disagreement, and both outcomes seen at least `each` times (a corpus that only ever fails, or
        /// only ever reads, would prove little).
        func expectAgreement(atLeast each: Int, _ comment: Comment, sourceLocation: SourceLocation = #_sourceLocation) {
            let count = disagreements.count
            #expect(count == 0, "\(comment): \(count) of \(cases) disagree:\n\(disagreements.prefix(20).joined(separator: "\n"))", sourceLocation: sourceLocation)
            #expect(read >= each && refused >= each, "\(comment): \(read) read, \(refused) refused", sourceLocation: sourceLocation)
        }
    }

    // MARK: Bodies

    /// The Go SDK's captures (ten HTE bodies, two error bodies, a broadcast datagram) with the type each is.
    static func goldenBodies() throws -> [(type: String, body: [UInt8])] {
        let hte = try Fixtures.hteBodies()
        let hteTypes = [
            "ServiceListResponse", "ServicePriceResponse", "TotalPriceRequest", "TotalPriceResponse", "PaymentRequest",
            "PaymentResponse", "BeginServiceDeliveryRequest", "BeginServiceDeliveryResponse", "EndServiceDeliveryRequest",
            "EndServiceDeliveryResponse",
        ]
        var bodies = zip(hteTypes, hte).map { ($0, Array($1.utf8)) }
        bodies += try Fixtures.errorBodies().map { ("ErrorResponse", Array($0.utf8)) }
        bodies.append(("BroadcastMessage", try Fixtures.bytes("broadcast-datagram.json")))
        return bodies
    }

    /// Valid bodies of our own for what the captures lack: escapes, a signed token with offsets, a Go map,
    /// our error extensions, case-folded keys.
    static let ownBodies: [(type: String, body: String)] = [
        ("Service", #"{"serviceID":1,"name":"n\u00e9","description":"d\ud83d\ude00","serviceType":"","prices":{"10":{"priceID":10,"priceDescription":"a","pricePerUnit":null,"unitID":1,"unitDescription":"u"},"2":{"priceID":2,"priceDescription":"b","pricePerUnit":{"amount":5,"currencyCode":"GBP"},"unitID":1,"unitDescription":"u"}}}"#),
        ("ServiceDeliveryToken", #"{"key":"k","issued":"2017-09-01T10:00:00.123456+01:00","expiry":"2017-09-08T10:00:00.1234567-05:30","refundOnExpiry":true,"signature":"/wAQ"}"#),
        ("ErrorResponse", #"{"HTTPStatusCode":409,"message":"a\u003cb\u003e \"q\" \\ \/ \n\t\r \u0001 \u2028 é 😀","errorCode":-32016,"ledger":{"purchased":10,"delivered":4,"inFlight":2},"orderState":"refundPending"}"#),
        ("TotalPriceRequest", #" { "CLIENTID" : "c" , "selectednumberofunits" : 1e1 , "selectedPriceID" : 1.0 , "extra" : [ { "a" : null } , -0 ] } "#),
        ("BroadcastMessage", #"{"deviceDescription":"d","hostname":"::1","portNumber":64521,"serverID":"s","urlPrefix":"/p","scheme":"http://","deviceName":"n","serviceTypes":["wash","dry\u0000"]}"#),
        ("ServicePriceResponse", #"{"serverID":"s","prices":[null,{"priceID":1,"pricePerUnit":{"Amount":-5,"currencycode":"EUR"}}]}"#),
        ("EndServiceDeliveryResponse", #"{"serverID":"s","clientID":"c","serviceDeliveryToken":{"key":"k","issued":"2017-09-01T10:00:00Z","expiry":null,"refundOnExpiry":false,"signature":null},"unitsJustSupplied":3,"unitsRemaining":9223372036854775807}"#),
        ("TotalPriceResponse", #"{"serverID":"s","clientID":"c","priceID":1,"unitsToSupply":2,"totalPrice":-9223372036854775808,"currencyCode":"GBP","paymentReferenceID":"r","merchantClient\u212Aey":"T_C_x"}"#),
    ]

    /// Documents that are no wire body, or barely one: tried as every type.
    static let documents: [String] = [
        "", " ", "{}", " {} ", "\t{}\r\n", "{}\n", "null", " null ", "nul", "nulls", "[]", "[", "]", "{", "}", #""s""#, #""2017-09-01T10:00:00Z""#,
        "5", "-0", "1e2", "true", "false", "{} {}", "{}x", "{},", "{}]", "null null", "{\"a\":1}garbage", "{\"a\":1} \u{0}",
        "{,}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":1 \"b\":2}", "{\"a\" 1}", "{a:1}", "{'a':1}", "{\"a\":1}}", "[1,]", "[,1]",
        "{\"a\":[1,2,{\"b\":[null,true,false,\"x\",-1.5e-3,{}]}],\"c\":{}}", "{\"a\":{\"b\":{\"c\":[[[]]]}}}",
        "{\"a\":tru}", "{\"a\":nul}", "{\"a\":falsey}", "{\"a\":01}", "{\"a\":-}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":1e}",
        "{\"a\":+1}", "{\"a\":0x10}", "{\"a\":Infinity}", "{\"a\":NaN}", "{\"a\":1e400}", "{\"a\":-1e400}", "{\"a\":1e-400}",
        "{\"a\":123456789012345678901234567890}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}", "{\"a\":\"\\x\"}",
        "{\"a\":\"\u{1}\"}", "{\"\\ud83d\\ude00\":1}", "{\"\u{0}\":1}", "\u{FEFF}{}", "{\"a\":1}\u{A0}",
        "{\"serverID\":\"s\"", "{\"serverID\":\"s", "{\"serverID\":", "{\"serverID\"", "{\"serverID", "{\"",
    ]

    /// Member values tried in every field of every type.
    static let values: [[UInt8]] = [
        // null is the zero value (or nil for a pointer or a list), everywhere
        "null",
        // integers: Go int range; -0 is 0
        "0", "-0", "7", "-7", "9007199254740992", "9223372036854775807", "-9223372036854775808",
        // beyond Int64: refused (Go too)
        "9223372036854775808", "-9223372036854775809", "123456789012345678901234567890",
        // floats: the oracle reads an integral one within 2^53 as that integer (1e2 → 100, 1.0 → 1, -0.0 → 0,
        // 1e-400 → 0), Go refuses them all for an int; beyond 2^53, or with a fraction, refused by both
        "1e2", "1E+2", "1.0", "-0.0", "1e-400", "0.5e1", "9007199254740993.0", "9007199254740994.0", "1.5", "-1e-7", "1e300",
        // not a Double: the whole body is refused, even for a field that is skipped
        "1e400", "-1e400",
        // strings and their escapes; a lone surrogate is refused (Go reads it as U+FFFD)
        #""""#, #""s""#, #""\u00e9""#, #""\ud83d\ude00""#, #""\uD83D\uDE00""#, #""\ud83d""#, #""\ude00""#, #""\ud83dx""#,
        #""\ud83d\u0041""#, #""\ud83d\ud83d""#, #""\u0000""#, #""\/\b\f\n\r\t\"\\""#, #""\x""#, #""\u12""#, #""\u12G4""#, "\"\t\"",
        "\"é日🚗\"", "\"\u{7F}\"",
        // times, base64
        #""2017-09-01T10:00:00Z""#, #""2017-09-01T10:00:00.123+01:00""#, #""2017-09-01 10:00:00Z""#, #""2017-02-30T10:00:00Z""#,
        #""AQID""#, #""/wAQ""#, #""not base64!""#, #""AQI""#,
        // bools
        "true", "false",
        // lists: a null struct element is the zero struct; a null string element is refused (Go: "")
        "[]", "[null]", #"["a"]"#, #"["a",null]"#, #"["a",1]"#, "[{}]", "[null,{}]", "[{},5]", "[[]]", #"[{"ServiceID":"x"},{"ServiceID":1.5}]"#,
        // objects, nested types
        "{}", #"{"amount":5,"currencyCode":"GBP"}"#, #"{"amount":"5"}"#, #"{"AMOUNT":5,"amount":6}"#, #"{"amount":1.5}"#,
        #"{"purchased":1,"delivered":2,"inFlight":3}"#, #"{"purchased":"1"}"#, #"{"INFLIGHT":4,"inFlight":5}"#,
        #"{"key":"k","issued":"2017-09-01T10:00:00Z","signature":"AQID"}"#, #"{"key":5,"signature":"!"}"#,
        #"{"issued":"bad","refundOnExpiry":"yes"}"#, #"{"priceID":1,"pricePerUnit":{"amount":1.5}}"#,
        #"{"1":{"priceID":1},"2":null}"#, #"{"1":{"priceID":1},"x":{}}"#, #"{"1":{"priceID":"x"},"y":{}}"#, #"{"+1":{},"-2":{}}"#,
        #"{"1":{"unitID":1},"1":{"unitID":2}}"#, #"{"1":{"unitID":"bad"},"1":{"unitID":2}}"#, #"{"a":{"b":[1,{"c":null}]}}"#,
        // broken values: the whole body is refused
        "tru", "nul", "[", "{", #""unterminated"#, "[1,]", #"{"a":}"#,
    ].map { Array($0.utf8) } + [
        // not UTF-8: a lead byte without its continuation, an encoded surrogate, an overlong slash, beyond U+10FFFF
        [0x22, 0xC3, 0x28, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],
    ]

    // MARK: Tests

    @Test func goldenCapturesAsEveryType() async throws {
        var tally = Tally()
        for (typeName, body) in try Self.goldenBodies() {
            for type in Self.types { await tally.check(type, body) }
            #expect(Self.type(typeName).compare(body).isBothRead, "\(typeName) reads its capture")
        }
        #expect(tally.cases == 13 * Self.types.count)
        tally.expectAgreement(atLeast: 13, "captures")
    }

    @Test func ownBodiesAndOddDocumentsAsEveryType() async {
        var tally = Tally()
        for (typeName, body) in Self.ownBodies {
            for type in Self.types { await tally.check(type, body) }
            #expect(Self.type(typeName).compare(Array(body.utf8)).isBothRead, "\(typeName) reads \(body)")
        }
        // Every byte as a hex digit of an escape, in a string value and a key.
        let escapes = (0...255).flatMap { byte in
            let escape = Array(#""\u00"#.utf8) + [UInt8(byte)] + Array(#"1""#.utf8)
            return [escape, Array("{".utf8) + escape + Array(":1}".utf8)]
        }
        for document in Self.documents.map({ Array($0.utf8) }) + Self.values + escapes {
            for type in Self.types { await tally.check(type, document) }
        }
        tally.expectAgreement(atLeast: 50, "documents")
    }

    /// Every value in every field, under every spelling of its key; in an object with unknown members around it.
    @Test func everyValueInEveryField() async {
        var tally = Tally()
        for type in Self.types {
            for field in type.fields {
                for key in Self.spellings(field) {
                    for value in Self.values {
                        await tally.check(type, Array("{\(key):".utf8) + value + Array("}".utf8))
                    }
                    await tally.check(type, "{\"x\":{\"\(field)\":1},\(key):null,\"y\":[{\"\(field)\":\"s\"}]}")
                }
            }
        }
        tally.expectAgreement(atLeast: 1000, "fields")
    }

    /// A key given twice, in spellings that name the field exactly or only fold to it. The oracle (a Swift
    /// dictionary) keeps the last of two equal keys and prefers an exact key to a folded one wherever it
    /// stands. Go takes the last member that matches the field either way (`{"key":"a","KEY":"b"}` is "b"
    /// in Go, "a" here), and decodes a repeated object into the same struct, merging the two (here the last
    /// replaces the first).
    @Test func duplicateKeys() async {
        let values = ["1", #""s""#, "null", "{}", "[]", "2.5", #""2017-09-01T10:00:00Z""#, #"{"amount":"x"}"#]
        var tally = Tally()
        for type in Self.types {
            for field in type.fields {
                let exact = "\"\(field)\"", upper = "\"\(field.uppercased())\"", kelvin = Self.kelvin(field)
                var pairs = [(exact, exact), (exact, upper), (upper, exact), (upper, upper)]
                if let kelvin { pairs += [(exact, kelvin), (kelvin, exact), (kelvin, kelvin)] }
                for (first, second) in pairs {
                    for a in values {
                        for b in values {
                            await tally.check(type, "{\(first):\(a),\"other\":0,\(second):\(b)}")
                        }
                    }
                }
            }
        }
        tally.expectAgreement(atLeast: 1000, "duplicates")
    }

    /// Every prefix of every valid body: truncated input.
    @Test func truncatedBodies() async throws {
        var tally = Tally()
        let bodies = try Self.goldenBodies() + Self.ownBodies.map { ($0.type, Array($0.body.utf8)) }
        for (typeName, body) in bodies {
            for end in 0...body.count { await tally.check(Self.type(typeName), Array(body[..<end])) }
        }
        tally.expectAgreement(atLeast: bodies.count, "prefixes")
    }

    /// The valid bodies with whitespace (each kind) around every token, and with a byte after them.
    @Test func whitespaceAndTrailingBytes() async throws {
        var tally = Tally()
        let bodies = try Self.goldenBodies() + Self.ownBodies.map { ($0.type, Array($0.body.utf8)) }
        for (typeName, body) in bodies {
            let type = Self.type(typeName)
            for space in [" ", "\t", "\n", "\r", " \r\n\t "] {
                await tally.check(type, Self.spaced(body, with: Array(space.utf8)))
            }
            for trailing in [" ", "\n", "x", "}", "]", ",", "{}", "null", "\u{0}", "\u{C2}\u{A0}", "\u{FEFF}"] {
                await tally.check(type, body + Array(trailing.utf8))
                await tally.check(type, Array(trailing.utf8) + body)
            }
        }
        tally.expectAgreement(atLeast: bodies.count, "whitespace")
    }

    /// The oracle's nesting limit (256 arrays and objects deep), in a skipped member and in known fields.
    @Test func nestingDepth() async {
        var tally = Tally()
        for depth in [253, 254, 255, 256, 257, 300] {
            let nested = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
            for type in Self.types {
                await tally.check(type, "{\"unknown\":\(nested)}")
                await tally.check(type, nested)
            }
            let objects = String(repeating: "{\"a\":", count: depth) + "1" + String(repeating: "}", count: depth)
            await tally.check(Self.type("ServicePriceResponse"), "{\"prices\":[{\"pricePerUnit\":{\"x\":\(objects)}}]}")
            await tally.check(Self.type("ServicePriceResponse"), "{\"prices\":[{\"pricePerUnit\":{\"amount\":\(nested)}}]}")
        }
        tally.expectAgreement(atLeast: 20, "depth")
    }

    /// Raw bytes of every UTF-8 shape in a string: one and two bytes exhaustively (in a known field), three and
    /// four bytes from each lead byte that can start them with boundary continuation bytes (in a known field, an
    /// unknown one, a key).
    @Test func utf8InStrings() async {
        let edges: [UInt8] = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF]
        var short: [[UInt8]] = (0...255).map { [UInt8($0)] }
        for lead in 0x80...0xFF {
            for second in 0...255 { short.append([UInt8(lead), UInt8(second)]) }
        }
        var long: [[UInt8]] = []
        for lead in 0xE0...0xF5 {
            for second in edges {
                for third in edges {
                    if lead < 0xF0 { long.append([UInt8(lead), second, third]) }
                    for fourth in edges where lead >= 0xF0 { long.append([UInt8(lead), second, third, fourth]) }
                }
            }
        }
        let error = Self.type("ErrorResponse"), ledger = Self.type("LedgerSnapshot")
        var tally = Tally()
        for sequence in short + long where sequence != [0x22] && sequence != [0x5C] {
            await tally.check(error, Array(#"{"message":"a"#.utf8) + sequence + Array(#"b"}"#.utf8))
        }
        for sequence in long {
            await tally.check(ledger, Array(#"{"x":""#.utf8) + sequence + Array(#"","inFlight":1}"#.utf8))
            await tally.check(ledger, Array(#"{""#.utf8) + sequence + Array(#"":1}"#.utf8))
        }
        tally.expectAgreement(atLeast: 1000, "UTF-8")
    }

    /// Seeded random mutations of the valid bodies: bytes replaced, inserted, deleted, swapped, spans
    /// repeated, cut short, letters' case flipped. Each mutant is read as its own type and as another one.
    @Test func mutationCorpus() async throws {
        var random = SplitMix64(seed: 0x5EED_16_04)
        let bodies = try Self.goldenBodies() + Self.ownBodies.map { ($0.type, Array($0.body.utf8)) }
        var tally = Tally()
        for _ in 0..<4000 {
            let (typeName, original) = bodies[random.below(bodies.count)]
            var body = original
            // One mutation for a Go map, where two would risk two bad prices, which the oracle orders randomly.
            let mutations = typeName == "Service" ? 1 : 1 + random.below(3)
            for _ in 0..<mutations { Self.mutate(&body, &random) }
            await tally.check(Self.type(typeName), body)
            await tally.check(Self.types[random.below(Self.types.count)], body)
        }
        #expect(tally.cases == 8000)
        tally.expectAgreement(atLeast: 500, "mutations")
    }

    /// The one pass is what `GoJSON.decode` runs, also for a type known only as `Decodable`.
    @Test func decodeTakesTheOnePass() async throws {
        #expect(try GoJSON.decode(Probe.self, from: "{}") == Probe(path: "one pass"))
        #expect(try Self.decodeAsDecodable(Probe.self, "{}") == Probe(path: "one pass"))
        #expect(try JSONValueDecoder().decode(Probe.self, from: Array("{}".utf8)) == Probe(path: "decoder"))
        // Bytes that are not contiguous are copied first.
        let body = try #require(try Self.goldenBodies().first)
        #expect(try GoJSON.decode(ServiceListResponse.self, from: body.body.lazy.map { $0 }) == GoJSON.decode(ServiceListResponse.self, from: body.body))
        #expect(throws: DecodingError.self) { try GoJSON.decode(ServiceListResponse.self, from: body.body.dropLast().lazy.map { $0 }) }
    }

    // MARK: Helpers

    struct Probe: GoJSONReadable, Equatable {
        var path: String
        init(path: String) { self.path = path }
        init(from decoder: any Decoder) throws { path = "decoder" }
        init(goJSON reader: inout GoJSONReader) throws {
            try reader.readObject(GoJSONFields()) { _, _ in }
            path = "one pass"
        }
    }

    static func decodeAsDecodable<T: Decodable>(_ type: T.Type, _ body: String) throws -> T {
        try GoJSON.decode(type, from: Array(body.utf8))
    }

    /// Spellings of a key: exact, upper and lower case, the first letter escaped, a Kelvin sign for K/k
    /// (Swift: U+212A is canonically "K", so exact for "merchantClientKey"; it lowercases to "k"; Go folds
    /// it to K and k too), and a long s for s (Go folds ſ to s and would match; the oracle does not).
    static func spellings(_ field: String) -> [String] {
        var keys = ["\"\(field)\"", "\"\(field.uppercased())\"", "\"\(field.lowercased())\""]
        let first = field.unicodeScalars.first!.value
        keys.append("\"\\u00\(String(first, radix: 16))\(field.dropFirst())\"")
        keys.append("\"\\u00\(String(first, radix: 16).uppercased())\(field.dropFirst())\"")
        if let kelvin = kelvin(field) {
            keys.append(kelvin)
            keys.append("\"" + field.replacingAll("k", "\\u212a").replacingAll("K", "\\u212A") + "\"")
        }
        if field.contains("s") { keys.append("\"" + field.replacingAll("s", "\u{17F}") + "\"") }
        keys.append("\"\(field)x\"")
        keys.append("\"\(field.dropLast())\"")
        return keys
    }

    static func kelvin(_ field: String) -> String? {
        guard field.contains("k") || field.contains("K") else { return nil }
        return "\"" + field.replacingAll("k", "\u{212A}").replacingAll("K", "\u{212A}") + "\""
    }

    /// `body` with `space` before and after every structural byte outside strings.
    static func spaced(_ body: [UInt8], with space: [UInt8]) -> [UInt8] {
        var out = space
        var inString = false, escaped = false
        for byte in body {
            if inString {
                out.append(byte)
                if escaped { escaped = false } else if byte == 0x5C { escaped = true } else if byte == 0x22 { inString = false }
                continue
            }
            switch byte {
            case 0x22: inString = true; out.append(byte)
            case UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: ","), UInt8(ascii: ":"):
                out += space + [byte] + space
            default: out.append(byte)
            }
        }
        return out + space
    }

    static let interesting = Array("\"\\{}[],:ntfrue.-+0129eEu /".utf8) + [0x00, 0x09, 0x0A, 0x1F, 0x7F, 0x80, 0xBF, 0xC3, 0xE2, 0x84, 0xAA, 0xED, 0xF4, 0xFF]

    static func mutate(_ body: inout [UInt8], _ random: inout SplitMix64) {
        func byte() -> UInt8 { random.below(2) == 0 ? interesting[random.below(interesting.count)] : UInt8(random.below(256)) }
        guard !body.isEmpty else { return body = [byte()] }
        let at = random.below(body.count)
        switch random.below(7) {
        case 0: body[at] = byte()
        case 1: body.insert(byte(), at: at)
        case 2: body.remove(at: at)
        case 3: body.swapAt(at, random.below(body.count))
        case 4:
            let span = Array(body[at..<min(body.count, at + 1 + random.below(16))])
            body.insert(contentsOf: span, at: random.below(body.count))
        case 5: body.removeSubrange(at...)
        default:
            if let letter = body.indices.dropFirst(at).first(where: { (0x41...0x5A).contains(body[$0] & ~0x20) }) { body[letter] ^= 0x20 }
        }
    }
}

extension GoJSONReaderDifferentialTests.Agreement {
    var isBothRead: Bool { if case .bothRead = self { true } else { false } }
}

extension SplitMix64 {
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

extension String {
    func replacingAll(_ target: Character, _ replacement: String) -> String {
        String(flatMap { $0 == target ? Array(replacement) : [$0] })
    }
}
