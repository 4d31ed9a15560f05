import Logging
import Testing
import WPWithinCore
import WPWithinRPC

/// What an error may repeat of the request: bounded pieces, cut on UTF-8 boundaries, with a marker.
@Suite struct RPCEchoTests {
    @Test func shortTextIsKeptAsItIs() {
        #expect(RPCEcho.bound("getDevice") == "getDevice")
        let exactly = String(repeating: "x", count: RPCEcho.maxBytes)
        #expect(RPCEcho.bound(exactly) == exactly)
        #expect(RPCEcho.bound("") == "")
    }

    @Test func longTextIsCutToTheLimitWithTheMarker() {
        let cut = RPCEcho.bound(String(repeating: "x", count: 1 << 20))
        #expect(cut.utf8.count == RPCEcho.maxBytes)
        #expect(cut.hasSuffix(RPCEcho.marker))
        #expect(cut == String(repeating: "x", count: RPCEcho.maxBytes - 3) + "…")
        #expect(RPCEcho.bound(String(repeating: "x", count: RPCEcho.maxBytes + 1)).utf8.count == RPCEcho.maxBytes)
    }

    @Test(arguments: ["é", "€", "😀", "a\u{301}"])
    func multiByteTextIsCutBetweenScalars(piece: String) {
        for prefix in 0..<4 {
            let text = String(repeating: "a", count: prefix) + String(repeating: piece, count: 200)
            let cut = RPCEcho.bound(text, limit: 32)
            #expect(cut.utf8.count <= 32)
            #expect(cut.hasSuffix("…"))
            // Valid UTF-8 that is a prefix of the original, scalar by scalar.
            let kept = cut.unicodeScalars.dropLast()
            #expect(Array(text.unicodeScalars.prefix(kept.count)) == Array(kept))
            #expect(String(validating: Array(cut.utf8), as: UTF8.self) != nil)
            #expect(cut.utf8.count > 32 - 4 - 3, "at most one scalar less than the budget")
        }
    }

    @Test func anErrorIsBoundedInItsMessageAndEveryStringOfItsData() {
        let huge = String(repeating: "m", count: 1 << 20)
        let error = WPWError(.notFound, "no purchase \(huge)", data: [
            "purchaseId": .string(huge), "nested": ["list": [.string(huge), 42]], huge: true,
        ])
        let bounded = RPCEcho.bounded(error)
        #expect(bounded.code == .notFound)
        #expect(bounded.message.utf8.count == RPCEcho.maxMessageBytes)
        #expect(bounded.message.hasPrefix("no purchase mmm"))
        #expect(bounded.data?["purchaseId"]?.stringValue?.utf8.count == RPCEcho.maxBytes)
        #expect(bounded.data?["nested"]?["list"]?.arrayValue?.first?.stringValue?.utf8.count == RPCEcho.maxBytes)
        #expect(bounded.data?["nested"]?["list"]?.arrayValue?.last == 42)
        #expect(bounded.data?.objectValue?.keys.allSatisfy { $0.utf8.count <= RPCEcho.maxBytes } == true)
        #expect(JSONRPC.response(id: .number(1), error: bounded).serialized().count < 1024)
        // A small error is not touched.
        let small = WPWError.invalidParams(field: "units", "units must be at least 1")
        #expect(RPCEcho.bounded(small) == small)
    }

    @Test func theDispatcherBoundsAHandlersErrorToo() async {
        let huge = String(repeating: "v", count: 1 << 20)
        let method = RPCMethod("echoFailure", summary: "Fails quoting its argument.", params: [RPCParam("value", Schema.string)],
                               result: "nothing", Schema.anyObject, handler: { params, _ in
            let value = try params.string("value")
            throw WPWError(.notFound, "nothing called \(value)", data: ["value": .string(value)])
        })
        let dispatcher = RPCDispatcher(methods: [method], info: .init(title: "t", version: "0", description: "d"), logger: Logger(label: "test"))
        let connection = RPCConnection(id: 1, peer: nil, send: { _ in })
        let request: JSONValue = ["jsonrpc": "2.0", "id": 1, "method": "echoFailure", "params": ["value": .string(huge)]]
        let reply = await dispatcher.handle(message: request, connection: connection, hooks: ReplyHooks())
        #expect(reply?["error"]?["code"] == .int(Int64(WPWError.Code.notFound.rawValue)))
        #expect((reply?.serialized().count ?? .max) < 1024)
        // Unknown method and unknown parameter names, each 1 MiB.
        for request: JSONValue in [
            ["jsonrpc": "2.0", "id": 2, "method": .string(huge)],
            ["jsonrpc": "2.0", "id": 3, "method": "echoFailure", "params": [huge: 1]],
            ["jsonrpc": "2.0", "id": 4, "method": "echoFailure", huge: 1],
        ] {
            let reply = await dispatcher.handle(message: request, connection: connection, hooks: ReplyHooks())
            #expect(reply?["error"] != nil)
            #expect((reply?.serialized().count ?? .max) < 1024)
        }
    }
}
