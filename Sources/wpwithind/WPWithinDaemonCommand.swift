import ArgumentParser
import NIOCore
import NIOPosix
import Logging
import WPWithinCore
import WPWithinDaemon

extension Logger.Level: @retroactive ExpressibleByArgument {}

struct WPWithinDaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wpwithind",
        abstract: "The Worldpay Within daemon: JSON-RPC 2.0 over a Unix socket for local apps.",
        version: WPWithinVersion.current
    )

    @Option(name: .long, help: "Configuration file (JSON). Default: $WPWITHIND_CONFIG, else /etc/wpwithind/wpwithind.json when present.")
    var config: String?

    @Flag(name: .customLong("check-config"), help: "Check the configuration (file, environment and flags) and the credential files it names, then exit: 0 and a summary when they are valid, 78 and the error when not. Starts nothing.")
    var checkConfig = false

    @Option(name: .long, help: "Unix socket path for the JSON-RPC API (overrides the config file and $WPWITHIND_SOCKET).")
    var socket: String?

    @Option(name: .long, help: "Directory for durable state (overrides the config file and $WPWITHIND_STATE_DIR).")
    var stateDir: String?

    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level?

    func run() async throws {
        // The service group turns these signals into graceful shutdown / reload once it runs; until then
        // (and in the window before its handlers are installed) they must not kill the process.
        for sig in [SIGTERM, SIGINT, SIGHUP] { signal(sig, SIG_IGN) }
        let environment = ProcessEnvironment.current()
        let overrides = DaemonConfiguration.Overrides(socketPath: socket, stateDirectory: stateDir, logLevel: logLevel)
        let configPath = config
        let configuration: DaemonConfiguration
        do {
            configuration = try DaemonConfiguration.load(path: configPath, environment: environment, overrides: overrides)
        } catch {
            ProcessEnvironment.writeErrorLine("wpwithind: configuration error: \(error)")
            throw ExitCode(78)  // EX_CONFIG
        }
        if checkConfig {
            do {
                let credentials = try PaymentsContext.checkCredentials(configuration: configuration)
                let source = configPath ?? environment["WPWITHIND_CONFIG"]
                    ?? (ProcessEnvironment.fileExists(DaemonConfiguration.defaultPath) ? DaemonConfiguration.defaultPath : "built-in defaults")
                print("wpwithind: configuration OK (\(source); roles \(configuration.roles.map(\.rawValue).sorted().joined(separator: ", ")))")
                for item in credentials { print("wpwithind: \(item) OK") }
                return
            } catch {
                ProcessEnvironment.writeErrorLine("wpwithind: credential error: \(error)")
                throw ExitCode(78)
            }
        }

        let levelControl = LogLevelControl(configuration.logLevel)
        LoggingSystem.bootstrap { label in levelControl.makeHandler(label: label) }
        let logger = Logger(label: "wpwithind")
        logger.info("Global executor chosen", metadata: [LogKey.executorTakeover: "\(WPWithinDaemonMain.executor.rawValue)"])
        let notifier = SystemdNotifier()

        do {
            let daemon = try buildDaemon(
                configuration: configuration,
                notifier: notifier,
                activatedSockets: SocketActivation.take(),
                reload: {
                    try DaemonConfiguration.load(
                        path: configPath,
                        environment: ProcessEnvironment.current(),
                        overrides: overrides
                    )
                },
                logLevel: levelControl,
                logger: logger
            )
            try await daemon.run()
            logger.info("Daemon stopped")
            notifier.finish(within: .seconds(1))
        } catch {
            logger.critical("Daemon failed", metadata: ["error": "\(error)"])
            notifier.status("Failed: \(error)")
            notifier.finish(within: .seconds(1))
            // A configuration or credential file the operator must fix: EX_CONFIG, which the unit does not
            // restart (RestartPreventExitStatus=78); anything else may be transient.
            if error is ConfigurationError || (error as? WPWError)?.code == .credentials { throw ExitCode(78) }
            throw ExitCode.failure
        }
    }
}

/// The entry point: makes SwiftNIO's event loops Swift Concurrency's global executor before any task runs,
/// so a call hops no thread between the socket, the handlers and the replies; then runs the command.
@main
enum WPWithinDaemonMain {
    /// How the event loops became the global executor (logged at start).
    nonisolated(unsafe) static var executor = GlobalExecutorTakeover.none

    static func main() async {
        let environment = ProcessEnvironment.current()
        // One event loop by default: the store serialises every transition anyway, and on a small device a
        // second loop mostly adds thread hand-offs between the socket, the handlers and the commits.
        let threads = environment["WPWITHIND_EVENT_LOOP_THREADS"].flatMap(Int.init) ?? 1
        NIOSingletons.groupLoopCountSuggestion = max(1, threads)
        WPWithinDaemonMain.executor = environment["WPWITHIND_NIO_EXECUTOR"] == "0" ? .none : GlobalExecutorTakeover.install()
        await WPWithinDaemonCommand.main()
    }
}
