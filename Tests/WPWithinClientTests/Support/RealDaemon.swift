import Foundation
import WPWithinTestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The built `wpwithind` running in a temp dir: `--socket <tmp>/rpc.sock --state-dir <tmp>/state --log-level debug`
/// (or the socket path given), with extra environment variables (`WPWITHIND_…` configuration) if given.
///
/// Readiness is the daemon's own `READY=1` on a `NOTIFY_SOCKET` that this harness binds, so no test polls or
/// sleeps; a blocking receive with a generous socket timeout guards against a daemon that never gets ready.
final class RealDaemon: Sendable {
    let directory: String
    let socketPath: String
    let stateDir: String
    let logPath: String
    let pid: pid_t

    private init(directory: String, socketPath: String, pid: pid_t) {
        self.directory = directory
        self.socketPath = socketPath
        self.stateDir = directory + "/state"
        self.logPath = directory + "/daemon.log"
        self.pid = pid
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// - Parameter directory: an existing directory to run in (its `state` kept), as a restart does: see `restart`.
    static func start(
        environment extra: [String: String] = [:], socketPath: String? = nil, directory: String? = nil
    ) async throws -> RealDaemon {
        let executable = try builtExecutable("wpwithind")
        let directory = try directory ?? makeTemporaryDirectory()
        let socketPath = socketPath ?? directory + "/rpc.sock"
        let notifyPath = directory + "/notify.sock"
        unlink(notifyPath)
        let notify = try bindDatagramSocket(notifyPath)
        defer { close(notify) }

        var environment = ProcessInfo.processInfo.environment
        for key in environment.keys
        where key.hasPrefix("WPWITHIN") || key.hasPrefix("LISTEN_") || key.hasPrefix("WATCHDOG_") {
            environment[key] = nil
        }
        environment["NOTIFY_SOCKET"] = notifyPath
        // Network rule: HTE on 127.0.0.1, port chosen by the kernel.
        environment["WPWITHIND_HTE_HOST"] = "127.0.0.1"
        environment["WPWITHIND_HTE_PORT"] = "0"
        environment.merge(extra) { _, new in new }
        let pid = try spawn(
            executable,
            arguments: ["--socket", socketPath, "--state-dir", directory + "/state", "--log-level", "debug"],
            environment: environment,
            stderrPath: directory + "/daemon.log"
        )
        let daemon = RealDaemon(directory: directory, socketPath: socketPath, pid: pid)
        let ready = await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: waitForReady(notify)) }
        }
        guard ready else {
            kill(pid, SIGKILL)
            _ = await daemon.waitForExit()
            throw TestSupportError("wpwithind did not report READY=1:\n\(daemon.log)")
        }
        return daemon
    }

    func signal(_ signal: Int32) { kill(pid, signal) }

    /// Waits (on a thread of its own) for the process to end; its exit status, or 128 + signal.
    func waitForExit() async -> Int32 {
        let pid = self.pid
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
                let code = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
                continuation.resume(returning: code)
            }
        }
    }

    /// SIGTERM, wait for the exit, remove the temp dir; returns the exit status.
    @discardableResult
    func stop() async -> Int32 {
        let status = await terminate()
        try? FileManager.default.removeItem(atPath: directory)
        return status
    }

    /// SIGTERM and wait for the exit, keeping the directory (state and log); returns the exit status.
    func terminate() async -> Int32 {
        signal(SIGTERM)
        return await waitForExit()
    }

    /// A daemon restart: SIGTERM, wait for the exit, then a new process on the same socket path and state
    /// directory (and environment).
    func restart(environment: [String: String] = [:]) async throws -> RealDaemon {
        let status = await terminate()
        guard status == 0 else { throw TestSupportError("wpwithind exited with \(status) on SIGTERM:\n\(log)") }
        return try await RealDaemon.start(environment: environment, socketPath: socketPath, directory: directory)
    }
}

/// Blocks until a datagram with a `READY=1` line arrives (false after 60 s without one).
private func waitForReady(_ fd: Int32) -> Bool {
    var timeout = timeval(tv_sec: 60, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = recv(fd, &buffer, buffer.count, 0)
        if count < 0 {
            if errno == EINTR { continue }
            return false
        }
        let message = String(decoding: buffer[..<count], as: UTF8.self)
        if message.split(separator: "\n").contains("READY=1") { return true }
    }
}

private func bindDatagramSocket(_ path: String) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { throw TestSupportError("socket() failed") }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard result == 0 else {
        close(fd)
        throw TestSupportError("bind \(path) failed: \(String(cString: strerror(errno)))")
    }
    return fd
}
