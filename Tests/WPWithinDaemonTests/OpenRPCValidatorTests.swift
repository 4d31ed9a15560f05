import Testing
import WPWithinCore
import WPWithinTestSupport

/// The validator every RawClient answer goes through (Tests/WPWithinTestSupport/OpenRPCValidator.swift) can
/// fail, and says where and why.
@Suite struct OpenRPCValidatorTests {
    static let purchaseSchema: JSONValue = [
        "type": "object", "additionalProperties": false,
        "required": ["purchaseId", "unsettled", "lines"],
        "properties": [
            "purchaseId": ["type": "integer", "minimum": 1],
            "unsettled": ["type": ["string", "null"], "enum": ["begin", "end", nil]],
            "lines": ["type": "array", "items": ["$ref": "#/components/schemas/Line"]],
            "port": ["type": "integer", "minimum": 0, "maximum": 65535],
            "kind": ["const": "purchase"],
        ],
    ]
    static let validator = JSONSchemaValidator(schemas: [
        "Line": ["type": "object", "required": ["units"], "properties": ["units": ["type": "integer"]]],
        "Either": ["oneOf": [["type": "string"], ["type": "integer", "minimum": 0]]],
        "Any": ["anyOf": [["type": "string"], ["type": "boolean"]]],
    ])

    func violations(_ instance: JSONValue, _ schema: JSONValue = purchaseSchema) -> [String] {
        Self.validator.violations(of: schema, by: instance).map(\.description)
    }

    @Test func aConformingInstancePasses() {
        #expect(violations(["purchaseId": 3, "unsettled": nil, "lines": [["units": 2]], "port": 80, "kind": "purchase"]).isEmpty)
        #expect(violations(["purchaseId": 1, "unsettled": "end", "lines": []]).isEmpty)
        #expect(violations(2.0, ["type": "integer"]).isEmpty)  // JSON Schema: an integral number is an integer
    }

