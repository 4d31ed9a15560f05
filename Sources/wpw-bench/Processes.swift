#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation

// Process, file and /proc helpers shared by the benchmarks. Everything here is blocking and loopback-only.

/// A temporary directory for sockets, state and credentials. Short, since a Unix socket path holds ≤ 107 bytes.
struct BenchDirectory {
    let root: String
    init() throws {
        var template = Array("/tmp/wpwb-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ValidationError("mkdtemp failed") }
        root = String(cString: made)
    }
    func path(_ name: String) -> String { root + "/" + name }

    /// Writes `text` to `name` with `mode` (credential files are 0600) and returns the path.
    @discardableResult
    func write(_ name: String, _ text: String, mode: mode_t = 0o644) throws -> String {
        let file = path(name)
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, mode)
        guard fd >= 0 else { throw ValidationError("cannot create \(file)") }
        defer { close(fd) }
        fchmod(fd, mode)
        let bytes = Array(text.utf8)
        guard Glibc.write(fd, bytes, bytes.count) == bytes.count else { throw ValidationError("cannot write \(file)") }
        return file
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

/// The directory holding this executable (and, after `swift build`, its siblings).
var binDirectory: String {
    URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
}

/// A child process started with posix_spawn. stdin is /dev/null; stdout and stderr go to files (nil: inherited).
final class Child {
    let pid: pid_t
    let name: String
    private(set) var exitStatus: Int32?

    /// `environment` is added to this process's environment minus every `WPWITHIND_*`, `NOTIFY_SOCKET`,
    /// `LISTEN_*`, `WATCHDOG_*` and `CREDENTIALS_DIRECTORY` (so nothing from the caller's shell leaks in).
    init(_ path: String, _ arguments: [String], environment extra: [String: String] = [:],
         stdout: String? = "/dev/null", stderr: String? = "/dev/null") throws {
        name = (path as NSString).lastPathComponent
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("WPWITHIND_") || key.hasPrefix("LISTEN_") || key.hasPrefix("WATCHDOG_")
            || key == "NOTIFY_SOCKET" || key == "CREDENTIALS_DIRECTORY" {
            env[key] = nil
        }
        for (key, value) in extra { env[key] = value }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if let stdout { posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_APPEND, 0o644) }
        if let stderr { posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_APPEND, 0o644) }
        // Nothing else is inherited: SwiftNIO's sockets are not close-on-exec, and a child holding one keeps
        // a connection this process closed open (posix_spawn_file_actions_addclosefrom_np, glibc >= 2.34; looked
        // up at run time, the Glibc module does not import it).
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let closeFrom = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np"),
              unsafeBitCast(closeFrom, to: AddCloseFrom.self)(&actions, 3) == 0
        else { throw ValidationError("cannot start \(path): posix_spawn_file_actions_addclosefrom_np is unavailable") }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, path, &actions, nil, argv, envp)  // p: a wrapper may be named without its path
        guard result == 0 else { throw ValidationError("cannot start \(path): \(String(cString: strerror(result)))") }
        self.pid = pid
    }

    var isRunning: Bool {
        if exitStatus != nil { return false }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        guard result == pid else { return result == 0 }
        exitStatus = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return false
    }

    /// Sends `signal` (SIGTERM by default), then waits up to `timeout` seconds (SIGKILL after). Returns the exit
    /// status (128 + n on signal n).
    @discardableResult
    func stop(signal: Int32 = SIGTERM, timeout: Double = 15) -> Int32 {
        if isRunning { kill(pid, signal) }
        return wait(timeout: timeout)
    }

    /// Waits for the exit up to `timeout` seconds, then SIGKILL. Returns the exit status.
    @discardableResult
    func wait(timeout: Double) -> Int32 {
        let deadline = monotonicSeconds() + timeout
        while isRunning {
            if monotonicSeconds() > deadline { kill(pid, SIGKILL) }
            usleep(2_000)
        }
        return exitStatus ?? -1
    }

    deinit { if isRunning { kill(pid, SIGKILL); var s: Int32 = 0; waitpid(pid, &s, 0) } }
}

/// CLOCK_MONOTONIC in nanoseconds.
@inline(__always)
func monotonicNanos() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

func monotonicSeconds() -> Double { Double(monotonicNanos()) / 1e9 }

func sleepSeconds(_ seconds: Double) { usleep(useconds_t(max(0, seconds) * 1e6)) }

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

    deinit { close(fd); unlink(path) }

    /// Waits for a datagram containing `needle`; returns the monotonic time it was received (ns).
    @discardableResult
    func waitFor(_ needle: String, timeout: Double = 30, child: Child? = nil) throws -> UInt64 {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = monotonicSeconds() + timeout
        while monotonicSeconds() < deadline {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 50) > 0 else {
                if let child, !child.isRunning { throw ValidationError("\(child.name) exited with \(child.exitStatus ?? -1) before \(needle)") }
                continue
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            let received = monotonicNanos()
            if n > 0, String(decoding: buffer[..<n], as: UTF8.self).contains(needle) { return received }
        }
        throw ValidationError("no \(needle) on \(path) within \(Int(timeout)) s")
    }
}

