// Helpers for integration tests that run the package's own executables on loopback.
//
// The API is deliberately small:
// - `BuiltExecutable.url(named:)`: the built executable next to the running test binary.
// - `TemporaryDirectory`: a fresh directory under the system temp dir, with `write` helpers.
// - `LaunchedProcess`: a child process whose stdout is read line by line (`nextLine()`), stopped
//   with `terminate()` (SIGTERM, then SIGKILL after a grace period).
// - `withLaunchedProcess(...)`: launch, run a body, always terminate.
// - `unusedLoopbackPort()`: a 127.0.0.1 TCP port nobody listens on (for "gateway down" tests).

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Locates executables built by SwiftPM in the same build directory as the running test binary.
public enum BuiltExecutable {
    /// The directory of the running process's executable (`/proc/self/exe` on Linux), e.g. `.build/debug`.
    public static var directory: URL {
        #if os(Linux)
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        #else
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        #endif
        // On macOS the test binary sits inside `X.xctest/Contents/MacOS`; walk up to the build directory.
        var dir = exe.deletingLastPathComponent()
        while dir.pathComponents.count > 1, dir.path.contains(".xctest") { dir.deleteLastPathComponent() }
        return dir
    }

    /// The URL of the executable `name` in ``directory``; throws when it was not built.
    public static func url(named name: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw TestSupportError("executable \(name) not found in \(directory.path); run `swift build --build-tests` first")
        }
        return url
    }
}

/// A failure in the test harness itself (not in the code under test).
public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A fresh temporary directory. Call ``remove()`` when done.
public struct TemporaryDirectory: Sendable {
    public let url: URL

    public init(prefix: String = "wpw-test") throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        self.url = url
    }

    /// The path of `name` inside the directory (not created).
    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Writes `text` to `name` with the given permissions and returns its path.
    @discardableResult
    public func write(_ text: String, to name: String, permissions: Int = 0o600) throws -> String {
        let path = path(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: permissions], ofItemAtPath: path)
        return path
    }

    /// The file's lines (empty when it does not exist).
    public func lines(of name: String) -> [String] {
        guard let data = FileManager.default.contents(atPath: path(name)) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    public func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}

/// A running child process. Its stdout is read on a background thread and offered line by line;
/// its stderr goes to a file (or is discarded).
public final class LaunchedProcess: @unchecked Sendable {
    // @unchecked: `process` is only started once in `launch` and then only signalled; the rest is immutable.
    private let process: Process
    private let lines: AsyncStream<String>
    private let exit: AsyncStream<Int32>

    /// The child's process id.
    public var processIdentifier: Int32 { process.processIdentifier }

    private init(process: Process, lines: AsyncStream<String>, exit: AsyncStream<Int32>) {
        self.process = process
        self.lines = lines
        self.exit = exit
    }