    @Test func badInstancesFailWithPathAndReason() {
        #expect(violations("x") == ["(root): expected object, found \"x\""])
        #expect(violations(["unsettled": nil, "lines": []]) == ["(root): the required member \"purchaseId\" is missing"])
        #expect(violations(["purchaseId": 0, "unsettled": nil, "lines": []]) == ["/purchaseId: 0 is less than the minimum 1"])
        #expect(violations(["purchaseId": 1.5, "unsettled": nil, "lines": []]) == ["/purchaseId: expected integer, found 1.5"])
        #expect(violations(["purchaseId": 1, "unsettled": "middle", "lines": []])
            == ["/unsettled: \"middle\" is not one of \"begin\", \"end\", null"])
        #expect(violations(["purchaseId": 1, "unsettled": 5, "lines": []]) == ["/unsettled: expected string or null, found 5"])
        #expect(violations(["purchaseId": 1, "unsettled": nil, "lines": [], "extra": true])
            == ["/extra: the member \"extra\" is not allowed (additionalProperties: false)"])
        #expect(violations(["purchaseId": 1, "unsettled": nil, "lines": [["units": 1], ["units": "2"]]])
            == ["/lines/1/units: expected integer, found \"2\""])
        #expect(violations(["purchaseId": 1, "unsettled": nil, "lines": [[:]]])
            == ["/lines/0: the required member \"units\" is missing"])
        #expect(violations(["purchaseId": 1, "unsettled": nil, "lines": [], "port": 65536])
            == ["/port: 65536 is more than the maximum 65535"])
        #expect(violations(["purchaseId": 1, "unsettled": nil, "lines": [], "kind": "quote"]) == ["/kind: \"quote\" is not \"purchase\""])
        #expect(violations(nil, ["type": "string"]) == ["(root): expected string, found null"])
    }

    @Test func oneOfAnyOfAndRefs() {
        #expect(violations("a", ["$ref": "#/components/schemas/Either"]).isEmpty)
        #expect(violations(-1, ["$ref": "#/components/schemas/Either"])
            == ["(root): matches none of the 2 oneOf schemas (closest: (root): expected string, found -1)"])
        #expect(violations(1, ["oneOf": [["type": "integer"], ["type": "number"]]])
            == ["(root): matches 2 of the oneOf schemas instead of exactly one"])
        #expect(violations(true, ["$ref": "#/components/schemas/Any"]).isEmpty)
        #expect(violations(1, ["$ref": "#/components/schemas/Any"]).count == 1)
        #expect(violations(1, ["$ref": "#/components/schemas/Nowhere"]) == ["(root): $ref #/components/schemas/Nowhere does not resolve"])
    }

    @Test func anUnsupportedKeywordIsAViolationNotASilentPass() {
        #expect(violations("abc", ["type": "string", "maxLength": 2])
            == ["(root): the validator does not support the schema keyword \"maxLength\""])
        #expect(violations("abc", ["type": "string", "description": "annotations are fine", "x-note": 1]).isEmpty)
    }

    @Test func theSnapshotLoadsAndItsSchemasAreAllUnderstood() throws {
        let document = try OpenRPCDocument.snapshot.get()
        #expect(document.errorNames.count == 38)
        #expect(document.eventTypes.count == 30)
        #expect(document.eventTypes.contains("producer.refundIssued"))
        // Every schema is within the subset: checking any value against it reports no unsupported keyword
        // and no dangling $ref.
        for name in document.validator.schemas.keys {
            let problems = document.validator.violations(of: ["$ref": .string("#/components/schemas/" + name)], by: .null)
            #expect(!problems.contains { $0.reason.contains("does not support") || $0.reason.contains("does not resolve") }, "\(name): \(problems)")
        }
    }

    @Test func documentChecksNameTheMessage() throws {
        let document = try OpenRPCDocument.snapshot.get()
        // A result of the wrong shape.
        let badPurchase = document.checkResult(method: "makePayment", ["purchaseId": 1])
        #expect(badPurchase.contains { $0.reason == "the required member \"totalPaid\" is missing" })
        #expect(!document.checkResult(method: "noSuchMethod", [:]).isEmpty)
        // An error code the method does not list; a listed one with bad data; a common one.
        #expect(document.checkError(method: "getDevice", ["code": -32010, "message": "no"]).map(\.path) == ["/code"])
        #expect(document.checkError(method: "makePayment", ["code": -32010, "message": "no", "data": ["httpStatus": 42]])
            .map(\.description) == ["/data/httpStatus: 42 is less than the minimum 100"])
        #expect(document.checkError(method: "getDevice", ["code": -32602, "message": "bad", "data": ["field": "x"]]).isEmpty)
        #expect(document.checkError(method: nil, ["code": -32700, "message": "parse error"]).isEmpty)
        // Events: an unknown type, a known one missing members, a subscriptionLost with an unknown reason.
        #expect(document.checkNotification(method: "event", ["type": "producer.teleported", "seq": 1, "time": "t"]).map(\.path) == ["/type"])
        #expect(document.checkNotification(method: "event", ["type": "daemon.started", "seq": 0, "time": "t"])
            .contains { $0.path == "/seq" })
        #expect(document.checkNotification(method: "subscriptionLost", ["lastDeliveredSeq": 3, "reason": "bored"])
            .map(\.description) == ["/reason: \"bored\" is not one of \"overflow\""])
        #expect(document.checkNotification(method: "subscriptionLost", ["lastDeliveredSeq": 3, "reason": "overflow"]).isEmpty)
        let problems = document.checkMessage(["jsonrpc": "2.0", "id": 4, "result": ["purchaseId": "x"]]) { _ in "makePayment" }
        #expect(problems.contains { $0.hasPrefix("the result of makePayment does not match rpc.discover at /purchaseId: expected integer") }, "\(problems)")
    }
}
