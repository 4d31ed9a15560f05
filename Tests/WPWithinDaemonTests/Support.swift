#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WPWithinClient
import WPWithinCore
import WPWithinTestSupport

/// Errors from the test harness itself.
struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Where `swift build` put the executables: next to the test binary.
enum BuiltProducts {
    static var directory: URL {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        // The test binary may sit inside an .xctest bundle folder.
        while directory.path.hasSuffix(".xctest") || directory.lastPathComponent == "MacOS" || directory.lastPathComponent == "Contents" {
            directory = directory.deletingLastPathComponent()
        }
        return directory
    }

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}

/// A temporary directory removed at deinit. Kept short: Unix socket paths hold at most 107 bytes.
final class TempDir: @unchecked Sendable {
    let path: String

    init() throws {
        var template = Array("/tmp/wpw-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw HarnessError("mkdtemp failed") }
        path = String(cString: made)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A running `wpwithind` (or any executable) started with posix_spawn, stderr captured to a file.
final class DaemonProcess: @unchecked Sendable {
    let dir: TempDir
    let socketPath: String
    let stateDir: String
    let logPath: String
    let pid: pid_t
    private var exitStatus: Int32?

    init(
        dir: TempDir,
        socketPath: String? = nil,
        extraArguments: [String] = [],
        environment: [String: String] = [:],
        executablePath: String = BuiltProducts.path("wpwithind"),
        useDefaultArguments: Bool = true,
        wrapper: [String] = [],
        journalStream: Bool = false
    ) throws {
        self.dir = dir
        self.socketPath = socketPath ?? dir.file("rpc.sock")
        self.stateDir = dir.file("state")
        self.logPath = dir.file("daemon-\(UUID().uuidString.prefix(8)).log")
        var arguments = useDefaultArguments
            ? ["--socket", self.socketPath, "--state-dir", stateDir, "--log-level", "debug"] : []
        arguments += extraArguments
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("WPWITHIND_") || key == "CREDENTIALS_DIRECTORY" || key == "NOTIFY_SOCKET" || key.hasPrefix("LISTEN_") || key.hasPrefix("WATCHDOG_") {
            env[key] = nil
        }
        // Network rule: test daemons serve HTE on 127.0.0.1, on a port the kernel picks.
        env["WPWITHIND_HTE_HOST"] = "127.0.0.1"
        env["WPWITHIND_HTE_PORT"] = "0"
        env["JOURNAL_STREAM"] = nil
        for (key, value) in environment { env[key] = value }
        if journalStream {
            // As systemd does for a unit logging to the journal: stderr's device and inode in JOURNAL_STREAM
            // (here the log file, created first so that its inode is known).
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            var status = stat()
            guard stat(logPath, &status) == 0 else { throw HarnessError("stat \(logPath) failed") }
            env["JOURNAL_STREAM"] = "\(status.st_dev):\(status.st_ino)"
        }
        // A wrapper (e.g. `unshare -m … sh -c '…; exec "$@"'`) execs the daemon in place: the pid stays its.
        let command = wrapper.isEmpty ? executablePath : wrapper[0]
        let commandArguments = wrapper.isEmpty ? arguments : Array(wrapper.dropFirst()) + [executablePath] + arguments
        pid = try spawn(command, arguments: commandArguments, environment: env, stderrPath: logPath)
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// True while the process has not exited (reaps it when it has).
    var isRunning: Bool {
        if exitStatus != nil { return false }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        guard result == pid else { return result == 0 }
        // WIFEXITED: low 7 bits zero; exit code in bits 8-15. Killed by a signal: 128 + signal.
        exitStatus = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return false
    }

    /// Waits until the socket accepts connections (or the process dies).
    func waitUntilListening(timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            if !isRunning { throw HarnessError("daemon exited with \(exitStatus ?? -1):\n\(log)") }
            // Ready means answering: one real round trip, so no connection is still half-accepted when a
            // test signals the daemon next.
            if probe(socketPath) == 0, let client = try? RawClient(path: socketPath),
               (try? await client.result("getStatus"))?["ready"] == true {
                return
            }
            // Checked after an attempt: a test that resumes late (a busy machine) still asks once more.
            guard ContinuousClock.now < deadline else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HarnessError("daemon did not listen on \(socketPath):\n\(log)")
    }

    func signal(_ sig: Int32) { kill(pid, sig) }

    /// Waits for exit and returns the exit status (128 + n when killed by signal n).
    func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while isRunning {
            if ContinuousClock.now > deadline {
                kill(pid, SIGKILL)
                throw HarnessError("process did not exit:\n\(log)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return exitStatus ?? -1
    }

    /// Replays every event the daemon's journal keeps (RawClient validates each against rpc.discover), then
    /// SIGTERM and wait.
    func stop(sourceLocation: SourceLocation = #_sourceLocation) async throws -> Int32 {
        await replayJournal(sourceLocation: sourceLocation)
        signal(SIGTERM)
        return try await waitForExit()
    }

    /// Subscribes with `resumeFrom: 0` and reads every replayed event, so that each event a test made the
    /// daemon publish is validated against the OpenRPC document even when the test never listened for it
    /// (docs/testing.md). Best effort: a daemon that does not answer (stopped, overloaded, a test's odd state)
    /// is left alone; only an event that does not conform records an issue.
    func replayJournal(sourceLocation: SourceLocation = #_sourceLocation) async {
        guard isRunning, probe(socketPath) == 0, let client = try? RawClient(path: socketPath),
              let subscribed = try? await client.call("subscribe", ["resumeFrom": 0], timeout: .seconds(5), sourceLocation: sourceLocation),
              let replayed = subscribed["result"]?["replayed"]?.int64Value
        else { return }
        for _ in 0..<replayed {
            guard (try? await client.readJSON(timeout: .seconds(5), sourceLocation: sourceLocation)) != nil else { return }
        }
    }

    deinit {
        if isRunning {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }
}

/// 0 when something accepts connections at `path`, else errno.
func probe(_ path: String) -> Int32 {
    guard let fd = try? connectUnix(path) else { return errno == 0 ? ECONNREFUSED : errno }
    close(fd)
    return 0
}

func connectUnix(_ path: String) throws -> Int32 {
    // Close-on-exec: a helper process spawned by a test must not hold the test's connections open.
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw HarnessError("socket() failed") }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    withUnsafeMutableBytes(of: &address.sun_path) { buffer in
        buffer.copyBytes(from: bytes)
        buffer[bytes.count] = 0
    }
    let result = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
        }
    }
    guard result == 0 else {
        let code = errno
        close(fd)
        errno = code
        throw HarnessError("connect(\(path)) failed: \(String(cString: strerror(code)))")
    }
    return fd
}

/// A deliberately raw line client: it can send anything, including bytes that are not JSON.
/// Its waits are async (see `onOwnThread`); use one client from one task at a time.
///
/// Every line the daemon sends it is validated against the OpenRPC document (`OpenRPCDocument.snapshot`):
/// a response's result against its method's result schema (the method of the request this client sent with
/// that id), an error's code and `data` against `ErrorData.<name>`, a notification against `Event.<type>` or
/// its `x-notifications` schema. A line that does not conform records an issue in the running test (path and
/// reason); what conformed is recorded in `OpenRPCCoverage` (docs/testing.md).
final class RawClient: @unchecked Sendable {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var nextID: Int64 = 1
    /// The method of each request sent, by id (the latest one sent with that id).
    private var methods: [JSONValue: String] = [:]
    /// Lines received on the reading thread, validated when the read returns to the test's task.
    private var unvalidated: [String] = []

    init(path: String) throws {
        fd = try connectUnix(path)
    }

    deinit { close(fd) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        noteRequests(bytes)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw HarnessError("send failed: \(String(cString: strerror(errno)))") }
            offset += written
        }
    }

    func sendLine(_ value: JSONValue) throws {
        let data = try JSONEncoder().encode(value)
        try send(Array(data) + [0x0A])
    }

    /// Remembers the method of every request in `bytes` (whole lines of JSON; a batch counts), by id.
    private func noteRequests(_ bytes: [UInt8]) {
        for line in bytes.split(separator: 0x0A) {
            guard let message = try? JSONValue.parse(line) else { continue }
            for request in message.arrayValue ?? [message] {
                if let id = request["id"], let method = request["method"]?.stringValue { methods[id] = method }
            }
        }
    }

    /// Validates the lines received since the last call (in the test's task, so an issue names the test).
    private func validateReceived(sourceLocation: SourceLocation) {
        let lines = unvalidated
        unvalidated = []
        let document: OpenRPCDocument
        switch OpenRPCDocument.snapshot {
        case .success(let loaded): document = loaded
        case .failure(let error):
            Issue.record("cannot load the OpenRPC snapshot to validate answers: \(error)", sourceLocation: sourceLocation)
            return
        }
        for line in lines {
            guard let message = try? JSONValue.parse(line) else { continue }  // not JSON: the test's own concern
            for problem in document.checkMessage(message, methodForID: { self.methods[$0] }) {
                Issue.record(Comment(rawValue: problem), sourceLocation: sourceLocation)
            }
            for problem in Self.swiftClientDecodes(message, methodForID: { self.methods[$0] }) {
                Issue.record(Comment(rawValue: problem), sourceLocation: sourceLocation)
            }
        }
    }

    /// The Swift client's typed result of each method (GeneratedTypes.swift).
    static var swiftResultTypes: [String: any Decodable.Type] { [
        "getDevice": WPWithinClient.Device.self, "getStatus": WPWithinClient.Status.self,
        "startServiceBroadcast": WPWithinClient.Broadcasting.self, "stopServiceBroadcast": WPWithinClient.Broadcasting.self,
        "addService": WPWithinClient.Service.self, "removeService": WPWithinClient.Removal.self,
        "listServices": [WPWithinClient.Service].self, "deviceDiscovery": [WPWithinClient.DiscoveredDevice].self,
        "searchForDevice": WPWithinClient.DiscoveredDevice.self, "requestServices": WPWithinClient.ServiceList.self,
        "getServicePrices": WPWithinClient.PriceList.self, "selectService": WPWithinClient.Quote.self,
        "makePayment": WPWithinClient.Purchase.self, "beginServiceDelivery": WPWithinClient.DeliveryBegun.self,
        "endServiceDelivery": WPWithinClient.DeliveryEnded.self, "listPurchases": [WPWithinClient.Purchase].self,
        "subscribe": WPWithinClient.Subscription.self,
    ] }

    /// What the Swift client would make of `message`: each result decodes into its method's type, each event
    /// into a typed payload (not `.other`, not `.malformed`). The generated Swift types cannot drift from what
    /// the daemon sends.
    static func swiftClientDecodes(_ message: JSONValue, methodForID: (JSONValue) -> String?) -> [String] {
        if case .array(let items) = message { return items.flatMap { swiftClientDecodes($0, methodForID: methodForID) } }
        if message["method"] == "event", let params = message["params"], let event = WPWithinClient.Event(params: params) {
            switch event.payload {
            case .other(let type, _): return ["the Swift client has no type for the event \(type)"]
            case .malformed(let type, _, let reason): return ["the Swift client cannot decode the event \(type): \(reason)"]
            default: return []
            }
        }
        guard let result = message["result"], let method = message["id"].flatMap(methodForID),
              let type = swiftResultTypes[method]
        else { return [] }
        do {
            _ = try WPWithinClient.decodeValue(result, as: type)
            return []
        } catch {
            return ["the Swift client cannot decode the result of \(method) as \(type): \(WPWithinClient.describeDecodingError(error))"]
        }
    }

    /// Next line, or nil at end of stream. Throws on timeout. The wait happens on a thread of its own
    /// (`onOwnThread`), so a test waiting for a daemon never holds a thread of Swift's cooperative pool.
    func readLine(timeout: Duration = .seconds(20), sourceLocation: SourceLocation = #_sourceLocation) async throws -> String? {
        defer { validateReceived(sourceLocation: sourceLocation) }
        return try await onOwnThread { try self.receiveLine(timeout: timeout) }
    }

    private func receiveLine(timeout: Duration) throws -> String? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                unvalidated.append(line)
                return line
            }
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { throw HarnessError("timed out waiting for a line") }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ms = Int32(remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000)
            guard poll(&pfd, 1, max(ms, 1)) > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = recv(fd, &chunk, chunk.count, 0)
            if count <= 0 {
                if buffer.isEmpty { return nil }
                let line = String(decoding: buffer, as: UTF8.self)
                buffer = []
                unvalidated.append(line)
                return line
            }
            buffer += chunk[..<count]
        }
    }

    func readJSON(timeout: Duration = .seconds(20), sourceLocation: SourceLocation = #_sourceLocation) async throws -> JSONValue {
        defer { validateReceived(sourceLocation: sourceLocation) }
        return try await onOwnThread { try self.receiveJSON(timeout: timeout) }
    }

    private func receiveJSON(timeout: Duration) throws -> JSONValue {
        guard let line = try receiveLine(timeout: timeout) else { throw HarnessError("connection closed") }
        return try JSONDecoder().decode(JSONValue.self, from: Data(line.utf8))
    }

    /// True when the daemon closed the connection (after any pending lines are consumed).
    func isClosed(timeout: Duration = .seconds(20), sourceLocation: SourceLocation = #_sourceLocation) async throws -> Bool {
        try await readLine(timeout: timeout, sourceLocation: sourceLocation) == nil
    }

    /// Sends a request and returns its response (skipping notifications).
    func call(
        _ method: String, _ params: JSONValue? = nil, timeout: Duration = .seconds(20),
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> JSONValue {
        let id = nextID
        nextID += 1
        var request: [String: JSONValue] = ["jsonrpc": "2.0", "id": .int(id), "method": .string(method)]
        if let params { request["params"] = params }
        try sendLine(.object(request))
        defer { validateReceived(sourceLocation: sourceLocation) }
        return try await onOwnThread {
            while true {
                let message = try self.receiveJSON(timeout: timeout)
                if message["id"] == .int(id) { return message }
            }
        }
    }

    /// The result of a call, or a failure naming the error.
    func result(_ method: String, _ params: JSONValue? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws -> JSONValue {
        let response = try await call(method, params, sourceLocation: sourceLocation)
        guard let result = response["result"] else { throw HarnessError("\(method) failed: \(response)") }
        return result
    }
}

/// A datagram socket standing in for systemd's NOTIFY_SOCKET.
final class NotifyListener: @unchecked Sendable {
    let path: String
    let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else { throw HarnessError("bind notify socket failed") }
    }

    deinit { close(fd) }

    /// Collects datagrams until one contains `needle` (returns every message seen so far).
    func waitFor(_ needle: String, timeout: Duration = .seconds(30)) async throws -> [String] {
        try await onOwnThread { try self.receiveUntil(needle, timeout: timeout) }
    }

    /// Every message already queued (without waiting): for a process that has exited.
    func drain() -> [String] {
        var messages: [String] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &chunk, chunk.count, Int32(MSG_DONTWAIT))
            guard count > 0 else { return messages }
            messages.append(String(decoding: chunk[..<count], as: UTF8.self))
        }
    }

    private func receiveUntil(_ needle: String, timeout: Duration) throws -> [String] {
        var seen: [String] = []
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = recv(fd, &chunk, chunk.count, 0)
            guard count > 0 else { continue }
            let message = String(decoding: chunk[..<count], as: UTF8.self)
            seen.append(message)
            if message.contains(needle) { return seen }
        }
        throw HarnessError("no notify message containing \(needle); saw \(seen)")
    }
}
