import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import WPWithinClient
import WPWithinCore

/// One connection to the daemon for one command, with the global options applied: every call is bounded by
/// `--timeout` (exit 4 on expiry).
struct Session: Sendable {
    let client: WPWithinClient
    let global: GlobalOptions
    /// The socket connected to (for messages).
    let socketPath: String

    /// Calls `method`; `longer` is added to `--timeout` for methods that take time by design (deviceDiscovery).
    func call(_ method: String, _ params: [String: JSONValue]? = nil, longer: Double = 0) async throws -> JSONValue {
        let client = self.client
        return try await withDeadline(global.timeout.map { $0 + longer }, what: method) {
            try await client.call(method, params: params)
        }
    }

    /// Prints `value` as the command's result: `--json` the raw value, else `readable`'s text.
    func print(_ value: JSONValue, readable: (JSONValue) -> String) {
        Console.out(global.json ? Output.json(value) : readable(value))
    }
}

/// The daemon did not answer `what` within `seconds` (`--timeout`).
struct DeadlineExceeded: Error {
    var what: String
    var seconds: Double
}

/// Runs `operation`, or throws `DeadlineExceeded` when it takes longer than `seconds` (nil: no limit).
/// The operation is cancelled then (an RPC call's late answer is dropped).
func withDeadline<T: Sendable>(
    _ seconds: Double?, what: String, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    guard let seconds else { return try await operation() }
    return try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw DeadlineExceeded(what: what, seconds: seconds)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Connects (after `--wait`, if given), runs `body`, closes, and turns failures into wpwctl's exit statuses
/// with a message on stderr.
func withDaemon(_ global: GlobalOptions, _ body: (Session) async throws -> Void) async throws {
    let path = WPWithinClient.resolveSocketPath(global.socket)
    let client: WPWithinClient
    // One connection per command, bounded by --timeout alone: the client's own call timeout and reconnecting
    // are off (see DaemonWait too), so a dropped connection ends the command with exit status 3.
    do {
        if let limit = global.waitLimit {
            client = try await DaemonWait.ready(path: path, seconds: limit)
        } else {
            client = try await WPWithinClient.connected(socketPath: path, timeout: nil, reconnect: false)
        }
    } catch let error as WPWithinClientError {
        Console.error(Output.clientError(error))
        throw ExitCode(ExitStatus.cannotConnect)
    } catch let error as DaemonWait.NotReady {
        Console.error(error.message)
        throw ExitCode(ExitStatus.cannotConnect)
    }
    do {
        try await body(Session(client: client, global: global, socketPath: path))
        await client.close()
    } catch {
        await client.close()
        throw exitError(for: error, global: global)
    }
}

/// The error to end the process with for a failure inside a command, after saying what happened on stderr.
func exitError(for error: any Error, global: GlobalOptions) -> any Error {
    switch error {
    case let error as WPWError:
        Console.error(Output.rpcError(error, json: global.json))
        return ExitCode(ExitStatus.rpcError)
    case let error as WPWithinClientError:
        Console.error(Output.clientError(error))
        return ExitCode(ExitStatus.cannotConnect)
    case let error as DeadlineExceeded:
        Console.error("wpwctl: timed out: no answer to \(error.what) within \(Output.seconds(error.seconds)) s (--timeout); the daemon may still complete it")
        return ExitCode(ExitStatus.timeout)
    default:
        return error
    }
}

/// `--wait`: waiting for a daemon that is starting.
enum DaemonWait {
    struct NotReady: Error {
        var message: String
    }

    /// A client connected to a daemon whose `getStatus` says ready, trying again (every 50 ms at first, then
    /// every 250 ms) until `seconds` have passed; then `NotReady` with the last reason.
    static func ready(path: String, seconds: Double) async throws -> WPWithinClient {
        let deadline = ContinuousClock.now + .seconds(seconds)
        var pause = Duration.milliseconds(50)
        var reason = "no answer"
        while true {
            do {
                let client = try await WPWithinClient.connected(socketPath: path, timeout: nil, reconnect: false)
                let remaining = max(0.05, (deadline - ContinuousClock.now) / .seconds(1))
                do {
                    let status = try await withDeadline(remaining, what: "getStatus") { try await client.call("getStatus") }
                    if status["ready"] == true { return client }
                    reason = "the daemon is not ready yet"
                } catch let error as WPWError {
                    reason = "error \(error.code.rawValue): \(error.message)"
                } catch let error as WPWithinClientError {
                    reason = error.message
                } catch is DeadlineExceeded {
                    reason = "getStatus got no answer"
                } catch {
                    reason = "\(error)"
                }
                await client.close()
            } catch {
                reason = error.message
            }
            if ContinuousClock.now >= deadline {
                throw NotReady(message: "wpwctl: gave up waiting for \(path) after \(Output.seconds(seconds)) s (--wait): \(reason)")
            }
            try await Task.sleep(for: min(pause, deadline - ContinuousClock.now))
            pause = min(pause * 2, .milliseconds(250))
        }
    }
}

/// Unbuffered line output, so `wpwctl events | …` sees each event at once.
enum Console {
    static func out(_ text: String) { write(STDOUT_FILENO, text + "\n") }

    static func error(_ text: String) { write(STDERR_FILENO, text + "\n") }

    /// Text on stderr as it is (no newline added): prompts and progress lines.
    static func status(_ text: String) { write(STDERR_FILENO, text) }

    static var stdinIsTerminal: Bool { isatty(STDIN_FILENO) == 1 }
    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }

    /// All of stdin, as text.
    static func readAll() -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += buffer[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The whole text, retrying after a signal or a partial write.
    private static func write(_ descriptor: Int32, _ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }
}
