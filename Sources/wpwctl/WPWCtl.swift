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
/// Exit codes (docs/wpwctl.md): 0 ok, 1 the daemon answered with an error, 2 usage, 3 cannot connect (or the
/// connection was lost, or `--wait` gave up), 4 `--timeout` expired, 5 a purchase declined at the prompt.
@main
struct WPWCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wpwctl",
        abstract: "Control a running wpwithind daemon over its Unix socket.",
        discussion: """
            The socket is --socket PATH, else $WPWITHIN_SOCKET, else /run/wpwithin.sock.
            A purchase, step by step (a consumer):
              wpwctl devices                        producers heard on the network
              wpwctl services DEVICE                a producer's services
              wpwctl prices DEVICE SERVICE          a service's prices
              wpwctl buy DEVICE SERVICE --units N   pay (asks first, unless --yes)
              wpwctl deliver PURCHASE --units N     take delivery of units
              wpwctl purchases                      what was bought and is left
              wpwctl refund PURCHASE                ask for the undelivered units' money back
            Daemon methods: 'wpwctl help METHOD' describes one, 'wpwctl methods' lists them.
            Exit codes: 0 ok, 1 RPC error, 2 usage error, 3 cannot connect or
            connection lost (or --wait gave up), 4 --timeout expired,
            5 purchase declined at the confirmation prompt.
            Shell completions: wpwctl --generate-completion-script bash|zsh|fish
            """,
        version: WPWithinVersion.current,
        subcommands: [
            StatusCommand.self, DeviceCommand.self, DevicesCommand.self, ServicesCommand.self, PricesCommand.self,
            BuyCommand.self, DeliverCommand.self, PurchasesCommand.self, RefundCommand.self, SpendingCommand.self, CatalogCommand.self, BroadcastCommand.self,
            EventsCommand.self, MetricsCommand.self, CallCommand.self, MethodsCommand.self,
        ]
    )

    @OptionGroup var global: GlobalOptions

    /// `wpwctl` without a subcommand is a usage error (exit 2), not help.
    func run() async throws {
        throw ValidationError("missing subcommand (see 'wpwctl --help')")
    }

    /// Runs wpwctl with argument-parser's handling, except that usage errors exit 2 (not 64).
    static func main() async {
        let arguments = normalized(Array(CommandLine.arguments.dropFirst()))
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

    /// The command line as argument-parser is to read it:
    /// - `--wait=SECONDS` becomes `--wait --wait-seconds SECONDS` (argument-parser has no options with an
    ///   optional value; `--wait` alone waits the default time);
    /// - `help NAME`, where NAME is no subcommand, becomes `methods NAME`: the daemon method's description
    ///   (argument-parser keeps `help SUBCOMMAND`).
    static func normalized(_ arguments: [String]) -> [String] {
        var result: [String] = []
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            if argument == "--" {
                result.append(argument)
                result += rest
                break
            }
            if argument.hasPrefix("--wait=") {
                result += ["--wait", "--wait-seconds", String(argument.dropFirst("--wait=".count))]
            } else {
                result.append(argument)
            }
        }
        // The first word that is neither an option nor an option's value: the subcommand.
        var index = 0
        while index < result.count, result[index].hasPrefix("-") {
            index += GlobalOptions.valueOptions.contains(result[index]) ? 2 : 1
        }
        guard index < result.count, result[index] == "help" else { return result }
        let subcommandNames = Set(configuration.subcommands.compactMap { $0.configuration.commandName } + ["help"])
        guard let name = result[(index + 1)...].first(where: { !$0.hasPrefix("-") }), !subcommandNames.contains(name) else {
            return result
        }
        result[index] = MethodsCommand.configuration.commandName!
        return result
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
    /// The daemon answered with a JSON-RPC error.
    static let rpcError: Int32 = 1
    /// Bad command line (also `buy` without `--yes` when stdin is no terminal, `help` of an unknown method).
    static let usage: Int32 = 2
    /// Cannot connect, the connection was lost, or `--wait` saw no ready daemon in time.
    static let cannotConnect: Int32 = 3
    /// `--timeout` expired before the daemon answered.
    static let timeout: Int32 = 4
    /// `buy` was declined at the confirmation prompt: nothing was paid.
    static let declined: Int32 = 5
}

/// Options every command takes (before or after the subcommand name).
struct GlobalOptions: ParsableArguments {
    /// The global options that take a value (to find the subcommand word in a raw command line).
    static let valueOptions: Set<String> = ["--socket", "--timeout", "--wait-seconds"]
    /// How long `--wait` alone waits.
    static let defaultWaitSeconds = 10.0

    @Option(
        name: .long,
        help: ArgumentHelp("The daemon's socket (default: $WPWITHIN_SOCKET, else /run/wpwithin.sock).", valueName: "path"),
        completion: .file()
    )
    var socket: String?

    @Flag(name: .long, help: "Print machine-readable output: the raw result as compact one-line JSON.")
    var json = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Give up on a call the daemon has not answered within this many seconds (exit 4). Default: no limit.",
            valueName: "seconds")
    )
    var timeout: Double?

    @Flag(
        name: .long,
        help: ArgumentHelp(
            "First wait (up to 10 s; --wait=SECONDS for another limit) until the daemon's socket answers and getStatus says ready; exit 3 if it never does."
        )
    )
    var wait = false

    /// `--wait=SECONDS`, rewritten by `WPWCtl.normalized`; also accepted as it is.
    @Option(name: .customLong("wait-seconds"), help: ArgumentHelp(visibility: .hidden))
    var waitSeconds: Double?

    /// How long to wait for the daemon before the command, or nil for no waiting.
    var waitLimit: Double? {
        if let waitSeconds { return waitSeconds }
        return wait ? Self.defaultWaitSeconds : nil
    }

    mutating func validate() throws {
        if let timeout, !(timeout > 0 && timeout.isFinite) { throw ValidationError("--timeout must be a number of seconds above 0") }
        if let waitSeconds, !(waitSeconds >= 0 && waitSeconds.isFinite) { throw ValidationError("--wait=SECONDS must be 0 or more") }
    }
}
