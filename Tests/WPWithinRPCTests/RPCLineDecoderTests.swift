import NIOCore
import NIOEmbedded
import Testing
import WPWithinRPC

/// The RPC socket's line framing on an `EmbeddedChannel`: the limit is exact, counted before the `\n`.
@Suite struct RPCLineDecoderTests {
    static let limit = 16

    func channel(limit: Int = limit) -> EmbeddedChannel {
        EmbeddedChannel(handler: ByteToMessageHandler(RPCLineDecoder(maxLineBytes: limit)))
    }

    func bytes(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    func lines(_ channel: EmbeddedChannel) throws -> [String] {
        var result: [String] = []
        while let line = try channel.readInbound(as: ByteBuffer.self) { result.append(String(buffer: line)) }
        return result
    }

    @Test func aLineOfExactlyTheLimitIsAccepted() throws {
        let channel = channel()
        let line = String(repeating: "a", count: Self.limit)
        try channel.writeInbound(bytes(line + "\n"))
        #expect(try lines(channel) == [line])
        _ = try channel.finish()
    }

    @Test func oneByteMoreIsRefusedBeforeItsNewlineArrives() throws {
        let channel = channel()
        // limit + 1 bytes and no newline yet: already known to be too long.
        #expect(throws: RPCLineDecoder.LineTooLong(maxLineBytes: Self.limit)) {
            try channel.writeInbound(self.bytes(String(repeating: "a", count: Self.limit + 1)))
        }
        // After the refusal the decoder takes nothing more, not even a good line.
        _ = try? channel.writeInbound(bytes("\n{}\n"))
        #expect(try lines(channel).isEmpty)
        _ = try? channel.finish()
    }

    @Test func aLineOfTheLimitArrivingByteByByteIsAcceptedAndTheNextRefused() throws {
        let channel = channel()
        for _ in 0..<Self.limit { try channel.writeInbound(bytes("b")) }
        #expect(try lines(channel).isEmpty)
        try channel.writeInbound(bytes("\n"))
        #expect(try lines(channel) == [String(repeating: "b", count: Self.limit)])
        for _ in 0..<Self.limit { try channel.writeInbound(bytes("c")) }
        #expect(throws: RPCLineDecoder.LineTooLong.self) { try channel.writeInbound(self.bytes("c")) }
        _ = try? channel.finish()
    }

    @Test func theNewlineIsNotCountedButACarriageReturnIs() throws {
        let channel = channel()
        let fits = String(repeating: "d", count: Self.limit - 1)
        try channel.writeInbound(bytes(fits + "\r\n"))
        #expect(try lines(channel) == [fits], "the \\r is stripped")
        #expect(throws: RPCLineDecoder.LineTooLong.self) {
            try channel.writeInbound(self.bytes(String(repeating: "d", count: Self.limit) + "\r\n"))
        }
        _ = try? channel.finish()
    }

    @Test func manyLinesInOneReadAndBlankLines() throws {
        let channel = channel()
        try channel.writeInbound(bytes("one\n\ntwo\r\nthree\nfo"))
        #expect(try lines(channel) == ["one", "", "two", "three"])
        try channel.writeInbound(bytes("ur\n"))
        #expect(try lines(channel) == ["four"])
        _ = try channel.finish()
    }

    @Test func aLongStreamOfShortLinesIsNeverRefused() throws {
        // The limit is per line, not per read: 64 KiB of 10-byte lines through a 16-byte limit.
        let channel = channel()
        let text = String(repeating: "123456789\n", count: 6554)
        try channel.writeInbound(bytes(text))
        #expect(try lines(channel).count == 6554)
        _ = try channel.finish()
    }

    @Test func anUnterminatedLineAtTheEndIsDroppedNotDelivered() throws {
        let channel = channel()
        try channel.writeInbound(bytes("done\nhalf a li"))
        #expect(try lines(channel) == ["done"])
        #expect(throws: RPCLineDecoder.UnterminatedLine(bytes: 9)) { _ = try channel.finish() }
        #expect(try lines(channel).isEmpty)
    }

    @Test func theDefaultLimitIsOneMebibyteExactly() throws {
        let channel = channel(limit: 1 << 20)
        let line = String(repeating: " ", count: 1 << 20)
        try channel.writeInbound(bytes(line + "\n"))
        #expect(try lines(channel).first?.utf8.count == 1 << 20)
        #expect(throws: RPCLineDecoder.LineTooLong(maxLineBytes: 1 << 20)) {
            try channel.writeInbound(self.bytes(line + " "))
        }
        _ = try? channel.finish()
    }
}
