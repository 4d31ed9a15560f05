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
