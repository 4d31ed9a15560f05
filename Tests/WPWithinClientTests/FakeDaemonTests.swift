import Foundation
import NIOCore
import NIOPosix
import Testing
import WPWithinCore

/// The fake daemon itself: stopping it while connections are still being accepted must not crash the test
/// process (a connection accepted but never served used to drop an unfinished `NIOAsyncWriter`, which traps).
@Suite(.timeLimit(.minutes(1)))
struct FakeDaemonTests {
    @Test func stoppingWhileConnectionsArriveDropsThemWithoutCrashing() async throws {
        for _ in 0..<40 {
            let daemon = try await FakeDaemon.start()
            var clients: [any Channel] = []
            for _ in 0..<6 {
                let client = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connect(unixDomainSocketPath: daemon.socketPath).get()
                client.writeAndFlush(ByteBuffer(string: #"{"jsonrpc":"2.0","id":1,"method":"getDevice"}"# + "\n"), promise: nil)
                clients.append(client)
            }
            await daemon.stop()
            for client in clients { try? await client.close() }
        }
    }

    @Test func theFirstRequestOnAConnectionIsAnswered() async throws {
        let daemon = try await FakeDaemon.start()
        let answered = Recorder<String>()
        let client = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(unixDomainSocketPath: daemon.socketPath) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(LineCollector(recorder: answered))
                    return channel
                }
            }
        try await client.writeAndFlush(ByteBuffer(string: #"{"jsonrpc":"2.0","id":1,"method":"echo","params":[7]}"# + "\n"))
        let text = await answered.waitUntil { $0.joined().contains("\n") }.joined()
        #expect(text.contains(#""result":[7]"#))
        try? await client.close()
        await daemon.stop()
    }
}

/// Records what a raw client channel receives, as text.
private final class LineCollector: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let recorder: Recorder<String>

    init(recorder: Recorder<String>) { self.recorder = recorder }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let text = String(buffer: Self.unwrapInboundIn(data))
        Task { await recorder.append(text) }
    }
}
