import Logging
import NIOCore
import NIOEmbedded
import Testing
import WPWithinCore
@testable import WPWithinRPC

/// The RPC connection handler on an `EmbeddedChannel` (as swift-nio and Hummingbird test theirs): lines in,
/// reply lines out, and when it closes; no socket, no daemon. Methods here are synchronous, so every call
/// is answered inline on the loop.
@Suite struct RPCChannelHandlerTests {
    static let logger = Logger(label: "rpc-handler-tests", factory: { _ in SwiftLogNoOpLogHandler() })

    static func channel(maxLineBytes: Int = 256, maxInFlight: Int = 4, refusal: WPWError? = nil) throws -> EmbeddedChannel {
        let echo = RPCMethod("echo", summary: "echo", params: [RPCParam("value", ["type": "string"])], result: "value", ["type": "string"], synchronous: { params, _ in
            params.values["value"] ?? .null
        })
        let dispatcher = RPCDispatcher(methods: [echo], info: .init(title: "t", version: "0", description: "d"), logger: logger)
        let handler = RPCChannelHandler(
            id: 1, peer: nil, dispatcher: dispatcher, bus: nil,
            limits: .init(maxLineBytes: maxLineBytes, maxInFlight: maxInFlight, idleTimeout: nil), refusal: refusal, logger: logger)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RPCLineDecoder(maxLineBytes: maxLineBytes)))
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    /// Every reply line written so far, parsed.
    static func replies(_ channel: EmbeddedChannel) throws -> [JSONValue] {
        channel.embeddedEventLoop.run()
        var lines: [JSONValue] = []
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            let text = buffer.readString(length: buffer.readableBytes) ?? ""
            for line in text.split(separator: "\n") { lines.append(try JSONValue.parse(Array(line.utf8))) }
        }
        return lines
    }

    static func request(_ id: Int, _ value: String) -> ByteBuffer {
        ByteBuffer(string: #"{"jsonrpc":"2.0","id":\#(id),"method":"echo","params":{"value":"\#(value)"}}"# + "\n")
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let channel = try Self.channel(maxInFlight: 2)
        var bytes = Self.request(1, "a")
        var more = Self.request(2, "b")
        bytes.writeBuffer(&more)
        more = Self.request(3, "c")
        bytes.writeBuffer(&more)
        try channel.writeInbound(bytes)
        let replies = try Self.replies(channel)
        #expect(replies.map { $0.objectValue?["id"] } == [.int(1), .int(2), .int(3)])
        #expect(replies.map { $0.objectValue?["result"] } == [.string("a"), .string("b"), .string("c")])
        #expect(channel.isActive)
        _ = try? channel.finish()
    }

    @Test func aParseErrorIsAnsweredThenTheConnectionCloses() throws {
        let channel = try Self.channel()
        try channel.writeInbound(ByteBuffer(string: "{not json\n"))
        let replies = try Self.replies(channel)
        #expect(replies.count == 1)
        #expect(replies.first?.objectValue?["error"]?.objectValue?["code"] == .int(-32700))
        #expect(!channel.isActive)
        // What arrives after is not answered.
        _ = try? channel.writeInbound(Self.request(2, "late"))
        #expect(try Self.replies(channel).isEmpty)
    }

    @Test func aLineOverTheLimitIsAnsweredWithMessageTooLargeThenCloses() throws {
        let channel = try Self.channel(maxLineBytes: 64)
        _ = try? channel.writeInbound(ByteBuffer(string: String(repeating: "x", count: 200)))
        let replies = try Self.replies(channel)
        #expect(replies.count == 1)
        let error = replies.first?.objectValue?["error"]?.objectValue
        #expect(error?["code"] == .int(Int64(WPWError.Code.messageTooLarge.rawValue)))
        #expect(error?["data"]?.objectValue?["maxLineBytes"] == .int(64))
        #expect(!channel.isActive)
    }

    @Test func aRefusedConnectionGetsOneErrorLineAndCloses() throws {
        let channel = try Self.channel(refusal: WPWError(.overloaded, "too many connections"))
        let replies = try Self.replies(channel)
        #expect(replies.count == 1)
        #expect(replies.first?.objectValue?["error"]?.objectValue?["code"] == .int(Int64(WPWError.Code.overloaded.rawValue)))
        #expect(!channel.isActive)
    }

    @Test func aDrainClosesAnIdleConnectionWithoutALine() throws {
        let channel = try Self.channel()
        try channel.writeInbound(Self.request(1, "a"))
        #expect(try Self.replies(channel).count == 1)
        channel.pipeline.fireUserInboundEventTriggered(RPCChannelHandler.Drain())
        #expect(try Self.replies(channel).isEmpty)
        #expect(!channel.isActive)
    }
}
