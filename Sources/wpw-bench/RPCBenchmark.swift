#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import NIOCore
import NIOExtras
import NIOPosix

/// `wpw-bench rpc`: the daemon's socket API against a raw line-echo floor, idle RSS, exec → READY=1, for one
/// daemon with the built-in configuration (the `suite` measures the same beside the purchase flow).
struct RPCBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rpc",
        abstract: "getDevice round trips (sequential, pipelined) vs a raw line echo; idle RSS; start-up time."
    )

    @Option(help: "Seconds per round-trip measurement.") var seconds = 2.0
    @Option(help: "Requests in flight in the pipelined runs.") var depth = 32
    @Option(help: "Daemon starts to time (median reported).") var starts = 20

    func run() throws {
        let dir = try BenchDirectory()
        defer { dir.remove() }
        let env = ["WPWITHIND_HTE_HOST": "127.0.0.1", "WPWITHIND_HTE_PORT": "0"]

        // exec → READY=1, and idle RSS, over `starts` fresh daemons.
        var ready: [Double] = []
        var rss: [Int] = []
        for index in 0..<starts {
            let daemon = try Daemon(name: "d\(index)", in: dir, environment: env)
            ready.append(daemon.readyMs)
            if index == starts - 1 || index == 0 {
                sleepSeconds(1)
                rss.append(daemon.rssKiB)
            }
            daemon.stop()
        }

        // A long-lived daemon and an echo server for the throughput runs.
        let daemon = try Daemon(name: "rpc", in: dir, environment: env)
        defer { daemon.stop() }
        let echoSocket = dir.path("echo.sock")
        let echo = try Child(binDirectory + "/wpw-bench", ["echo-server", "--socket", echoSocket])
        defer { echo.stop() }
        try waitForSocket(echoSocket, child: echo)

        let request = Array(#"{"jsonrpc":"2.0","id":1,"method":"getDevice"}"#.utf8) + [0x0A]
        func rate(_ path: String, _ depth: Int) throws -> Double {
            try roundTripsPerSecond(socket: path, request: request, depth: depth, seconds: seconds, expectResult: path == daemon.socket)
        }
        let daemonSequential = try rate(daemon.socket, 1), echoSequential = try rate(echoSocket, 1)
        let daemonPipelined = try rate(daemon.socket, depth), echoPipelined = try rate(echoSocket, depth)
        let spread = Spread(samples: ready)

        print("wpw-bench rpc  (seconds=\(seconds), depth=\(depth), starts=\(starts))")
        print(String(format: "  getDevice sequential : %9.0f calls/s   (echo floor %9.0f/s, ratio %.2fx)",
                     daemonSequential, echoSequential, echoSequential / daemonSequential))
        print(String(format: "  getDevice pipelined  : %9.0f calls/s   (echo floor %9.0f/s, ratio %.2fx)",
                     daemonPipelined, echoPipelined, echoPipelined / daemonPipelined))
        print(String(format: "  exec → READY=1       : median %.1f ms  (min %.1f, max %.1f, n=%d)", spread.median, spread.min, spread.max, spread.count))
        print("  idle RSS             : \(rss.map { String(format: "%.1f MB", Double($0) / 1024) }.joined(separator: ", "))")
    }
}

/// `wpw-bench echo-server`: the raw floor: a NIO line echo on a Unix socket (no JSON).
struct EchoServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "echo-server", abstract: "Line echo on a Unix socket (benchmark floor).", shouldDisplay: false)

    @Option var socket: String

    func run() async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineBasedFrameDecoder(), maximumBufferSize: 1 << 20))
                    try channel.pipeline.syncOperations.addHandler(EchoLineHandler())
                }
            }
            .bind(unixDomainSocketPath: socket, cleanupExistingSocketFile: true)
            .get()
        try await server.closeFuture.get()
    }
}

final class EchoLineHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var line = unwrapInboundIn(data)
        line.writeInteger(UInt8(0x0A))
        context.write(wrapOutboundOut(line), promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }
}
