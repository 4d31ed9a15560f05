#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import NIOCore
import NIOExtras
import NIOPosix

/// `wpw-bench rpc`: the daemon's socket API against a raw line-echo floor, idle RSS, exec → READY=1.
struct RPCBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rpc",
        abstract: "getDevice round trips (sequential, pipelined) vs a raw line echo; idle RSS; start-up time."
    )

    @Option(help: "Round trips per measurement.") var count = 20_000
    @Option(help: "Requests in flight in the pipelined runs.") var depth = 32
    @Option(help: "Daemon starts to time (median reported).") var starts = 20

    func run() async throws {
        let binDir = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
        let dir = try BenchDirectory()

        // exec → READY=1, and idle RSS, over `starts` fresh daemons.
        var readyTimes: [Double] = []
        var rss: [Int] = []
        for index in 0..<starts {
            let notify = try DatagramListener(path: dir.path("notify-\(index).sock"))
            let started = ContinuousClock.now
            let pid = try spawnProcess(binDir + "/wpwithind", [
                "--socket", dir.path("d\(index).sock"), "--state-dir", dir.path("state-\(index)"), "--log-level", "error",
            ], environment: ["NOTIFY_SOCKET": notify.path])
            try notify.waitFor("READY=1")
            readyTimes.append(milliseconds(ContinuousClock.now - started))
            if index == starts - 1 || index == 0 {
                try await Task.sleep(for: .seconds(1))
                rss.append(residentKiB(pid))
            }
            kill(pid, SIGTERM)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        readyTimes.sort()

        // A long-lived daemon and an echo server for the throughput runs.
        let daemonSocket = dir.path("rpc.sock")
        let daemon = try spawnProcess(binDir + "/wpwithind", [
            "--socket", daemonSocket, "--state-dir", dir.path("state"), "--log-level", "error",
        ], environment: [:])
        defer { kill(daemon, SIGTERM); var s: Int32 = 0; waitpid(daemon, &s, 0) }
        let echoSocket = dir.path("echo.sock")
        let echo = try spawnProcess(binDir + "/wpw-bench", ["echo-server", "--socket", echoSocket], environment: [:])
        defer { kill(echo, SIGTERM); var s: Int32 = 0; waitpid(echo, &s, 0) }
        try waitForSocket(daemonSocket)
        try waitForSocket(echoSocket)

        let request = Array(#"{"jsonrpc":"2.0","id":1,"method":"getDevice"}"#.utf8) + [0x0A]
        let daemonSequential = try roundTrips(socket: daemonSocket, request: request, count: count, depth: 1)
        let daemonPipelined = try roundTrips(socket: daemonSocket, request: request, count: count, depth: depth)
        let echoSequential = try roundTrips(socket: echoSocket, request: request, count: count, depth: 1)
        let echoPipelined = try roundTrips(socket: echoSocket, request: request, count: count, depth: depth)

        print("wpw-bench rpc  (count=\(count), depth=\(depth), starts=\(starts))")
        print(String(format: "  getDevice sequential : %9.0f calls/s   (echo floor %9.0f/s, ratio %.2fx)",
                     daemonSequential, echoSequential, echoSequential / daemonSequential))
        print(String(format: "  getDevice pipelined  : %9.0f calls/s   (echo floor %9.0f/s, ratio %.2fx)",
                     daemonPipelined, echoPipelined, echoPipelined / daemonPipelined))
        print(String(format: "  exec → READY=1       : median %.1f ms  (min %.1f, max %.1f, n=%d)",
                     readyTimes[readyTimes.count / 2], readyTimes.first ?? 0, readyTimes.last ?? 0, readyTimes.count))
        print("  idle RSS             : \(rss.map { "\($0 / 1024).\($0 % 1024 * 10 / 1024) MB" }.joined(separator: ", "))")
    }

    func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    /// Calls per second with `depth` requests kept in flight on one connection.
    func roundTrips(socket path: String, request: [UInt8], count: Int, depth: Int) throws -> Double {
        let fd = try connectUnixSocket(path)
        defer { close(fd) }
        var burst: [UInt8] = []
        for _ in 0..<depth { burst += request }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        func run(_ rounds: Int) throws {
            for _ in 0..<rounds {
                try sendAll(fd, burst)
                var lines = 0
                while lines < depth {
                    let n = recv(fd, &buffer, buffer.count, 0)
                    guard n > 0 else { throw ValidationError("connection closed during the benchmark") }
                    for i in 0..<n where buffer[i] == 0x0A { lines += 1 }
                }
            }
        }
        try run(max(1, 2000 / depth))  // warm-up
        let rounds = max(1, count / depth)
        let start = ContinuousClock.now
        try run(rounds)
        let elapsed = ContinuousClock.now - start
        return Double(rounds * depth) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
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

// MARK: - Process and socket helpers shared by the benchmarks

struct BenchDirectory {
    let root: String
    init() throws {
        var template = Array("/tmp/wpwb-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ValidationError("mkdtemp failed") }
        root = String(cString: made)
    }
    func path(_ name: String) -> String { root + "/" + name }
}

func spawnProcess(_ path: String, _ arguments: [String], environment extra: [String: String]) throws -> pid_t {
    var env = ProcessInfo.processInfo.environment
    env["WPWITHIND_HTE_HOST"] = "127.0.0.1"
    env["WPWITHIND_HTE_PORT"] = "0"
    for (key, value) in extra { env[key] = value }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, path, &actions, nil, argv, envp)
    guard result == 0 else { throw ValidationError("cannot start \(path): \(String(cString: strerror(result)))") }
    return pid
}

func connectUnixSocket(_ path: String) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard result == 0 else {
        close(fd)
        throw ValidationError("cannot connect to \(path)")
    }
    return fd
}

func waitForSocket(_ path: String) throws {
    for _ in 0..<500 {
        if let fd = try? connectUnixSocket(path) {
            close(fd)
            return
        }
        usleep(10_000)
    }
    throw ValidationError("nothing listens on \(path)")
}

func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard n > 0 else { throw ValidationError("send failed") }
        offset += n
    }
}

/// VmRSS of a process, in KiB.
func residentKiB(_ pid: pid_t) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }
    return 0
}

/// A datagram socket standing in for systemd's NOTIFY_SOCKET.
final class DatagramListener {
    let path: String
    let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else { throw ValidationError("cannot bind \(path)") }
    }

    deinit { close(fd) }

    func waitFor(_ needle: String) throws {
        var buffer = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<300 {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0, String(decoding: buffer[..<n], as: UTF8.self).contains(needle) { return }
        }
        throw ValidationError("no \(needle) from the daemon")
    }
}
