import Foundation
import Testing
import WPWithinCore

@Suite struct JSONValueTests {
    @Test func integersStayExact() throws {
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"a":9007199254740993,"b":1.5,"c":[true,null,"x"]}"#.utf8))
        #expect(value["a"] == .int(9_007_199_254_740_993))
        #expect(value["b"] == .double(1.5))
        #expect(value["c"] == [true, nil, "x"])
    }

    @Test func errorObjectRoundTrip() {
        let error = WPWError.invalidParams(field: "units", "units must be positive")
        let object = JSONRPC.errorObject(error)
        #expect(JSONRPC.decodeError(object) == error)
    }
}

@Suite struct MoneyTests {
    @Test func formatsWithTheCurrencyExponent() throws {
        let gbp = try #require(Currency(code: "GBP"))
        let jpy = try #require(Currency(code: "JPY"))
        let bhd = try #require(Currency(code: "BHD"))
        #expect(Money(minorUnits: 500, currency: gbp).description == "GBP 5.00")
        #expect(Money(minorUnits: 5, currency: gbp).description == "GBP 0.05")
        #expect(Money(minorUnits: 500, currency: jpy).description == "JPY 500")
        #expect(Money(minorUnits: 1250, currency: bhd).description == "BHD 1.250")
        #expect(Currency(code: "XXX") == nil)
        #expect(Currency(code: "gbp") == nil)
    }

    @Test func multiplicationDetectsOverflow() throws {
        let gbp = try #require(Currency(code: "GBP"))
        #expect(Money(minorUnits: 500, currency: gbp).multiplied(by: 10)?.minorUnits == 5000)
        #expect(Money(minorUnits: Int64.max / 2, currency: gbp).multiplied(by: 3) == nil)
    }
}

@Suite struct JSONWriterOrderTests {
    /// Objects are written with their keys sorted (equal values serialise identically), for small objects
    /// (insertion sort) and big ones alike, nested too.
    @Test(arguments: [0, 1, 2, 5, 32, 33, 200])
    func membersAreWrittenInKeyOrder(count: Int) throws {
        var members: [String: JSONValue] = [:]
        for n in 0..<count { members["k\((n * 7919) % 1000)-\(n)"] = .int(Int64(n)) }
        let value = JSONValue.object(["outer": .object(members), "a": .array([.object(members)])])
        let text = value.jsonString
        let expectedInner = "{" + members.keys.sorted().map { "\"\($0)\":\(members[$0]!.jsonString)" }.joined(separator: ",") + "}"
        #expect(text == "{\"a\":[\(expectedInner)],\"outer\":\(expectedInner)}")
        #expect(try JSONValue.parse(text) == value)
    }
}

@Suite struct JSONRPCResponseLineTests {
    /// The envelope written by hand is byte for byte the sorted-key serialisation of the envelope object.
    @Test func responseLineIsTheSerialisedResponse() {
        let ids: [JSONRPC.ID] = [.number(1), .number(-9_007_199_254_740_993), .string("a\"b\\c\n"), .null]
        let results: [JSONValue] = [.null, true, 42, "text", [1, "x", nil], ["z": 1, "a": ["nested": [true]]]]
        let errors = [
            WPWError(.methodNotFound, "Method not found: x", data: ["method": "x"]),
            WPWError(.internalError, "Internal error"),
        ]
        for id in ids {
            for result in results {
                #expect(JSONRPC.responseLine(id: id, result: .success(result)) == JSONRPC.response(id: id, result: result).serialized() + [0x0A])
            }
            for error in errors {
                #expect(JSONRPC.responseLine(id: id, result: .failure(error)) == JSONRPC.response(id: id, error: error).serialized() + [0x0A])
            }
        }
    }
}
