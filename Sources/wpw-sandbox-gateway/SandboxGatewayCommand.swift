import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals
import WPWithinCore
import WPWithinSandbox
import WPWithinTLS

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// `wpw-sandbox-gateway`: the Worldpay Online API on loopback, for development and tests.
struct SandboxGatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wpw-sandbox-gateway",
        abstract: "A sandbox payment gateway speaking the Worldpay Online JSON API (tokens, orders, refunds).",
        discussion: """
            When bound it prints one line to stdout: {"event":"listening","host":"127.0.0.1","port":N}.
            Logs go to stderr. SIGTERM or SIGINT shut it down gracefully. See docs/sandbox-gateway.md.
            """
    )

    @Option(name: .long, help: "JSON configuration file (merchant key pairs, host, port, delays).")
    var config: String?

    @Option(name: .long, help: "Address to bind (default from the config, else 127.0.0.1).")
    var host: String?

    @Option(name: .long, help: "TCP port; 0 picks an ephemeral port (default from the config, else 18080).")
    var port: Int?

    @Option(name: .long, help: "Append a JSONL audit log to this file (card numbers masked, CVC never written).")
    var auditLog: String?

    @Option(name: .long, help: "Keep tokens, orders and refunds in this JSONL file (fsynced per change, replayed at start).")
    var stateFile: String?

    @Option(name: .long, help: "Serve https with this certificate chain (PEM, leaf first); needs --tls-key.")
    var tlsCertificate: String?

    @Option(name: .long, help: "The private key (PEM) of --tls-certificate.")
    var tlsKey: String?

    @Flag(name: .long, help: "Serve the fault-rule control API under /_sandbox/faults (loopback hosts only).")
    var control = false

    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "wpw-sandbox-gateway")

        var configuration = try config.map(SandboxGatewayConfiguration.load(fromFile:)) ?? SandboxGatewayConfiguration()
        if let host { configuration.host = host }
        if let port { configuration.port = port }
        if let auditLog { configuration.auditLog = auditLog }
        if let stateFile { configuration.stateFile = stateFile }
        switch (tlsCertificate, tlsKey) {
        case (nil, nil): break
        case (let certificate?, let key?):
            let tls = TLSServerConfiguration(certificateChainFile: certificate, privateKeyFile: key)
            do {
                _ = try TLSServerContext(configuration: tls)  // a bad file stops the start here, with its reason
            } catch {
                logger.critical("Sandbox cannot start", metadata: ["error": "\(error)"])
                throw ExitCode.failure
            }
            configuration.tls = tls
        default:
            logger.critical("Sandbox cannot start", metadata: ["error": "--tls-certificate and --tls-key go together"])
            throw ExitCode.failure
        }

        let gateway: SandboxGateway
        do {
            gateway = try SandboxGateway(configuration: configuration, control: control, logger: logger)
        } catch let error as WPWError {
            logger.critical("Sandbox cannot start", metadata: ["error": "\(error.message)"])
            throw ExitCode.failure
        }
        let host = configuration.host
        let server = gateway.makeServer { port in
            let line = #"{"event":"listening","host":"\#(host)","port":\#(port)}"# + "\n"
            FileHandle.standardOutput.write(Data(line.utf8))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: server)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}

/// The entry point: one SwiftNIO event loop, which is also Swift Concurrency's global executor, so a request
/// is parsed, handled and answered on one thread (as in `wpwithind`).
@main
enum SandboxGatewayMain {
    static func main() async {
        NIOSingletons.groupLoopCountSuggestion = 1
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await SandboxGatewayCommand.main()
    }
}
