import ArgumentParser
import Foundation
import Testing
import WPWithinClient
import WPWithinCore
import WPWithinTestSupport
@testable import wpwctl

@Suite struct WPWCtlOutputTests {
    @Test func jsonIsCompactSortedAndOneLine() {
        let value: JSONValue = ["b": [1, 2], "a": "x/y", "c": ["d": nil]]
        #expect(Output.json(value) == #"{"a":"x/y","b":[1,2],"c":{"d":null}}"#)
    }

    @Test func tablesAreAlignedWithPreferredOrderFirst() {
        let table = Output.table(["zeta": 1, "version": "1.0", "ready": true, "roles": ["producer", "consumer"]],
                                 order: ["ready", "version"])
        #expect(table == """
            ready    true
            version  1.0
            roles    producer, consumer
            zeta     1
            """)
    }

    @Test func cellsReadWell() {
        #expect(Output.cell(.null) == "-")
        #expect(Output.cell(.double(12.0)) == "12")
        #expect(Output.cell(.double(12.5)) == "12.5")
        #expect(Output.cell([]) == "-")
        #expect(Output.cell(["a": 1]) == #"{"a":1}"#)
        #expect(Output.cell([["a": 1]]) == #"[{"a":1}]"#)
    }

    @Test func eventLines() {
        let event = WPWithinClient.Event(seq: 7, type: "payment", time: "2026-11-25T04:00:00Z",
                          params: ["seq": 7, "type": "payment", "time": "2026-11-25T04:00:00Z", "amount": 250, "note": "two words"])
        #expect(Output.event(event, json: false) == #"7  2026-11-25T04:00:00Z  payment  amount=250  note="two words""#)
        #expect(Output.event(event, json: true)
            == #"{"amount":250,"note":"two words","seq":7,"time":"2026-11-25T04:00:00Z","type":"payment"}"#)
    }

    @Test func rpcErrorText() {
        let error = WPWError(.notFound, "no such service", data: ["serviceId": 7])
        #expect(Output.rpcError(error, json: false) == #"wpwctl: error -32010: no such service (data: {"serviceId":7})"#)
        #expect(Output.rpcError(error, json: true) == #"{"code":-32010,"data":{"serviceId":7},"message":"no such service"}"#)
    }

    @Test func paramsMustBeAJSONObject() throws {
        #expect(try Output.parseParams(nil) == nil)
        #expect(try Output.parseParams(#"{"n":1}"#) == ["n": 1])
        #expect(try Output.parseParams("null") == nil)
        #expect(throws: Output.ParamsError.self) { try Output.parseParams("{bad") }
        #expect(throws: Output.ParamsError.self) { try Output.parseParams("[1,2]") }
        #expect(throws: Output.ParamsError.self) { try Output.parseParams("3") }
    }

    @Test func argumentParsing() throws {
        let call = try #require(try WPWCtl.parseAsRoot(["call", "--socket", "/x.sock", "echo", #"{"a":1}"#]) as? CallCommand)
        #expect(call.method == "echo")
        #expect(call.global.socket == "/x.sock")
        let events = try #require(try WPWCtl.parseAsRoot(["events", "--type", "a", "--type", "b", "--resume-from", "4", "--json"]) as? EventsCommand)
        #expect(events.types == ["a", "b"])
        #expect(events.resumeFrom == 4)
        #expect(events.global.json)
        #expect(throws: (any Error).self) { try WPWCtl.parseAsRoot(["call", "echo", "{bad"]) }
        #expect(WPWCtl.exitCode(for: ValidationError("x")) == .validationFailure)
    }
}

/// A built executable of this package (`wpwctl`, `wpwithind`), next to the test binary.
func builtExecutable(_ name: String) throws -> String {
    try BuiltExecutable.url(named: name).path
}

struct ProcessOutput: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
    var stdoutLines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
}

/// Runs a program to its end with its output in files (no pipe can fill up), without the caller's WPWITHIN_SOCKET;
/// stdin is `stdin` (from a file), else /dev/null.
func runProcess(
    _ path: String, _ arguments: [String], environment extra: [String: String] = [:], stdin: String? = nil
) async throws -> ProcessOutput {
    let directory = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let outPath = directory + "/stdout", errPath = directory + "/stderr", inPath = directory + "/stdin"
    guard FileManager.default.createFile(atPath: outPath, contents: nil),
        FileManager.default.createFile(atPath: errPath, contents: nil),
        FileManager.default.createFile(atPath: inPath, contents: Data((stdin ?? "").utf8))
    else { throw POSIXError(.EIO) }
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    let process = childProcess(path, arguments, environment: extra)
    process.standardOutput = out
    process.standardError = err
    process.standardInput = stdin == nil ? FileHandle.nullDevice : FileHandle(forReadingAtPath: inPath)
    let status = try await runToExit(process)
    try out.close()
    try err.close()
    return ProcessOutput(
        status: status,
        stdout: try String(contentsOfFile: outPath, encoding: .utf8),
        stderr: try String(contentsOfFile: errPath, encoding: .utf8)
    )
}

/// A child process of `path` with the caller's environment less WPWITHIN_SOCKET, plus `extra`.
func childProcess(_ path: String, _ arguments: [String], environment extra: [String: String] = [:]) -> Process {
    var environment = ProcessInfo.processInfo.environment
    environment["WPWITHIN_SOCKET"] = nil
    environment.merge(extra) { _, new in new }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.environment = environment
    return process
}

/// Starts `process` and waits for its end; its exit status. `started` runs once it was started (or failed to).
func runToExit(_ process: Process, started: () -> Void = {}) async throws -> Int32 {
    try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
        do {
            try process.run()
            started()
        } catch {
            process.terminationHandler = nil
            started()
            continuation.resume(throwing: error)
        }
    }
}

@Suite(.timeLimit(.minutes(2)))
struct WPWCtlProcessTests {
    let wpwctl: String

    init() throws {
        wpwctl = try builtExecutable("wpwctl")
    }

    @Test func statusTableAndJSON() async throws {
        let daemon = try await FakeDaemon.start()
        defer { Task { await daemon.stop() } }
        let table = try await runProcess(wpwctl, ["status", "--socket", daemon.socketPath])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdoutLines.first == "ready          true")
        #expect(table.stdout.contains("version        0.0.1-test"))
        #expect(table.stdout.contains("roles          producer, consumer"))

        let json = try await runProcess(wpwctl, ["--json", "--socket", daemon.socketPath, "status"])
        #expect(json.status == 0, "\(json.stderr)")
        #expect(json.stdoutLines.count == 1)
        let parsed = try JSONDecoder().decode(JSONValue.self, from: Data(json.stdout.utf8))
        #expect(parsed["pid"] == 4242)
        #expect(parsed["ready"] == true)
    }

    @Test func deviceHonoursTheEnvironmentVariable() async throws {
        let daemon = try await FakeDaemon.start()
        defer { Task { await daemon.stop() } }
        let result = try await runProcess(wpwctl, ["device", "--json"], environment: ["WPWITHIN_SOCKET": daemon.socketPath])
        #expect(result.status == 0, "\(result.stderr)")
        let parsed = try JSONDecoder().decode(JSONValue.self, from: Data(result.stdout.utf8))
        #expect(parsed == FakeDaemon.device)
        // An explicit --socket wins over the environment.
        let explicit = try await runProcess(
            wpwctl, ["device", "--socket", daemon.directory + "/other.sock"],
            environment: ["WPWITHIN_SOCKET": daemon.socketPath]
        )
        #expect(explicit.status == 3)
        #expect(explicit.stderr.contains(daemon.directory + "/other.sock"))
    }

    @Test func callWithParamsAndAnRPCError() async throws {
        let daemon = try await FakeDaemon.start()
        defer { Task { await daemon.stop() } }
        let ok = try await runProcess(wpwctl, ["call", "echo", #"{"b":2,"a":"x"}"#, "--json", "--socket", daemon.socketPath])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout == #"{"a":"x","b":2}"# + "\n")

        let failed = try await runProcess(wpwctl, ["call", "fail", "--socket", daemon.socketPath])
        #expect(failed.status == 1)
        #expect(failed.stdout.isEmpty)
        #expect(failed.stderr.contains("-32010"))
        #expect(failed.stderr.contains("no such service"))
    }

    @Test func usageErrorsExitTwo() async throws {
        let badJSON = try await runProcess(wpwctl, ["call", "echo", "{not json", "--socket", "/nonexistent/x.sock"])
        #expect(badJSON.status == 2)
        #expect(badJSON.stderr.contains("not valid JSON"))
        let notObject = try await runProcess(wpwctl, ["call", "echo", "[1]"])
        #expect(notObject.status == 2)
        let unknown = try await runProcess(wpwctl, ["frobnicate"])
        #expect(unknown.status == 2)
        let badOption = try await runProcess(wpwctl, ["events", "--resume-from", "abc"])
        #expect(badOption.status == 2)
        let missing = try await runProcess(wpwctl, ["call"])
        #expect(missing.status == 2)
        let noSubcommand = try await runProcess(wpwctl, ["--socket", "/x.sock"])
        #expect(noSubcommand.status == 2)
        #expect(noSubcommand.stderr.contains("missing subcommand"))
    }

    @Test func cannotConnectExitsThreeAndNamesThePath() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let missing = try await runProcess(wpwctl, ["status", "--socket", directory + "/none.sock"])
        #expect(missing.status == 3)
        #expect(missing.stderr.contains(directory + "/none.sock"))
        #expect(missing.stderr.contains("no such socket"))

        try bindAndCloseUnixSocket(directory + "/stale.sock")
        let stale = try await runProcess(wpwctl, ["device", "--socket", directory + "/stale.sock"])
        #expect(stale.status == 3)
        #expect(stale.stderr.contains("stale socket, daemon not running"))
    }

    @Test func eventsPrintsOneLinePerEventUntilTheDaemonCloses() async throws {
        let daemon = try await FakeDaemon.start(FakeDaemon.closingAfterEvents)
        defer { Task { await daemon.stop() } }
        let json = try await runProcess(wpwctl, ["events", "--json", "--type", "payment", "--resume-from", "4", "--socket", daemon.socketPath])
        #expect(json.status == 3, "the daemon went away: \(json.stderr)")
        #expect(json.stderr.contains("closed the connection"))
        let events = try json.stdoutLines.map { try JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
        #expect(events.map { $0["seq"] } == [5, 6, 7])
        #expect(events.allSatisfy { $0["type"] == "payment" })

        let readable = try await runProcess(wpwctl, ["events", "--socket", daemon.socketPath])
        #expect(readable.stdoutLines == [
            "1  2026-11-25T04:00:00.250Z  test  n=1",
            "2  2026-11-25T04:00:00.250Z  test  n=2",
            "3  2026-11-25T04:00:00.250Z  test  n=3",
        ])
    }

    @Test func eventsEndsWithExitZeroOnCtrlC() async throws {
        let daemon = try await FakeDaemon.start()
        defer { Task { await daemon.stop() } }
        let follower = try LineProcess(wpwctl, ["events", "--socket", daemon.socketPath])
        let first = await follower.nextLine()
        #expect(first == "1  2026-11-25T04:00:00.250Z  test  n=1")
        follower.interrupt()
        #expect(await follower.waitForExit() == 0)
    }

    @Test(arguments: ["bash", "zsh", "fish"])
    func completionScripts(shell: String) async throws {
        let result = try await runProcess(wpwctl, ["--generate-completion-script", shell])
        #expect(result.status == 0)
        #expect(result.stdout.contains("wpwctl"))
        #expect(result.stdout.contains("events"))
        #expect(result.stdout.contains("resume-from"))
    }

    @Test func helpExitsZero() async throws {
        let result = try await runProcess(wpwctl, ["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Exit codes"))
    }
}
