import Logging
import Testing
import WPWithinDaemon

/// `wpwithind`'s own command-line parser (it no longer uses swift-argument-parser).
@Suite struct DaemonCommandLineTests {
    @Test func everyOptionInBothSpellings() throws {
        var expected = DaemonCommandLine.Options()
        expected.configPath = "/etc/w.json"
        expected.checkConfig = true
        expected.socketPath = "/run/w.sock"
        expected.stateDirectory = "/var/lib/w"
        expected.logLevel = .debug
        #expect(try DaemonCommandLine.parse([
            "--config", "/etc/w.json", "--check-config", "--socket", "/run/w.sock", "--state-dir", "/var/lib/w", "--log-level", "DEBUG",
        ]) == .run(expected))
        #expect(try DaemonCommandLine.parse([
            "--config=/etc/w.json", "--check-config", "--socket=/run/w.sock", "--state-dir=/var/lib/w", "--log-level=debug",
        ]) == .run(expected))
        #expect(try DaemonCommandLine.parse([]) == .run(DaemonCommandLine.Options()))
        // The last of a repeated option wins; a value may contain '='.
        #expect(try DaemonCommandLine.parse(["--socket", "/a", "--socket=/b=c"]) == .run({ var o = DaemonCommandLine.Options(); o.socketPath = "/b=c"; return o }()))
    }

    @Test func helpAndVersionWinWhereverTheyAre() throws {
        #expect(try DaemonCommandLine.parse(["--socket", "/x", "--help"]) == .help)
        #expect(try DaemonCommandLine.parse(["-h"]) == .help)
        #expect(try DaemonCommandLine.parse(["--bogus", "--version"]) == .version)
        #expect(DaemonCommandLine.helpText.contains(DaemonCommandLine.usage))
    }

    @Test(arguments: [
        (["--bogus"], "Unknown option '--bogus'"),
        (["stray"], "Unexpected argument 'stray'"),
        (["--socket"], "Missing value for '--socket <value>'"),
        (["--socket", "--check-config"], "Missing value for '--socket <value>'"),
        (["--state-dir="], "Missing value for '--state-dir <value>'"),
        (["--log-level", "loud"], "The value 'loud' is invalid for '--log-level <level>'"),
        (["--check-config=yes"], "'--check-config' takes no value"),
    ])
    func aBadCommandLineIsAUsageError(arguments: [String], message: String) {
        do {
            let parsed = try DaemonCommandLine.parse(arguments)
            Issue.record("parsed as \(parsed)")
        } catch {
            #expect(error.message.hasPrefix(message), "\(error.message)")
            #expect(error.exitCode == 64)
        }
    }
}
