import Foundation
import Testing
import WPWithinCore

@Suite struct JSONValueDecoderTests {
    struct Inner: Codable, Equatable {
        var id: Int
        var tags: [String]
    }

    struct Outer: Codable, Equatable {
        var name: String
        var count: Int64
        var ratio: Double
        var flag: Bool
        var small: UInt8
        var inner: Inner
        var items: [Inner]
        var optional: String?
        var missing: Int?
        var map: [String: Int]
        var any: JSONValue
    }

    static let document = #"""
        {"name":"caf\u00e9 \"x\"","count":9007199254740993,"ratio":1.5,"flag":true,"small":255,
         "inner":{"id":1,"tags":["a","b"]},"items":[{"id":2,"tags":[]},{"id":3,"tags":["c"]}],
         "optional":null,"map":{"k":7},"any":{"deep":[1,null,"s"]},"ignored":[1,2,3]}
        """#

    @Test func decodesWhatFoundationDecodes() throws {
        let ours = try JSONValueDecoder().decode(Outer.self, from: Array(Self.document.utf8))
        let foundation = try JSONDecoder().decode(Outer.self, from: Data(Self.document.utf8))
        #expect(ours == foundation)
        #expect(ours.count == 9_007_199_254_740_993)  // exact, never through a Double
        #expect(ours.name == "café \"x\"")
        #expect(ours.optional == nil && ours.missing == nil)
    }

    @Test func refusesWhatDoesNotFit() {
        let decoder = JSONValueDecoder()
        // A number too large for the field, a fraction for an integer, a string for a number.
        #expect(throws: DecodingError.self) { try decoder.decode(Inner.self, from: Array(#"{"id":1e30,"tags":[]}"#.utf8)) }
        #expect(throws: DecodingError.self) { try decoder.decode(Inner.self, from: Array(#"{"id":1.5,"tags":[]}"#.utf8)) }
        #expect(throws: DecodingError.self) { try decoder.decode(Inner.self, from: Array(#"{"id":"1","tags":[]}"#.utf8)) }
        #expect(throws: DecodingError.self) { try decoder.decode([UInt8].self, from: Array("[256]".utf8)) }
        // A missing required key, null for a required value, not JSON at all.
        #expect(throws: DecodingError.self) { try decoder.decode(Inner.self, from: Array(#"{"tags":[]}"#.utf8)) }
        #expect(throws: DecodingError.self) { try decoder.decode(Inner.self, from: Array(#"{"id":null,"tags":[]}"#.utf8)) }
        #expect(throws: DecodingError.self) { try decoder.decode(Inner.self, from: Array(#"{"id":1,"tags":[]"#.utf8)) }
    }
}