/// The first process below `root` (itself included) whose executable's name is `name`, or nil.
func descendant(of root: pid_t, named name: String) -> pid_t? {
    var parents: [pid_t: [pid_t]] = [:]
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = pid_t(entry), let ppid = procFields("/proc/\(pid)/status")["PPid"] else { continue }
        parents[pid_t(ppid), default: []].append(pid)
    }
    var queue = [root]
    while !queue.isEmpty {
        let pid = queue.removeFirst()
        if readTextFile("/proc/\(pid)/comm")?.trimmingCharacters(in: .whitespacesAndNewlines) == name { return pid }
        queue += parents[pid] ?? []
    }
    return nil
}

/// A free UDP port on 127.0.0.1 (bound and released at once).
func freeUDPPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
            guard bind(fd, pointer, length) == 0 else { return -1 }
            return getsockname(fd, pointer, &length)
        }
    }
    guard bound == 0 else { throw ValidationError("cannot find a free UDP port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

// MARK: - /proc

/// The whole file, read with read(2) to EOF (/proc files report size 0, and Foundation may stop at the first chunk).
func readTextFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = read(fd, &chunk, chunk.count)
        if n < 0, errno == EINTR { continue }
        guard n > 0 else { break }
        bytes += chunk[..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// `Key:   value kB` lines of /proc/PID/status or smaps_rollup, as a dictionary of integers.
func procFields(_ path: String) -> [String: Int] {
    var fields: [String: Int] = [:]
    for line in (readTextFile(path) ?? "").split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        let value = line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
        if let value { fields[String(line[..<colon])] = value }
    }
    return fields
}

/// User + system CPU time a process has used so far, in seconds (from /proc/PID/stat; 0 when it is gone).
func cpuSeconds(_ pid: pid_t) -> Double {
    guard let stat = readTextFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return 0 }
    // Fields after "(comm)": state is field 3, utime 14, stime 15 (1-based), so 11 and 12 after the state.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// VmRSS of a process, in KiB (0 when it is gone).
func residentKiB(_ pid: pid_t) -> Int { procFields("/proc/\(pid)/status")["VmRSS"] ?? 0 }

/// A snapshot of where a process's memory is: RSS split, threads, and the biggest mappings by RSS.
func memoryBreakdown(_ pid: pid_t) -> [String: Any] {
    let status = procFields("/proc/\(pid)/status")
    let rollup = procFields("/proc/\(pid)/smaps_rollup")
    var result: [String: Any] = [
        "rssKiB": status["VmRSS"] ?? 0, "rssAnonKiB": status["RssAnon"] ?? 0, "rssFileKiB": status["RssFile"] ?? 0,
        "rssShmemKiB": status["RssShmem"] ?? 0, "vmSizeKiB": status["VmSize"] ?? 0, "threads": status["Threads"] ?? 0,
        "privateKiB": (rollup["Private_Clean"] ?? 0) + (rollup["Private_Dirty"] ?? 0), "pssKiB": rollup["Pss"] ?? 0,
    ]
    // Per mapping (file or [heap]/[anon]): RSS summed over its regions. Anonymous regions are also listed one by
    // one with their size: 64 MiB reservations are glibc malloc arenas, 8 MiB ones thread stacks.
    var byMapping: [String: Int] = [:]
    var anonymous: [(size: Int, rss: Int)] = []
    var current = "[anon]"
    var size = 0
    for line in (readTextFile("/proc/\(pid)/smaps") ?? "").split(separator: "\n") {
        let columns = line.split(separator: " ", omittingEmptySubsequences: true)
        if let first = columns.first, first.contains("-"), columns.count >= 5, first.first?.isHexDigit == true {
            current = columns.count >= 6 ? (String(columns[5]) as NSString).lastPathComponent : "[anon]"
        } else if columns.first == "Size:", columns.count >= 2, let kib = Int(columns[1]) {
            size = kib
        } else if columns.first == "Rss:", columns.count >= 2, let kib = Int(columns[1]) {
            byMapping[current, default: 0] += kib
            if current == "[anon]" || current == "[heap]", kib > 0 { anonymous.append((size, kib)) }
        }
    }
    result["topAnonymousRegionsKiB"] = anonymous.sorted { $0.rss > $1.rss }.prefix(10).map { ["sizeKiB": $0.size, "rssKiB": $0.rss] }
    result["topMappingsKiB"] = byMapping.sorted { $0.value > $1.value }.prefix(12).map { ["mapping": $0.key, "rssKiB": $0.value] }
    return result
}

/// Runs a command and returns its stdout (nil when it cannot run or fails).
func commandOutput(_ path: String, _ arguments: [String], directory: String? = nil) -> String? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle(forWritingAtPath: "/dev/null")
    do { try process.run() } catch { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { return nil }
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}
