// `SandboxGatewayProcess`: a `wpw-sandbox-gateway` with a state file and the fault-rule control API, which a
// test can kill -9 (or SIGSTOP) and start again on the same port with the same files.
//
//     let gateway = try await SandboxGatewayProcess.launch(directory: dir)
//     try await gateway.setFaults([.init(route: "POST /orders", when: .afterCharge, status: 502, times: 1)])
//     … a purchase through gateway.endpoint …
//     try await gateway.restart()                 // kill -9, then start on the same port and files
//     let audit = gateway.audit                   // GatewayAudit of the audit log

import Foundation
import WPWithinCore
#if canImport(Glibc)
import Glibc
#endif

/// A sandbox gateway process on 127.0.0.1 that survives restarts (its state file and audit log persist).
public actor SandboxGatewayProcess {
    /// A merchant key pair of the sandbox's configuration.
    public struct Merchant: Sendable, Hashable {
        public var clientKey: String
        public var serviceKey: String
        public init(clientKey: String, serviceKey: String) {
            self.clientKey = clientKey
            self.serviceKey = serviceKey
        }

        /// The pair of `config/merchant.example.json` (the sandbox's default).
        public static let example = Merchant(
            clientKey: "T_C_97e8cbaa-14e0-4b1c-b2af-469daf8f1356", serviceKey: "T_S_3bdadc9c-54e0-4587-8d91-29813060fecd"
        )
    }

    /// The port, the same across restarts.
    public nonisolated let port: Int
    /// The directory holding the files below.
    public nonisolated let directory: String
    public nonisolated let configPath: String
    /// The state file; nil when launched without one.
    public nonisolated let stateFile: String?
    public nonisolated let auditLog: String
    /// The sandbox's stderr, one file per run: `sandbox-1.log`, `sandbox-2.log`, …
    public private(set) var stderrPaths: [String]
    public nonisolated let control: Bool
    /// `https` when launched with a TLS certificate, else `http`.
    public nonisolated let scheme: String
    private let extraArguments: [String]
    private var process: LaunchedProcess?

    /// `http://127.0.0.1:<port>`, or `https://…` with TLS (the sandbox also accepts a `/v1` prefix).
    public nonisolated var endpoint: String { "\(scheme)://127.0.0.1:\(port)" }

    /// The audit log as it is now.
    public nonisolated var audit: GatewayAudit { (try? GatewayAudit(path: auditLog)) ?? GatewayAudit(records: []) }

    private init(
        port: Int, directory: String, configPath: String, stateFile: String?, auditLog: String, stderrPath: String,
        control: Bool, extraArguments: [String], process: LaunchedProcess
    ) {
        self.stderrPaths = [stderrPath]
        self.port = port
        self.directory = directory
        self.configPath = configPath
        self.stateFile = stateFile
        self.auditLog = auditLog
        self.control = control
        self.scheme = extraArguments.contains("--tls-certificate") ? "https" : "http"
        self.extraArguments = extraArguments
        self.process = process
    }

    /// Starts a sandbox whose files live in `directory` (`sandbox.json`, `sandbox-state.jsonl`,
    /// `sandbox-audit.jsonl`, `sandbox-1.log`).
    /// - Parameters:
    ///   - merchants: the key pairs it accepts.
    ///   - slowDelayMilliseconds: the delay of the `SLOW` cardholder name.
    ///   - stateFile: keep state in `sandbox-state.jsonl` (`--state-file`), so a restart remembers it.
    ///   - control: serve the fault-rule control API (`--control`).
    ///   - port: 0 picks one; it is kept for restarts.
    ///   - tls: serve https with this certificate (`--tls-certificate`, `--tls-key`); the fault-rule control
    ///     API helpers below speak plain http, so launch with `control: false` then.
    public static func launch(
        directory: String, merchants: [Merchant] = [.example], slowDelayMilliseconds: Int = 3000, stateFile: Bool = true,
        control: Bool = true, port: Int = 0, tls: TestCertificates.Leaf? = nil, extraArguments: [String] = []
    ) async throws -> SandboxGatewayProcess {
        var extraArguments = extraArguments
        if let tls { extraArguments += ["--tls-certificate", tls.certificate, "--tls-key", tls.key] }
        let configPath = directory + "/sandbox.json"
        let pairs = merchants.map { #"{"clientKey":"\#($0.clientKey)","serviceKey":"\#($0.serviceKey)"}"# }.joined(separator: ",")
        let config = #"{"host":"127.0.0.1","merchants":[\#(pairs)],"slowDelayMilliseconds":\#(slowDelayMilliseconds)}"#
        try Data(config.utf8).write(to: URL(fileURLWithPath: configPath))
        chmod(configPath, 0o600)
        let statePath = stateFile ? directory + "/sandbox-state.jsonl" : nil
        let auditLog = directory + "/sandbox-audit.jsonl"
        let stderrPath = directory + "/sandbox-1.log"
        let (process, boundPort) = try await start(
            configPath: configPath, port: port, stateFile: statePath, auditLog: auditLog, stderrPath: stderrPath,
            control: control, extraArguments: extraArguments
        )
        return SandboxGatewayProcess(
            port: boundPort, directory: directory, configPath: configPath, stateFile: statePath, auditLog: auditLog,
            stderrPath: stderrPath, control: control, extraArguments: extraArguments, process: process
        )
    }

    /// The running process's id (nil while stopped).
    public var processIdentifier: Int32? { process?.processIdentifier }

    /// Sends `signal` (SIGSTOP, SIGCONT, …) to the running process.
    public func signal(_ signal: Int32) {
        if let pid = process?.processIdentifier { kill(pid, signal) }
    }

    /// `kill -9` and wait until it is gone (what it wrote to its files stays).
    public func kill9() async {
        guard let process else { return }
        self.process = nil
        kill(process.processIdentifier, SIGKILL)
        await process.terminate()
    }

    /// SIGTERM (graceful) and wait until it is gone.
    public func stop() async {
        guard let process else { return }
        self.process = nil
        await process.terminate()
    }

    /// Starts it again on the same port with the same configuration, state file and audit log.
    public func start() async throws {
        guard process == nil else { throw TestSupportError("the sandbox is running") }
        let stderrPath = directory + "/sandbox-\(stderrPaths.count + 1).log"
        stderrPaths.append(stderrPath)
        let (process, _) = try await Self.start(
            configPath: configPath, port: port, stateFile: stateFile, auditLog: auditLog, stderrPath: stderrPath,
            control: control, extraArguments: extraArguments
        )
        self.process = process
    }

    /// Stops it (`kill -9` when `hard`, else SIGTERM) and starts it again on the same port and files.
    public func restart(hard: Bool = true) async throws {
        if hard { await kill9() } else { await stop() }
        try await start()
    }

    // MARK: Fault rules (docs/sandbox-gateway.md, "Control API")

    /// Replaces the fault rules.
    public nonisolated func setFaults(_ faults: [Fault]) async throws { _ = try await controlRequest("PUT", .array(faults.map(\.json))) }
    /// Appends fault rules.
    public nonisolated func addFaults(_ faults: [Fault]) async throws { _ = try await controlRequest("POST", .array(faults.map(\.json))) }
    public nonisolated func clearFaults() async throws { _ = try await controlRequest("DELETE", nil) }
    /// The live rules with `remaining` (null = unlimited) and `hits`.
    public nonisolated func faults() async throws -> [JSONValue] { try await controlRequest("GET", nil)["rules"]?.arrayValue ?? [] }

    private nonisolated func controlRequest(_ method: String, _ body: JSONValue?) async throws -> JSONValue {
        let response = try await LoopbackHTTP.request(port: port, method: method, path: "/_sandbox/faults", json: body)
        guard response.status == 200, let json = response.json else {
            throw TestSupportError("sandbox \(method) /_sandbox/faults: \(response.status) \(response.text)")
        }
        return json
    }

    /// One request to the gateway API (`Authorization: serviceKey` when given).
    public nonisolated func request(
        _ method: String, _ path: String, json: JSONValue? = nil, serviceKey: String? = nil
    ) async throws -> LoopbackHTTPResponse {
        var headers: [String: String] = [:]
        if let serviceKey { headers["Authorization"] = serviceKey }
        return try await LoopbackHTTP.request(port: port, method: method, path: path, json: json, headers: headers)
    }

    private static func start(
        configPath: String, port: Int, stateFile: String?, auditLog: String, stderrPath: String, control: Bool,
        extraArguments: [String]
    ) async throws -> (LaunchedProcess, Int) {
        var arguments = ["--config", configPath, "--port", String(port), "--audit-log", auditLog, "--log-level", "debug"]
        if let stateFile { arguments += ["--state-file", stateFile] }
        if control { arguments.append("--control") }
        arguments += extraArguments
        let process = try LaunchedProcess.launch(
            BuiltExecutable.url(named: "wpw-sandbox-gateway"), arguments: arguments, stderrPath: stderrPath
        )
        do {
            let line = try await process.nextLine()
            guard let bound = try JSONValue.parse(line)["port"]?.int64Value else { throw TestSupportError("the sandbox said \(line)") }
            return (process, Int(bound))
        } catch {
            await process.terminate()
            let log = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
            throw TestSupportError("the sandbox did not start: \(error)\n\(log.suffix(2000))")
        }
    }
}

extension SandboxGatewayProcess {
    /// A fault rule of the sandbox's control API.
    public struct Fault: Sendable {
        public enum When: String, Sendable {
            /// The sandbox does nothing of the request: it waits `delay`, then answers `status` (or, without a
            /// status, handles the request late).
            case beforeCharge = "before"
            /// The sandbox handles the request (charges, refunds, audits), then waits `delay`, then answers
            /// `status` instead of its own answer (or its own answer, late).
            case afterCharge = "after"
        }

        /// `METHOD /path`, `*` for one segment: `POST /orders`, `GET /orders`, `GET /orders/*`, `POST /orders/*/refund`.
        public var route: String
        public var when: When
        public var status: Int?
        public var body: FaultProxy.Body?
        public var delay: Duration?
        /// How many requests it applies to (nil: until cleared).
        public var times: Int?

        public init(
            route: String, when: When = .beforeCharge, status: Int? = nil, body: FaultProxy.Body? = nil, delay: Duration? = nil,
            times: Int? = nil
        ) {
            self.route = route
            self.when = when
            self.status = status
            self.body = body
            self.delay = delay
            self.times = times
        }

        public var json: JSONValue {
            var object: [String: JSONValue] = ["route": .string(route), "when": .string(when.rawValue)]
            if let status { object["status"] = .int(Int64(status)) }
            if let body { object["body"] = body.json }
            if let delay { object["delayMs"] = .int(delay.milliseconds) }
            if let times { object["times"] = .int(Int64(times)) }
            return .object(object)
        }
    }
}
