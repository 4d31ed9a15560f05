import NIOCore

/// Splits the byte stream of one connection into lines at `\n`, with an exact limit on the line length.
///
/// A line may hold at most `maxLineBytes` bytes before its `\n`; the `\n` is not counted, a `\r` before it
/// is (and is then stripped, so `\r\n` lines work). A line one byte longer is refused as soon as its
/// `maxLineBytes + 1`-th byte has arrived, before its end: the decoder throws ``LineTooLong`` and, per
/// `ByteToMessageHandler`, is never called again (later bytes are dropped). So a connection buffers at most
/// the limit plus the bytes of the read that crossed it.
public struct RPCLineDecoder: ByteToMessageDecoder, Sendable {
    public typealias InboundOut = ByteBuffer

    /// A line has more than `maxLineBytes` bytes before its `\n`.
    public struct LineTooLong: Error, Equatable {
        public var maxLineBytes: Int
        public init(maxLineBytes: Int) { self.maxLineBytes = maxLineBytes }
    }

    /// The stream ended in the middle of a line (its bytes are dropped, never executed).
    public struct UnterminatedLine: Error, Equatable {
        public var bytes: Int
        public init(bytes: Int) { self.bytes = bytes }
    }

    public let maxLineBytes: Int
    /// How many bytes at the start of the buffer are known to hold no `\n` (not scanned again).
    private var scanned = 0

    public init(maxLineBytes: Int) {
        precondition(maxLineBytes >= 0)
        self.maxLineBytes = maxLineBytes
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let line = try nextLine(&buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(line))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while let line = try nextLine(&buffer) {
            context.fireChannelRead(wrapInboundOut(line))
        }
        let left = buffer.readableBytes
        if left > 0 {
            buffer.moveReaderIndex(forwardBy: left)
            throw UnterminatedLine(bytes: left)
        }
        return .needMoreData
    }

    /// The next complete line (without `\n` and a `\r` before it), nil when more bytes are needed; throws
    /// ``LineTooLong`` once the line in front is known to exceed the limit.
    public mutating func nextLine(_ buffer: inout ByteBuffer) throws -> ByteBuffer? {
        // A `\n` may sit at most `maxLineBytes` bytes after the line's start: only that window is searched.
        let window = min(buffer.readableBytes, maxLineBytes + 1)
        let start = buffer.readerIndex
        if scanned < window, let newline = buffer.readableBytesView[(start + scanned)..<(start + window)].firstIndex(of: 0x0A) {
            scanned = 0
            var line = buffer.readSlice(length: newline - start)!
            buffer.moveReaderIndex(forwardBy: 1)
            if line.readableBytes > 0, line.getInteger(at: line.writerIndex - 1, as: UInt8.self) == 0x0D {
                line.moveWriterIndex(to: line.writerIndex - 1)
            }
            return line
        }
        scanned = window
        if buffer.readableBytes > maxLineBytes { throw LineTooLong(maxLineBytes: maxLineBytes) }
        return nil
    }
}
