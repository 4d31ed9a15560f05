import Logging

/// `wpwithind`'s command line, parsed without swift-argument-parser: the daemon has five options, and
/// argument-parser brings FoundationEssentials and regex support into the executable (≈ 3.8 MB of code,
/// ≈ 2 MB of resident pages on a Thing; docs/operations.md, "What it weighs"). `wpwctl` keeps
/// argument-parser. Accepts `--name value` and `--name=value`; the last of a repeated option wins.
public enum DaemonCommandLine: Equatable, Sendable {
    /// Start the daemon (or, with `checkConfig`, check the configuration and exit).
    case run(Options)
    case help
    case version

    public struct Options: Equatable, Sendable {
        public var configPath: String?
        public var checkConfig = false
        public var socketPath: String?
        public var stateDirectory: String?
        public var logLevel: Logger.Level?

        public init() {}

        /// What the options override in the configuration.
        public var overrides: DaemonConfiguration.Overrides {
            DaemonConfiguration.Overrides(socketPath: socketPath, stateDirectory: stateDirectory, logLevel: logLevel)
        }
    }

    /// A command line that cannot be used: the process prints `message` and the usage line to stderr and
    /// exits `exitCode` (64, `EX_USAGE`, as argument-parser did).
    public struct UsageError: Error, Equatable, CustomStringConvertible {
        public let message: String
        public var exitCode: Int32 { 64 }
        public var description: String { message }
    }

    public static let usage =
        "wpwithind [--config <file>] [--check-config] [--socket <path>] [--state-dir <dir>] [--log-level <level>]"

    public static let helpText = """
        OVERVIEW: The Worldpay Within daemon: JSON-RPC 2.0 over a Unix socket for local apps.

        USAGE: \(usage)

        OPTIONS:
          --config <file>         Configuration file (JSON). Default: $WPWITHIND_CONFIG, else
                                  /etc/wpwithind/wpwithind.json when present.
          --check-config          Check the configuration (file, environment and flags) and the credential
                                  files it names, then exit: 0 and a summary when they are valid, 78 and the
                                  error when not. Starts nothing.
          --socket <path>         Unix socket path for the JSON-RPC API (overrides the config file and
                                  $WPWITHIND_SOCKET).
          --state-dir <dir>       Directory for durable state (overrides the config file and
                                  $WPWITHIND_STATE_DIR).
          --log-level <level>     trace, debug, info, notice, warning, error or critical.
          --version               Show the version.
          -h, --help              Show help information.

        See wpwithind(8) and docs/configuration.md.
        """

    /// Parses the arguments after the program name. `--help` and `--version` win wherever they appear.
    public static func parse(_ arguments: [String]) throws(UsageError) -> DaemonCommandLine {
        if arguments.contains(where: { $0 == "--help" || $0 == "-h" }) { return .help }
        if arguments.contains("--version") { return .version }
        var options = Options()
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            index += 1
            let name: String
            var inlineValue: String?
            if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                inlineValue = String(argument[argument.index(after: equals)...])
            } else {
                name = argument
            }
            func value() throws(UsageError) -> String {
                if let inlineValue {
                    guard !inlineValue.isEmpty else { throw UsageError(message: "Missing value for '\(name) <value>'") }
                    return inlineValue
                }
                guard index < arguments.endIndex, !arguments[index].hasPrefix("--") else {
                    throw UsageError(message: "Missing value for '\(name) <value>'")
                }
                defer { index += 1 }
                return arguments[index]
            }
            switch name {
            case "--config": options.configPath = try value()
            case "--socket": options.socketPath = try value()
            case "--state-dir": options.stateDirectory = try value()
            case "--log-level":
                let raw = try value()
                guard let level = Logger.Level(rawValue: raw.lowercased()) else {
                    throw UsageError(message: "The value '\(raw)' is invalid for '--log-level <level>': use trace, debug, info, notice, warning, error or critical")
                }
                options.logLevel = level
            case "--check-config":
                guard inlineValue == nil else { throw UsageError(message: "'--check-config' takes no value") }
                options.checkConfig = true
            default:
                throw UsageError(message: argument.hasPrefix("-") ? "Unknown option '\(argument)'" : "Unexpected argument '\(argument)'")
            }
        }
        return .run(options)
    }
}
