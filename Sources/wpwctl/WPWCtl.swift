import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import WPWithinClient
import WPWithinCore

/// `wpwctl`: control a running wpwithind over its Unix socket.
///
/// Exit codes: 0 ok, 1 the daemon answered with an error, 2 usage, 3 cannot connect (or the connection was lost).
@main
struct WPWCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wpwctl",
        abstract: "Control a running wpwithind daemon over its Unix socket.",
        discussion: """
            The socket is --socket PATH, else $WPWITHIN_SOCKET, else /run/wpwithin.sock.
            Exit codes: 0 ok, 1 RPC error, 2 usage error, 3 cannot connect or connection lost.
            Shell completions: wpwctl --generate-completion-script bash|zsh|fish
            """,
        version: WPWithinVersion.current,
        subcommands: [StatusCommand.self, DeviceCommand.self, CallCommand.self, EventsCommand.self]
    )

    @OptionGroup var global: GlobalOptions

    /// `wpwctl` without a subcommand is a usage error (exit 2), not help.
    func run() async throws {
        throw ValidationError("missing subcommand: status, device, call or events (see 'wpwctl --help')")
    }

    /// Runs wpwctl with argument-parser's handling, except that usage errors exit 2 (not 64).
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        // A shell asking for completions (method names and event types come from the daemon, asynchronously):
        // argument-parser's own entry point answers it.
        if arguments.first == "---completion" {
            await Self.main(arguments)
            Glibc.exit(ExitStatus.ok)
        }
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            finish(with: error)
        }
        Glibc.exit(ExitStatus.ok)
    }

    /// Ends the process for `error`: usage errors print the message and usage to stderr and exit 2;
    /// everything else (help, completion scripts, `ExitCode`) is argument-parser's default handling.
    static func finish(with error: any Error) -> Never {
        if exitCode(for: error) == .validationFailure {
            Console.error(fullMessage(for: error))
            Glibc.exit(ExitStatus.usage)
        }
        exit(withError: error)
    }
}

/// Exit statuses of wpwctl (documented in docs/wpwctl.md).
enum ExitStatus {
    static let ok: Int32 = 0
    static let rpcError: Int32 = 1
    static let usage: Int32 = 2
    static let cannotConnect: Int32 = 3
}

/// Options every command takes (before or after the subcommand name).
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp("The daemon's socket (default: $WPWITHIN_SOCKET, else /run/wpwithin.sock).", valueName: "path"),
        completion: .file()
    )
    var socket: String?

    @Flag(name: .long, help: "Print machine-readable output: the raw result as compact one-line JSON.")
    var json = false
}
