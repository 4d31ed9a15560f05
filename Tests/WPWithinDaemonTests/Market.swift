#if canImport(Glibc)
import Glibc
#endif
import Foundation
import WPWithinCore
import WPWithinTestSupport

/// A sandbox gateway plus the files and settings for producer and consumer daemons that trade through it on
/// loopback: the four-phases, crash and concurrency tests share it.
final class Market: @unchecked Sendable {
    static let clientKey = ProducerDaemonTests.clientKey
    static let serviceKey = ProducerDaemonTests.serviceKey
    static let testPAN = "4444333322221111"

    let dir: TempDir
    let sandbox: LaunchedProcess
    let gatewayEndpoint: String
    let auditPath: String
    let discoveryPort: Int
    let merchantPath: String
    let producerConfigPath: String

    /// - Parameters:
    ///   - stock: the RoboWash price's stock (nil: unlimited).
    ///   - slowDelayMs: how long the sandbox's `SLOW` cardholder name delays tokens and orders.
    init(stock: Int? = nil, slowDelayMs: Int = 3000) async throws {
        dir = try TempDir()
        auditPath = dir.file("audit.jsonl")
        let sandboxConfig = dir.file("sandbox.json")
        try Data(#"""
        {"host":"127.0.0.1","port":0,"merchants":[{"clientKey":"\#(Self.clientKey)","serviceKey":"\#(Self.serviceKey)"}],
         "slowDelayMilliseconds":\#(slowDelayMs)}
        """#.utf8).write(to: URL(fileURLWithPath: sandboxConfig))
        sandbox = try LaunchedProcess.launch(
            BuiltExecutable.url(named: "wpw-sandbox-gateway"),
            arguments: ["--config", sandboxConfig, "--port", "0", "--audit-log", auditPath],
            stderrPath: dir.file("sandbox.log"))
        guard let port = try JSONValue.parse(try await sandbox.nextLine())["port"]?.int64Value else {
            throw HarnessError("the sandbox gateway did not say its port")
        }
        gatewayEndpoint = "http://127.0.0.1:\(port)"
        discoveryPort = try freeUDPPort()
        merchantPath = dir.file("merchant.json")
        try Data(#"{"clientKey":"\#(Self.clientKey)","serviceKey":"\#(Self.serviceKey)"}"#.utf8).write(to: URL(fileURLWithPath: merchantPath))
        chmod(merchantPath, 0o600)
        producerConfigPath = dir.file("producer.json")
        let stockJSON = stock.map(String.init) ?? "null"
        try Data(#"""
        {"producer":{"services":[{"id":1,"name":"RoboWash","description":"Car washed by robot",
          "prices":[{"id":1,"description":"Car wash","amount":500,"currencyCode":"GBP","unitId":1,"unitDescription":"Single wash","stock":\#(stockJSON)}]}]}}
        """#.utf8).write(to: URL(fileURLWithPath: producerConfigPath))
    }

    /// A card file whose cardholder name is `name` (the sandbox's magic names change its behaviour).
    func cardFile(name: String = "Joe Bloggs") throws -> String {
        let path = dir.file("card-\(UUID().uuidString.prefix(8)).json")
        try Data(#"{"name":"\#(name)","expMonth":12,"expYear":2099,"cardNumber":"\#(Self.testPAN)","type":"Card","cvc":"123"}"#.utf8)
            .write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
        return path
    }

    /// Starts a producer daemon (state in `dir`; a fixed `htePort` lets a restarted producer keep its URL).
    /// `gateway` replaces the sandbox's endpoint (a fault proxy in front of it); `config` adds top-level
    /// configuration keys to the catalog file (e.g. `["payments": ["recovery": …]]`).
    func startProducer(
        dir: TempDir? = nil, htePort: Int? = nil, gateway: String? = nil, config: [String: JSONValue] = [:],
        wrapper: [String] = [], journalStream: Bool = false
    ) async throws -> DaemonProcess {
        var env = loopbackDiscovery(port: discoveryPort, roles: "producer")
        env["WPWITHIND_GATEWAY_ENDPOINT"] = gateway ?? gatewayEndpoint
        env["WPWITHIND_MERCHANT_FILE"] = merchantPath
        if let htePort { env["WPWITHIND_HTE_PORT"] = String(htePort) }
        let configPath = config.isEmpty ? producerConfigPath : try merged(producerConfigPath, config)
        let daemon = try DaemonProcess(
            dir: dir ?? TempDir(), extraArguments: ["--config", configPath], environment: env, wrapper: wrapper,
            journalStream: journalStream)
        try await daemon.waitUntilListening()
        return daemon
    }

    /// `configPath` names a configuration file the test keeps (to rewrite it and reload with SIGHUP);
    /// otherwise `config` is written to a new one.
    func startConsumer(
        dir: TempDir? = nil, cardName: String = "Joe Bloggs", config: [String: JSONValue] = [:], configPath: String? = nil,
        wrapper: [String] = [], journalStream: Bool = false
    ) async throws -> DaemonProcess {
        var env = loopbackDiscovery(port: discoveryPort, roles: "consumer")
        env["WPWITHIND_GATEWAY_ENDPOINT"] = gatewayEndpoint
        env["WPWITHIND_CARD_FILE"] = try cardFile(name: cardName)
        var arguments: [String] = []
        if let configPath {
            arguments = ["--config", configPath]
        } else if !config.isEmpty {
            let path = self.dir.file("consumer-\(UUID().uuidString.prefix(8)).json")
            try Data(JSONValue.object(config).jsonString.utf8).write(to: URL(fileURLWithPath: path))
            arguments = ["--config", path]
        }
        let daemon = try DaemonProcess(
            dir: dir ?? TempDir(), extraArguments: arguments, environment: env, wrapper: wrapper, journalStream: journalStream)
        try await daemon.waitUntilListening()
        return daemon
    }

    /// A copy of the configuration file at `path` with `extra`'s top-level keys merged in (objects merged
    /// one level deep).
    func merged(_ path: String, _ extra: [String: JSONValue]) throws -> String {
        var root = try JSONValue.parse(String(contentsOfFile: path, encoding: .utf8)).objectValue ?? [:]
        for (key, value) in extra {
            if case .object(var existing)? = root[key], case .object(let more) = value {
                for (k, v) in more { existing[k] = v }
                root[key] = .object(existing)
            } else {
                root[key] = value
            }
        }
        let out = dir.file("producer-\(UUID().uuidString.prefix(8)).json")
        try Data(JSONValue.object(root).jsonString.utf8).write(to: URL(fileURLWithPath: out))
        return out
    }

    /// The sandbox's audit records of one kind (`order.placed`, `token.created`, …).
    func audit(_ event: String) -> [JSONValue] {
        let text = (try? String(contentsOfFile: auditPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }.filter { $0["event"]?.stringValue == event }
    }

    func ordersPlaced(customerOrderCode reference: JSONValue) -> Int {
        audit("order.placed").filter { $0["customerOrderCode"] == reference }.count
    }

    func stop() async { _ = await sandbox.terminate() }
}
