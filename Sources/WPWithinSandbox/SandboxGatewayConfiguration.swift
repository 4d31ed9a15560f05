import Foundation
import WPWithinCore
import WPWithinTLS

/// Configuration of the sandbox gateway, read from a JSON file (see `docs/sandbox-gateway.md`).
///
/// ```json
/// {
///   "host": "127.0.0.1",
///   "port": 18080,
///   "merchants": [{"clientKey": "T_C_…", "serviceKey": "T_S_…"}],
///   "slowDelayMilliseconds": 3000,
///   "hugeResponseBytes": 8388608,
///   "maxRequestBytes": 65536,
///   "auditLog": "/var/tmp/sandbox-audit.jsonl",
///   "stateFile": "/var/tmp/sandbox-state.jsonl",
///   "currencies": ["GBP", "EUR", "USD"]
/// }
/// ```
/// Every key is optional; missing keys take the defaults below.
public struct SandboxGatewayConfiguration: Sendable, Codable, Hashable {
    /// A merchant's key pair: tokens made for `clientKey` can only be charged with `serviceKey`.
    public struct Merchant: Sendable, Codable, Hashable {
        public var clientKey: String
        public var serviceKey: String
        public init(clientKey: String, serviceKey: String) {
            self.clientKey = clientKey
            self.serviceKey = serviceKey
        }
    }

    public static let defaultPort = 18080
    /// The sandbox keys of `config/merchant.example.json` (the ones in the Go SDK capture).
    public static let defaultMerchant = Merchant(
        clientKey: "T_C_97e8cbaa-14e0-4b1c-b2af-469daf8f1356",
        serviceKey: "T_S_3bdadc9c-54e0-4587-8d91-29813060fecd"
    )

    public var host: String
    public var port: Int
    public var merchants: [Merchant]
    /// How long the `SLOW` cardholder name delays an answer.
    public var slowDelayMilliseconds: Int
    /// Size of the `HUGE` answer.
    public var hugeResponseBytes: Int
    /// Largest request body accepted (413 above).
    public var maxRequestBytes: Int
    /// JSONL audit log path; nil for none.
    public var auditLog: String?
    /// JSONL state file (tokens, orders, refunds; replayed at start, fsynced per change); nil keeps state in memory.
    public var stateFile: String?
    /// Accepted currencies; nil accepts every ISO 4217 code the daemon knows (`Currency.exponents`).
    public var currencies: [String]?
    /// Serve https with this certificate chain and key (PEM files; command line `--tls-certificate`,
    /// `--tls-key`); nil serves plain http.
    public var tls: TLSServerConfiguration?

    /// The JSON keys (TLS comes from the command line only).
    enum CodingKeys: String, CodingKey {
        case host, port, merchants, slowDelayMilliseconds, hugeResponseBytes, maxRequestBytes, auditLog, stateFile, currencies
    }

    public init(
        host: String = "127.0.0.1",
        port: Int = SandboxGatewayConfiguration.defaultPort,
        merchants: [Merchant] = [SandboxGatewayConfiguration.defaultMerchant],
        slowDelayMilliseconds: Int = 3000,
        hugeResponseBytes: Int = 8 << 20,
        maxRequestBytes: Int = 64 << 10,
        auditLog: String? = nil,
        stateFile: String? = nil,
        currencies: [String]? = nil
    ) {
        self.host = host
        self.port = port
        self.merchants = merchants
        self.slowDelayMilliseconds = slowDelayMilliseconds
        self.hugeResponseBytes = hugeResponseBytes
        self.maxRequestBytes = maxRequestBytes
        self.auditLog = auditLog
        self.stateFile = stateFile
        self.currencies = currencies
    }

    public init(from decoder: any Decoder) throws {
        let defaults = SandboxGatewayConfiguration()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        host = try c.decodeIfPresent(String.self, forKey: .host) ?? defaults.host
        port = try c.decodeIfPresent(Int.self, forKey: .port) ?? defaults.port
        merchants = try c.decodeIfPresent([Merchant].self, forKey: .merchants) ?? defaults.merchants
        slowDelayMilliseconds = try c.decodeIfPresent(Int.self, forKey: .slowDelayMilliseconds) ?? defaults.slowDelayMilliseconds
        hugeResponseBytes = try c.decodeIfPresent(Int.self, forKey: .hugeResponseBytes) ?? defaults.hugeResponseBytes
        maxRequestBytes = try c.decodeIfPresent(Int.self, forKey: .maxRequestBytes) ?? defaults.maxRequestBytes
        auditLog = try c.decodeIfPresent(String.self, forKey: .auditLog)
        stateFile = try c.decodeIfPresent(String.self, forKey: .stateFile)
        currencies = try c.decodeIfPresent([String].self, forKey: .currencies)
    }

    /// True for `localhost`, `127.x.x.x` and `::1`: the addresses the control API may be served on.
    public static func isLoopback(host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || (host.hasPrefix("127.") && host.split(separator: ".").count == 4)
    }

    /// Reads the JSON configuration file; a bad file is a `WPWError(.invalidParams)` naming the path.
    public static func load(fromFile path: String) throws -> SandboxGatewayConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WPWError(.invalidParams, "cannot read configuration file \(path)", data: ["path": .string(path)])
        }
        do {
            return try JSONDecoder().decode(SandboxGatewayConfiguration.self, from: data)
        } catch {
            throw WPWError(
                .invalidParams, "invalid configuration file \(path)",
                data: ["path": .string(path), "reason": .string(String(describing: error))]
            )
        }
    }
}
