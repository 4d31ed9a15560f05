import Foundation
import Testing
import WPWithinTestSupport
import WPWithinDaemon
import WPWithinCore

/// `wpwithind --check-config` and the configuration file's syntax errors, on the real executable.
@Suite struct CheckConfigTests {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the built `wpwithind` with `arguments` and only `environment` (no WPWITHIND_* of this process).
    /// Waits on a thread of its own (`onOwnThread`), not on the cooperative pool.
    static func wpwithind(_ arguments: [String], environment: [String: String] = [:]) async throws -> Run {
        try await onOwnThread { try run(arguments, environment: environment) }
    }

    private static func run(_ arguments: [String], environment: [String: String]) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: BuiltProducts.path("wpwithind"))
        process.arguments = arguments
        process.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// The single Thing's daemon has no PostgreSQL backend: asking for one stops it with EX_CONFIG, before
    /// anything starts, and says which daemon has it.
    @Test func wpwithindRefusesTheFleetBackendItDoesNotHave() async throws {
        let dir = try TempDir()
        let environment = ["WPWITHIND_STORE_BACKEND": "postgresql", "WPWITHIND_STORE_POSTGRESQL_CONNECTION": "host=/nonexistent"]
        let check = try await Self.wpwithind(["--check-config"], environment: environment)
        #expect(check.status == 78)
        #expect(check.stderr.contains("wpwithind-fleet"), "\(check.stderr)")
        let run = try await Self.wpwithind(["--socket", dir.file("never.sock"), "--state-dir", dir.file("state")], environment: environment)
        #expect(run.status == 78)
        #expect(!FileManager.default.fileExists(atPath: dir.file("never.sock")))
    }

    @Test func usageErrorsExit64AndStartNothingHelpAndVersionExit0() async throws {
        let dir = try TempDir()
        let bad = try await Self.wpwithind(["--socket", dir.file("never.sock"), "--bogus"])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("Unknown option '--bogus'") && bad.stderr.contains("Usage: wpwithind"), "\(bad.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("never.sock")), "nothing was started")
        let help = try await Self.wpwithind(["--help"])
        #expect(help.status == 0 && help.stdout.contains("USAGE: wpwithind") && help.stdout.contains("--check-config"))
        let version = try await Self.wpwithind(["--version"])
        #expect(version.status == 0 && version.stdout == WPWithinVersion.current + "\n")
    }

    @Test func aValidConfigurationAndItsCredentialsPassAndNothingStarts() async throws {
        let dir = try TempDir()
        let card = dir.file("card.json")
        try Data(#"{"firstName":"Joe","lastName":"Bloggs","expMonth":12,"expYear":2099,"cardNumber":"4444333322221111","type":"Card","cvc":"123"}"#.utf8)
            .write(to: URL(fileURLWithPath: card))
        chmod(card, 0o600)
        try Data(#"{"logLevel":"debug","payments":{"cardFile":"\#(card)"}}"#.utf8).write(to: URL(fileURLWithPath: dir.file("c.json")))
        let ok = try await Self.wpwithind(["--check-config", "--config", dir.file("c.json"), "--socket", dir.file("never.sock")])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("wpwithind: configuration OK (\(dir.file("c.json"))"), "\(ok.stdout)")
        #expect(ok.stdout.contains("card \(card) OK"))
        #expect(!ok.stdout.contains("4444333322221111") && !ok.stderr.contains("4444333322221111"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("never.sock")), "nothing was started")

        // The same card readable by others: exit 78, naming the file.
        chmod(card, 0o644)
        let loose = try await Self.wpwithind(["--check-config", "--config", dir.file("c.json")])
        #expect(loose.status == 78)
        #expect(loose.stderr.contains("credential error") && loose.stderr.contains(card), "\(loose.stderr)")
    }

    @Test(arguments: [
        ("{\n  \"logLevel\": \"info\",\n}\n", "line 3, column 1"),
        ("{\n  \"logLevel\": \"info\",\n  \"logLevel\": \"debug\"\n}\n", "line 3, column 3: duplicate key \"logLevel\""),
        ("{\"rpc\": {\"socketPath\": \"/x\" // comment\n}}", "line 1, column 29: expected , or }"),
        ("{\"rpc\": {\"maxLineBytes\": 10}}", "rpc.maxLineBytes: must be between"),
    ])
    func badFilesExitWithTheLineAndColumn(text: String, expected: String) async throws {
        let dir = try TempDir()
        try Data(text.utf8).write(to: URL(fileURLWithPath: dir.file("c.json")))
        let run = try await Self.wpwithind(["--check-config", "--config", dir.file("c.json")])
        #expect(run.status == 78)
        #expect(run.stderr.contains(expected), "\(run.stderr)")
    }
}