    /// Starts `executable` with `arguments`; stderr is appended to `stderrPath` when given.
    public static func launch(_ executable: URL, arguments: [String], stderrPath: String? = nil) throws -> LaunchedProcess {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardInput = FileHandle.nullDevice
        if let stderrPath {
            _ = FileManager.default.createFile(atPath: stderrPath, contents: nil, attributes: [.posixPermissions: 0o600])
            process.standardError = FileHandle(forWritingAtPath: stderrPath) ?? FileHandle.nullDevice
        } else {
            process.standardError = FileHandle.nullDevice
        }
        let (exit, exitContinuation) = AsyncStream<Int32>.makeStream(bufferingPolicy: .bufferingNewest(1))
        process.terminationHandler = { process in
            exitContinuation.yield(process.terminationStatus)
            exitContinuation.finish()
        }
        let (lines, lineContinuation) = AsyncStream<String>.makeStream()
        try process.run()
        let reader = stdout.fileHandleForReading
        // Blocking reads on a dedicated thread, never on the cooperative pool.
        Thread.detachNewThread {
            var buffer: [UInt8] = []
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                buffer.append(contentsOf: chunk)
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    lineContinuation.yield(String(decoding: buffer[..<newline], as: UTF8.self))
                    buffer.removeSubrange(...newline)
                }
            }
            if !buffer.isEmpty { lineContinuation.yield(String(decoding: buffer, as: UTF8.self)) }
            lineContinuation.finish()
        }
        return LaunchedProcess(process: process, lines: lines, exit: exit)
    }

    /// The next line of stdout (without the newline). Throws if the process closes stdout first, or if
    /// nothing arrives within `limit` (a hang guard, not an assertion on timing).
    public func nextLine(limit: Duration = .seconds(60)) async throws -> String {
        let lines = self.lines
        return try await withThrowingTaskGroup(of: String?.self) { group in
            group.addTask {
                var iterator = lines.makeAsyncIterator()
                return await iterator.next()
            }
            group.addTask {
                try await Task.sleep(for: limit)
                throw TestSupportError("no stdout line within \(limit)")
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let line = first else {
                throw TestSupportError("process closed stdout before writing a line")
            }
            return line
        }
    }

    /// Waits for the process to exit by itself and returns its status; if it has not after `limit` (a hang
    /// guard, not a timing assertion), terminates it (then the status says so).
    public func waitForExit(limit: Duration = .seconds(60)) async -> Int32 {
        let exit = self.exit
        let pid = process.processIdentifier
        let guardTask = Task {
            try await Task.sleep(for: limit)
            kill(pid, SIGTERM)
        }
        defer { guardTask.cancel() }
        for await status in exit { return status }
        return process.terminationStatus
    }

    /// Sends SIGTERM, waits for exit (SIGKILL after `grace`), and returns the exit status.
    @discardableResult
    public func terminate(grace: Duration = .seconds(10)) async -> Int32 {
        if process.isRunning { process.terminate() }
        let exit = self.exit
        let pid = process.processIdentifier
        let killer = Task {
            try await Task.sleep(for: grace)
            kill(pid, SIGKILL)
        }
        defer { killer.cancel() }
        for await status in exit { return status }
        return process.terminationStatus
    }
}

/// Launches `executable`, runs `body`, and always terminates the process afterwards.
public func withLaunchedProcess<T>(
    _ executable: URL,
    arguments: [String],
    stderrPath: String? = nil,
    _ body: (LaunchedProcess) async throws -> T
) async throws -> T {
    let process = try LaunchedProcess.launch(executable, arguments: arguments, stderrPath: stderrPath)
    do {
        let result = try await body(process)
        await process.terminate()
        return result
    } catch {
        await process.terminate()
        throw error
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on: bound, then closed. Chosen below the kernel's ephemeral
/// range (`ip_local_port_range`), so that no outgoing connection can take it as its source port: tests restart
/// daemons on the port they were given (after a `kill -9`), and a port in the ephemeral range could meanwhile
/// be the source port of any other test's connection (the restart then fails with EADDRINUSE).
public func unusedLoopbackPort() throws -> Int {
    let low = ephemeralPortRangeLow()
    if low > 12_000 {
        for _ in 0..<500 {
            if let (descriptor, port) = try? boundLoopbackTCPSocket(port: Int.random(in: 10_000..<low)) {
                close(descriptor)
                return port
            }
        }
    }
    let (descriptor, port) = try boundLoopbackTCPSocket()
    close(descriptor)
    return port
}

/// The first port of the kernel's ephemeral range (32768 when it cannot be read).
func ephemeralPortRangeLow() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8),
          let first = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first, let low = Int(first)
    else { return 32_768 }
    return low
}

/// A TCP listener on 127.0.0.1 (ephemeral port) that never accepts: the kernel completes the TCP handshake
/// of up to a few clients, and nothing ever answers them (a silent server). Closed on deinit.
public final class SilentLoopbackListener: Sendable {
    public let port: Int
    private let descriptor: Int32

    public init() throws {
        (descriptor, port) = try boundLoopbackTCPSocket()
        guard listen(descriptor, 16) == 0 else {
            close(descriptor)
            throw TestSupportError("listen() failed")
        }
    }

    deinit { close(descriptor) }
}

/// A TCP socket bound to 127.0.0.1 on `port` (0: a port the kernel picks), and that port. The caller closes it.
func boundLoopbackTCPSocket(port requested: Int = 0) throws -> (descriptor: Int32, port: Int) {
    #if canImport(Glibc)
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestSupportError("socket() failed") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(requested).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else {
        close(fd)
        throw TestSupportError("bind() failed")
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else {
        close(fd)
        throw TestSupportError("getsockname() failed")
    }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
    #else
    throw TestSupportError("loopback sockets are implemented for Linux only")
    #endif
}
