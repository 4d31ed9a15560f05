import Foundation
import Testing
import WPWithinCore

@Suite struct JSONParserTests {
    @Test(arguments: [
        #"{"a":[1,-2,3.5,1e3,true,false,null,"x\n\"y\u00e9\ud83d\ude00"],"b":{}}"#,
        "[]", "0", "-0", "\"\"", " {\"k\" : [ ] } ", "9223372036854775807", "-9223372036854775808", "1.5e-7",
    ])
    func agreesWithFoundation(text: String) throws {
        let ours = try JSONValue.parse(text)
        let theirs = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(ours == theirs || (ours.doubleValue != nil && ours.doubleValue == theirs.doubleValue))
        // What we write, we and Foundation read back the same.
        let written = ours.serialized()
        #expect(try JSONValue.parse(written) == ours)
        _ = try JSONSerialization.jsonObject(with: Data(written), options: [.fragmentsAllowed])
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":}", "{a:1}", "01", "1.", "-", "1e", "tru", "nul", "\"abc", "\"\\x\"",
        "\"\u{01}\"", "[1] 2", "{\"a\":1,}", "\"\\ud800\"", "+1", ".5", "NaN", "1e999",
    ])
    func rejectsInvalidDocuments(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse([0x22, 0xFF, 0x22]) }
        #expect(throws: JSONParseError.self) { try JSONValue.parse([0x22, 0xC3, 0x22]) }
    }

    @Test func boundsNesting() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
        let fine = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(try JSONValue.parse(fine).arrayValue != nil)
    }

    @Test func integersBeyondInt64BecomeDoubles() throws {
        #expect(try JSONValue.parse("18446744073709551616") == .double(18446744073709551616))
        #expect(try JSONValue.parse("12") == .int(12))
    }

    @Test func escapesControlCharactersWhenWriting() throws {
        let value: JSONValue = ["k": .string("a\u{0}b\u{1F}\"\\/\n")]
        let text = value.jsonString
        #expect(!text.contains("\n"))
        #expect(try JSONValue.parse(text) == value)
    }
}

@Suite struct JSONParserDuplicateKeyTests {
    @Test func aKeyGivenTwiceKeepsTheLastValueUnlessRefused() throws {
        let text = Array(#"{"a":1,"b":{"c":2,"c":3}}"#.utf8)
        #expect(try JSONValue.parse(text)["b"]?["c"] == 3)
        do {
            _ = try JSONValue.parse(text, rejectingDuplicateKeys: true)
            Issue.record("a duplicate key was accepted")
        } catch {
            #expect(error.reason == #"duplicate key "c""#)
            #expect(error.offset == 18)  // the second "c"
        }
        #expect(try JSONValue.parse(Array(#"{"a":{"c":1},"b":{"c":2}}"#.utf8), rejectingDuplicateKeys: true)["b"]?["c"] == 2)
    }
}
