#if canImport(Glibc)
import Glibc
#endif
import CGlibcMalloc
import NIOCore
import NIOPosix
import Logging
import WPWithinCore
import WPWithinDaemon

/// What `wpwithind` does once its command line is parsed; returns the process's exit status.
enum WPWithinDaemonCommand {
    static func run(_ options: DaemonCommandLine.Options, producerBackends: [ProducerBackendProvider]) async -> Int32 {
        // The service group turns these signals into graceful shutdown / reload once it runs; until then
        // (and in the window before its handlers are installed) they must not kill the process.
        for sig in [SIGTERM, SIGINT, SIGHUP] { signal(sig, SIG_IGN) }
        let environment = ProcessEnvironment.current()
        let overrides = options.overrides
        let configPath = options.configPath
        let configuration: DaemonConfiguration
        do {
            configuration = try DaemonConfiguration.load(path: configPath, environment: environment, overrides: overrides)
        } catch {
            ProcessEnvironment.writeErrorLine("wpwithind: configuration error: \(error)")
            return 78  // EX_CONFIG
        }
        do {
            try ProducerBackendProvider.requireBuiltIn(producerBackends, configuration: configuration)
        } catch {
            ProcessEnvironment.writeErrorLine("wpwithind: configuration error: \(error)")
            return 78  // EX_CONFIG
        }
        if options.checkConfig {
            do {
                let credentials = try PaymentsContext.checkCredentials(configuration: configuration)
                let source = configPath ?? environment["WPWITHIND_CONFIG"]
                    ?? (ProcessEnvironment.fileExists(DaemonConfiguration.defaultPath) ? DaemonConfiguration.defaultPath : "built-in defaults")
                ProcessEnvironment.writeOutputLine("wpwithind: configuration OK (\(source); roles \(configuration.roles.map(\.rawValue).sorted().joined(separator: ", ")))")
                for item in credentials { ProcessEnvironment.writeOutputLine("wpwithind: \(item) OK") }
                return 0
            } catch {
                ProcessEnvironment.writeErrorLine("wpwithind: credential error: \(error)")
                return 78
            }
        }

        let levelControl = LogLevelControl(configuration.logLevel)
        let journal = JournalDestination.isJournalStream(environment: environment)
        LoggingSystem.bootstrap { label in levelControl.makeHandler(label: label, journal: journal) }
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
                producerBackends: producerBackends,
                logger: logger
            )
            try await daemon.run()
            logger.info("Daemon stopped")
            notifier.finish(within: .seconds(1))
            return 0
        } catch {
            logger.critical("Daemon failed", metadata: ["error": "\(error)"])
            notifier.status("Failed: \(error)")
            notifier.finish(within: .seconds(1))
            // A configuration or credential file the operator must fix: EX_CONFIG, which the unit does not
            // restart (RestartPreventExitStatus=78); anything else may be transient.
            if error is ConfigurationError || (error as? WPWError)?.code == .credentials { return 78 }
            return 1
        }
    }
}

/// The entry point: makes SwiftNIO's event loops Swift Concurrency's global executor before any task runs,
/// so a call hops no thread between the socket, the handlers and the replies; then runs the command.
///
/// A synchronous `main` that waits for the command's task on a semaphore, not an `async` one: an async main
/// parks the main thread in `dispatch_main()`, which leaves it with `pthread_exit`, and that unwinds the
/// thread through the executable's `.eh_frame` tables (≈ 0.8 MB of pages paged in for nothing).
///
/// `wpwithind` and `wpwithind-fleet` are this with different producer backends (`store.backend`).
public enum WPWithinDaemonMain {
    /// How the event loops became the global executor (logged at start).
    nonisolated(unsafe) static var executor = GlobalExecutorTakeover.none

    /// Runs the daemon and exits the process with its status.
    public static func main(producerBackends: [ProducerBackendProvider] = []) -> Never {
        let environment = ProcessEnvironment.current()
        // Before any thread starts: see AllocatorTuning.
        if let threshold = AllocatorTuning.trimThreshold(environment: environment) {
            _ = wpw_malloc_set_trim_threshold(threshold)
        }
        // One event loop by default: the store serialises every transition anyway, and on a small device a
        // second loop mostly adds thread hand-offs between the socket, the handlers and the commits.
        let threads = environment["WPWITHIND_EVENT_LOOP_THREADS"].flatMap(Int.init) ?? 1
        NIOSingletons.groupLoopCountSuggestion = max(1, threads)
        WPWithinDaemonMain.executor = environment["WPWITHIND_NIO_EXECUTOR"] == "0" ? .none : GlobalExecutorTakeover.install()
        let command: DaemonCommandLine
        do {
            command = try DaemonCommandLine.parse(Array(CommandLine.arguments.dropFirst()))
        } catch {
            ProcessEnvironment.writeErrorLine("Error: \(error.message)\nUsage: \(DaemonCommandLine.usage)\n  See 'wpwithind --help' for more information.")
            exit(error.exitCode)
        }
        switch command {
        case .help:
            ProcessEnvironment.writeOutputLine(DaemonCommandLine.helpText)
            exit(0)
        case .version:
            ProcessEnvironment.writeOutputLine(WPWithinVersion.current)
            exit(0)
        case .run(let options):
            let finished = ExitStatusHandOff()
            // Detached: `main` is on the main actor, whose queue nobody drains while main waits.
            Task.detached { finished.post(await WPWithinDaemonCommand.run(options, producerBackends: producerBackends)) }
            exit(finished.wait())
        }
    }
}

/// The daemon's exit status, handed from its task to the waiting main thread (a POSIX semaphore: the
/// status is written before `sem_post` and read after `sem_wait`).
final class ExitStatusHandOff: @unchecked Sendable {
    private var status: Int32 = 1
    private let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)  // a stable address

    init() { sem_init(semaphore, 0, 0) }

    func post(_ status: Int32) {
        self.status = status
        sem_post(semaphore)
    }

    func wait() -> Int32 {
        while sem_wait(semaphore) != 0 {}  // EINTR
        return status
    }
}
