import Foundation
import Logging
import Testing
import WPWithinCore
import WPWithinPayments
import WPWithinTestSupport

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

enum TestKeys {
    static let merchant1 = MerchantCredentials(
        clientKey: "T_C_97e8cbaa-14e0-4b1c-b2af-469daf8f1356", serviceKey: "T_S_3bdadc9c-54e0-4587-8d91-29813060fecd"
    )
    static let merchant2 = MerchantCredentials(clientKey: "T_C_second-merchant-client", serviceKey: "T_S_second-merchant-service")
    static let pan = "4444333322221111"
    static let cvc = "7391"
}

func testCard(name: String = "Joe Bloggs", number: String = TestKeys.pan, month: Int = 12, year: Int = 2030) -> PaymentCard {
    PaymentCard(cardholderName: name, cardNumber: number, expiryMonth: month, expiryYear: year, cvc: TestKeys.cvc)
}

func gbp(_ minor: Int64) -> Money { Money(minorUnits: minor, currency: Currency(code: "GBP")!) }

func order(_ token: ClientToken, amount: Int64 = 5000, code: String = UUID().uuidString.lowercased()) -> OrderRequest {
    OrderRequest(
        token: token, amount: gbp(amount), orderDescription: OrderDescription.make(serviceName: "RoboWash", units: 10, unitPrice: gbp(amount / 10)),
        customerOrderCode: code
    )
}

/// Collects every log event as one rendered line (level, message, metadata), for leak checks.
final class LogCapture: @unchecked Sendable {
    // @unchecked: `lines` is behind `lock`.
    private let lock = NSLock()
    private var storage: [String] = []

    var lines: [String] { lock.withLock { storage } }

    func append(_ line: String) { lock.withLock { storage.append(line) } }

    func logger(_ label: String = "test") -> Logger {
        Logger(label: label) { _ in CapturingLogHandler(capture: self) }
    }
}

struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let rendered = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        capture.append("\(event.level) \(event.message) \(rendered) \(event.error.map { "\($0)" } ?? "")")
    }
}

/// A running `wpw-sandbox-gateway` process on 127.0.0.1 with an ephemeral port.
struct SandboxProcess {
    let port: Int
    let directory: TemporaryDirectory
    /// `https` when the sandbox serves TLS.
    var scheme = "http"

    var endpoint: URL { URL(string: "\(scheme)://127.0.0.1:\(port)/v1")! }
    var auditLines: [String] { directory.lines(of: "audit.jsonl") }
    var stderrLines: [String] { directory.lines(of: "stderr.log") }

    func gateway(
        merchant: MerchantCredentials? = TestKeys.merchant1,
        totalTimeout: Duration = .seconds(30),
        maxResponseBytes: Int = 256 << 10,
        trustedCAFile: String? = nil,
        logger: Logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    ) -> WorldpayOnlineGateway {
        let configuration = WorldpayOnlineConfiguration(
            endpoint: try! GatewayEndpoint(endpoint.absoluteString), merchant: merchant, trustedCAFile: trustedCAFile,
            connectTimeout: .seconds(30), totalTimeout: totalTimeout, maxResponseBytes: maxResponseBytes
        )
        return WorldpayOnlineGateway(configuration: configuration, logger: logger)
    }
}

/// Launches the built sandbox with two merchants (serving https with `tls`), runs `body`, then stops the
/// process and deletes its files.
func withSandbox<T>(
    slowDelayMilliseconds: Int = 1500, tls: TestCertificates.Leaf? = nil, _ body: (SandboxProcess) async throws -> T
) async throws -> T {
    let directory = try TemporaryDirectory(prefix: "wpw-sandbox")
    defer { directory.remove() }
    let config = """
        {"merchants":[
          {"clientKey":"\(TestKeys.merchant1.clientKey)","serviceKey":"\(TestKeys.merchant1.serviceKey)"},
          {"clientKey":"\(TestKeys.merchant2.clientKey)","serviceKey":"\(TestKeys.merchant2.serviceKey)"}],
         "slowDelayMilliseconds":\(slowDelayMilliseconds),"hugeResponseBytes":4194304,"maxRequestBytes":16384}
        """
    let configPath = try directory.write(config, to: "sandbox.json")
    let executable = try BuiltExecutable.url(named: "wpw-sandbox-gateway")
    return try await withLaunchedProcess(
        executable,
        arguments: ["--config", configPath, "--port", "0", "--audit-log", directory.path("audit.jsonl"), "--log-level", "debug"]
            + (tls.map { ["--tls-certificate", $0.certificate, "--tls-key", $0.key] } ?? []),
        stderrPath: directory.path("stderr.log")
    ) { process in
        let line = try await process.nextLine()
        let announcement = try JSONDecoder().decode(JSONValue.self, from: Data(line.utf8))
        try #require(announcement["event"] == "listening")
        try #require(announcement["host"] == "127.0.0.1")
        let port = try #require(announcement["port"]?.int64Value)
        return try await body(SandboxProcess(port: Int(port), directory: directory, scheme: tls == nil ? "http" : "https"))
    }
}

/// One raw HTTP exchange (for checks below the client: malformed requests, oversized bodies).
func rawExchange(
    _ method: String, _ url: URL, headers: [String: String] = [:], body: Data? = nil
) async throws -> (status: Int, json: JSONValue?) {
    var request = URLRequest(url: url)
    request.httpMethod = method
    request.httpBody = body
    for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
    let session = URLSession(configuration: .ephemeral)
    defer { session.finishTasksAndInvalidate() }
    let (data, response) = try await session.data(for: request)
    let status = (response as? HTTPURLResponse)?.statusCode ?? 0
    return (status, try? JSONDecoder().decode(JSONValue.self, from: data))
}
