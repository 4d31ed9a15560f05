import Logging
import WPWithinCore
import WPWithinPayments
import WPWithinRPC

/// The daemon's configuration: built-in defaults, then a JSON file, then `WPWITHIND_*` environment
/// variables, then command-line flags. Every key is documented in `docs/configuration.md`.
public struct DaemonConfiguration: Sendable, Equatable {
    public enum Role: String, Sendable, CaseIterable {
        case producer
        case consumer
    }

    public var deviceName = "wpwithind"
    public var deviceDescription = "A Worldpay Within Thing"
    public var roles: [Role] = [.producer, .consumer]
    public var stateDirectory = "/var/lib/wpwithind"
    public var logLevel: Logger.Level = .info
    public var socketPath = "/run/wpwithin.sock"
    public var socketMode: UInt32 = 0o660
    public var socketGroup: String?
    public var maxLineBytes = 1 << 20
    public var maxConnections = 256
    /// The most connections one peer uid may hold; nil: half of `maxConnections`.
    public var maxConnectionsPerUid: Int?
    /// Idle connections (nothing in flight, no subscription) are closed after this long; 0: never.
    public var idleTimeoutSeconds = 3600
    public var maxInFlightPerConnection = 64
    public var eventBufferPerSubscriber = 1024
    public var eventJournalCapacity = 10_000
    public var shutdownTimeoutSeconds = 10.0
    /// The Worldpay Online API base URL. The default is the sandbox on loopback, so nothing is charged
    /// until a real endpoint (`https://api.worldpay.com/v1`) is configured on purpose.
    public var gatewayEndpoint = "http://127.0.0.1:18080"
    /// For an `https://` gateway endpoint: the PEM file of the certificate authorities trusted for the
    /// gateway's certificate. Nil: the system's trust store.
    public var gatewayCAFile: String?
    public var gatewayConnectTimeoutMs = 5000
    public var gatewayTotalTimeoutMs = 30000
    /// Payment recovery (docs/store.md, "The order state machine"): an attempt the gateway does not know is
    /// abandoned after `settleAfter` and `minimumNotFoundLookups` lookups; an abandoned one is watched for
    /// a late charge for `watch`; lookups back off from `retryInterval` to `maxRetryInterval`.
    public var recoverySettleAfterSeconds = 900
    public var recoveryMinimumNotFoundLookups = 3
    public var recoveryWatchSeconds = 86_400
    public var recoveryRetryIntervalMs = 1000
    public var recoveryMaxRetryIntervalMs = 60_000
    /// The consumer's card (HCECard JSON, mode 0600). Default: `$CREDENTIALS_DIRECTORY/card.json` when present.
    public var cardFile: String?
    /// The producer's merchant keys (JSON, mode 0600). Default: `$CREDENTIALS_DIRECTORY/merchant.json` when present.
    public var merchantFile: String?

    // Producer.
    /// The HTE (peer HTTP) server's bind address and port, and the URL prefix of its routes.
    public var hteHost = "0.0.0.0"
    public var htePort = 64521
    public var hteURLPrefix = ""
    /// The host other Things reach this one at (the broadcast's `hostname`). Default: the HTE host, or
    /// the first non-loopback IPv4 address when the HTE host is a wildcard.
    public var advertisedHost: String?
    /// The HTE server's connection caps and timeouts (`producer.hte.maxConnections`, …).
    public var hteLimits = HTELimits()
    public var quoteTTLSeconds = 600
    public var tokenTTLSeconds = 7 * 24 * 3600
    /// Units a consumer began and never ended are settled (released) at its next begin once the oldest has
    /// been in flight this long (docs/store.md, "Delivery lease").
    public var deliveryLeaseSeconds = 6 * 3600
    /// The catalog loaded at start-up (services added by RPC are kept in the database).
    public var services: [JSONValue] = []

    // Discovery.
    public var broadcastAddress = "255.255.255.255"
    public var discoveryPort = 8980
    public var broadcastIntervalMs = 500
    /// The source address broadcasts are sent from (null: any).
    public var broadcastSource: String?
    public var scanBindAddress = "0.0.0.0"

    // Consumer.
    public var peerTimeoutMs = 10_000
    /// `consumer.spending`: the limits, budgets and lists checked before the card is used (reloaded on SIGHUP).
    public var spending = SpendingPolicy()
    /// How often the consumer asks producers about the refund of purchases whose token expired unused
    /// (`consumer.refundCheckSeconds`, docs/payments.md).
    public var refundCheckSeconds = 60

    // Store.
    /// `full` survives power loss; `normal` (WAL) survives a crash of the daemon.
    public var storeSynchronous = "full"
    /// The space reserve and the floor for new money on the state volume (docs/store.md, "A full state volume").
    public var storeReserveBytes = 256 << 10
    public var storeMinimumFreeBytes = 1 << 20
    /// `metrics.listen`: `HOST:PORT` of the Prometheus listener (a loopback address only; port 0: any free
    /// one), nil: no listener (the metrics are still served by the `getMetrics` RPC method).
    public var metricsListen: String?
    /// Fsync every delivery begin and end too (default: only money transitions; docs/store.md, "fsync budget").
    public var storeDurableDeliveries = false
    /// Where the producer keeps its money and units: `sqlite` (this Thing's state directory) or `postgresql`
    /// (a fleet's shared database, docs/fleet.md; only in a build with the PostgreSQL backend).
    public var storeBackend = "sqlite"
    /// `store.postgresql.connection`: libpq's connection string (`service=wpwithind`, `host=… dbname=…
    /// passfile=…`). Never a password: that goes in a 0600 password file or the libpq service file.
    public var storePostgresConnection: String?
    /// `store.postgresql.poolSize`: connections (each on a thread of its own) to the fleet's database.
    public var storePostgresPoolSize = 4

    public init() {}

    /// The default configuration file, read when it exists and no other is named.
    public static let defaultPath = "/etc/wpwithind/wpwithind.json"

    /// Command-line values; nil means "not given".
    public struct Overrides: Sendable, Equatable {
        public var socketPath: String?
        public var stateDirectory: String?
        public var logLevel: Logger.Level?

        public init(socketPath: String? = nil, stateDirectory: String? = nil, logLevel: Logger.Level? = nil) {
            self.socketPath = socketPath
            self.stateDirectory = stateDirectory
            self.logLevel = logLevel
        }
    }

    /// Builds the configuration from every source.
    /// - Parameter path: a file named by `--config` or `WPWITHIND_CONFIG` (must exist); nil reads
    ///   `defaultPath` when it exists, otherwise only the built-in defaults.
    public static func load(
        path: String?,
        environment: [String: String],
        overrides: Overrides = Overrides()
    ) throws(ConfigurationError) -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        let filePath = path ?? environment["WPWITHIND_CONFIG"]
        if let filePath {
            try configuration.apply(file: filePath)
        } else if ProcessEnvironment.fileExists(defaultPath) {
            try configuration.apply(file: defaultPath)
        }
        try configuration.apply(environment: environment)
        if let value = overrides.socketPath { configuration.socketPath = value }
        if let value = overrides.stateDirectory { configuration.stateDirectory = value }
        if let value = overrides.logLevel { configuration.logLevel = value }
        try configuration.validate()
        return configuration
    }

    mutating func apply(file path: String) throws(ConfigurationError) {
        guard let data = SmallFile.read(path) else {
            throw ConfigurationError(path: path, key: nil, "cannot read the configuration file (or it is over 1 MiB)")
        }
        let root: JSONValue
        do {
            // Strict: no comments, no trailing commas, no key given twice.
            root = try JSONValue.parse(data, rejectingDuplicateKeys: true)
        } catch {
            let (line, column) = Self.lineAndColumn(of: error.offset, in: data)
            throw ConfigurationError(path: path, key: nil, "not valid JSON at line \(line), column \(column): \(error.reason)")
        }
        try apply(json: root, source: path)
    }

    /// 1-based line and column (in bytes) of a byte offset, for error messages.
    static func lineAndColumn(of offset: Int, in bytes: some Collection<UInt8>) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        for byte in bytes.prefix(offset) {
            if byte == 0x0A { line += 1; column = 1 } else { column += 1 }
        }
        return (line, column)
    }

    /// Applies a parsed configuration document; unknown keys are refused so that typos are caught.
    public mutating func apply(json root: JSONValue, source: String) throws(ConfigurationError) {
        let reader = ConfigReader(source: source)
        let top = try reader.object(root, at: nil)
        try reader.allow(
            top,
            keys: ["device", "roles", "stateDir", "logLevel", "rpc", "payments", "producer", "consumer", "discovery", "store", "metrics", "shutdownTimeoutSeconds"],
            at: nil
        )
        if let producer = top["producer"] {
            let object = try reader.object(producer, at: "producer")
            try reader.allow(object, keys: ["hte", "quoteTtlSeconds", "tokenTtlSeconds", "deliveryLeaseSeconds", "services"], at: "producer")
            if let hte = object["hte"] {
                let hteObject = try reader.object(hte, at: "producer.hte")
                try reader.allow(hteObject, keys: HTELimits.keys.union(["host", "port", "urlPrefix", "advertisedHost"]), at: "producer.hte")
                try hteLimits.apply(hteObject, reader: reader)
                if let value = hteObject["host"] { hteHost = try reader.string(value, at: "producer.hte.host") }
                if let value = hteObject["port"] { htePort = try reader.int(value, at: "producer.hte.port") }
                if let value = hteObject["urlPrefix"] { hteURLPrefix = try reader.string(value, at: "producer.hte.urlPrefix") }
                if let value = hteObject["advertisedHost"] {
                    advertisedHost = value.isNull ? nil : try reader.string(value, at: "producer.hte.advertisedHost")
                }
            }
            if let value = object["quoteTtlSeconds"] { quoteTTLSeconds = try reader.int(value, at: "producer.quoteTtlSeconds") }
            if let value = object["tokenTtlSeconds"] { tokenTTLSeconds = try reader.int(value, at: "producer.tokenTtlSeconds") }
            if let value = object["deliveryLeaseSeconds"] {
                deliveryLeaseSeconds = try reader.int(value, at: "producer.deliveryLeaseSeconds")
            }
            if let value = object["services"] {
                guard let array = value.arrayValue else { throw reader.error("producer.services", "must be an array of services") }
                services = array
            }
        }
        if let discovery = top["discovery"] {
            let object = try reader.object(discovery, at: "discovery")
            try reader.allow(object, keys: ["broadcastAddress", "port", "intervalMs", "sourceAddress", "scanBindAddress"], at: "discovery")
            if let value = object["broadcastAddress"] { broadcastAddress = try reader.string(value, at: "discovery.broadcastAddress") }
            if let value = object["port"] { discoveryPort = try reader.int(value, at: "discovery.port") }
            if let value = object["intervalMs"] { broadcastIntervalMs = try reader.int(value, at: "discovery.intervalMs") }
            if let value = object["sourceAddress"] {
                broadcastSource = value.isNull ? nil : try reader.string(value, at: "discovery.sourceAddress")
            }
            if let value = object["scanBindAddress"] { scanBindAddress = try reader.string(value, at: "discovery.scanBindAddress") }
        }
        if let consumer = top["consumer"] {
            let object = try reader.object(consumer, at: "consumer")
            try reader.allow(object, keys: ["peerTimeoutMs", "refundCheckSeconds", "spending"], at: "consumer")
            if let value = object["peerTimeoutMs"] { peerTimeoutMs = try reader.int(value, at: "consumer.peerTimeoutMs") }
            if let value = object["refundCheckSeconds"] { refundCheckSeconds = try reader.int(value, at: "consumer.refundCheckSeconds") }
            if let value = object["spending"] {
                spending = value.isNull ? SpendingPolicy() : try SpendingPolicy.parse(try reader.object(value, at: "consumer.spending"), reader: reader)
            }
        }
        if let metrics = top["metrics"] {
            let object = try reader.object(metrics, at: "metrics")
            try reader.allow(object, keys: ["listen"], at: "metrics")
            if let value = object["listen"] { metricsListen = value.isNull ? nil : try reader.string(value, at: "metrics.listen") }
        }
        if let store = top["store"] {
            let object = try reader.object(store, at: "store")
            try reader.allow(
                object, keys: ["synchronous", "reserveBytes", "minimumFreeBytes", "durableDeliveries", "backend", "postgresql"], at: "store")
            if let value = object["synchronous"] { storeSynchronous = try reader.string(value, at: "store.synchronous") }
            if let value = object["reserveBytes"] { storeReserveBytes = try reader.int(value, at: "store.reserveBytes") }
            if let value = object["minimumFreeBytes"] { storeMinimumFreeBytes = try reader.int(value, at: "store.minimumFreeBytes") }
            if let value = object["durableDeliveries"] { storeDurableDeliveries = try reader.bool(value, at: "store.durableDeliveries") }
            if let value = object["backend"] { storeBackend = try reader.string(value, at: "store.backend") }
            if let value = object["postgresql"] {
                let postgres = try reader.object(value, at: "store.postgresql")
                try reader.allow(postgres, keys: ["connection", "poolSize"], at: "store.postgresql")
                if let value = postgres["connection"], value != .null {
                    storePostgresConnection = try reader.string(value, at: "store.postgresql.connection")
                }
                if let value = postgres["poolSize"] { storePostgresPoolSize = try reader.int(value, at: "store.postgresql.poolSize") }
            }
        }
        if let payments = top["payments"] {
            let object = try reader.object(payments, at: "payments")
            try reader.allow(object, keys: ["gatewayEndpoint", "gatewayCAFile", "connectTimeoutMs", "totalTimeoutMs", "cardFile", "merchantFile", "recovery"], at: "payments")
            if let recovery = object["recovery"] {
                let r = try reader.object(recovery, at: "payments.recovery")
                try reader.allow(r, keys: [
                    "settleAfterSeconds", "minimumNotFoundLookups", "watchSeconds", "retryIntervalMs", "maxRetryIntervalMs",
                ], at: "payments.recovery")
                if let value = r["settleAfterSeconds"] { recoverySettleAfterSeconds = try reader.int(value, at: "payments.recovery.settleAfterSeconds") }
                if let value = r["minimumNotFoundLookups"] {
                    recoveryMinimumNotFoundLookups = try reader.int(value, at: "payments.recovery.minimumNotFoundLookups")
                }
                if let value = r["watchSeconds"] { recoveryWatchSeconds = try reader.int(value, at: "payments.recovery.watchSeconds") }
                if let value = r["retryIntervalMs"] { recoveryRetryIntervalMs = try reader.int(value, at: "payments.recovery.retryIntervalMs") }
                if let value = r["maxRetryIntervalMs"] {
                    recoveryMaxRetryIntervalMs = try reader.int(value, at: "payments.recovery.maxRetryIntervalMs")
                }
            }
            if let value = object["gatewayEndpoint"] { gatewayEndpoint = try reader.string(value, at: "payments.gatewayEndpoint") }
            if let value = object["gatewayCAFile"] {
                gatewayCAFile = value.isNull ? nil : try reader.string(value, at: "payments.gatewayCAFile")
            }
            if let value = object["connectTimeoutMs"] { gatewayConnectTimeoutMs = try reader.int(value, at: "payments.connectTimeoutMs") }
            if let value = object["totalTimeoutMs"] { gatewayTotalTimeoutMs = try reader.int(value, at: "payments.totalTimeoutMs") }
            if let value = object["cardFile"] { cardFile = value.isNull ? nil : try reader.string(value, at: "payments.cardFile") }
            if let value = object["merchantFile"] { merchantFile = value.isNull ? nil : try reader.string(value, at: "payments.merchantFile") }
        }
        if let device = top["device"] {
            let object = try reader.object(device, at: "device")
            try reader.allow(object, keys: ["name", "description"], at: "device")
            if let value = object["name"] { deviceName = try reader.string(value, at: "device.name") }
            if let value = object["description"] { deviceDescription = try reader.string(value, at: "device.description") }
        }
        if let value = top["roles"] {
            guard let array = value.arrayValue else { throw reader.error("roles", "must be an array of \"producer\"/\"consumer\"") }
            roles = try array.map { element throws(ConfigurationError) in
                guard let name = element.stringValue, let role = Role(rawValue: name) else {
                    throw reader.error("roles", "must contain only \"producer\" and \"consumer\"")
                }
                return role
            }
        }
        if let value = top["stateDir"] { stateDirectory = try reader.string(value, at: "stateDir") }
        if let value = top["logLevel"] { logLevel = try Self.parseLogLevel(try reader.string(value, at: "logLevel"), key: "logLevel", source: source) }
        if let value = top["shutdownTimeoutSeconds"] {
            guard let seconds = value.doubleValue else { throw reader.error("shutdownTimeoutSeconds", "must be a number") }
            shutdownTimeoutSeconds = seconds
        }
        if let rpc = top["rpc"] {
            let object = try reader.object(rpc, at: "rpc")
            try reader.allow(object, keys: [
                "socketPath", "socketMode", "socketGroup", "maxLineBytes", "maxConnections",
                "maxInFlightPerConnection", "eventBufferPerSubscriber", "eventJournalCapacity",
                "maxConnectionsPerUid", "idleTimeoutSeconds",
            ], at: "rpc")
            if let value = object["socketPath"] { socketPath = try reader.string(value, at: "rpc.socketPath") }
            if let value = object["socketMode"] {
                socketMode = try Self.parseMode(try reader.string(value, at: "rpc.socketMode"), key: "rpc.socketMode", source: source)
            }
            if let value = object["socketGroup"] { socketGroup = value.isNull ? nil : try reader.string(value, at: "rpc.socketGroup") }
            if let value = object["maxLineBytes"] { maxLineBytes = try reader.int(value, at: "rpc.maxLineBytes") }
            if let value = object["maxConnections"] { maxConnections = try reader.int(value, at: "rpc.maxConnections") }
            if let value = object["maxConnectionsPerUid"] {
                maxConnectionsPerUid = value.isNull ? nil : try reader.int(value, at: "rpc.maxConnectionsPerUid")
            }
            if let value = object["idleTimeoutSeconds"] { idleTimeoutSeconds = try reader.int(value, at: "rpc.idleTimeoutSeconds") }
            if let value = object["maxInFlightPerConnection"] {
                maxInFlightPerConnection = try reader.int(value, at: "rpc.maxInFlightPerConnection")
            }
            if let value = object["eventBufferPerSubscriber"] {
                eventBufferPerSubscriber = try reader.int(value, at: "rpc.eventBufferPerSubscriber")
            }
            if let value = object["eventJournalCapacity"] { eventJournalCapacity = try reader.int(value, at: "rpc.eventJournalCapacity") }
        }
    }

    /// The `WPWITHIND_*` variables (see docs/configuration.md).
    public mutating func apply(environment: [String: String]) throws(ConfigurationError) {
        let source = "environment"
        func int(_ name: String) throws(ConfigurationError) -> Int? {
            guard let raw = environment[name] else { return nil }
            guard let value = Int(raw) else { throw ConfigurationError(path: source, key: name, "must be an integer") }
            return value
        }
        if let value = environment["WPWITHIND_DEVICE_NAME"] { deviceName = value }
        if let value = environment["WPWITHIND_DEVICE_DESCRIPTION"] { deviceDescription = value }
        if let value = environment["WPWITHIND_ROLES"] {
            roles = try value.split(separator: ",").map { part throws(ConfigurationError) in
                guard let role = Role(rawValue: String(part.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())) else {
                    throw ConfigurationError(path: source, key: "WPWITHIND_ROLES", "must list producer and/or consumer, comma-separated")
                }
                return role
            }
        }
        if let value = environment["WPWITHIND_STATE_DIR"] { stateDirectory = value }
        if let value = environment["WPWITHIND_LOG_LEVEL"] {
            logLevel = try Self.parseLogLevel(value, key: "WPWITHIND_LOG_LEVEL", source: source)
        }
        if let value = environment["WPWITHIND_SOCKET"] { socketPath = value }
        if let value = environment["WPWITHIND_SOCKET_MODE"] {
            socketMode = try Self.parseMode(value, key: "WPWITHIND_SOCKET_MODE", source: source)
        }
        if let value = environment["WPWITHIND_SOCKET_GROUP"] { socketGroup = value.isEmpty ? nil : value }
        if let value = try int("WPWITHIND_MAX_LINE_BYTES") { maxLineBytes = value }
        if let value = environment["WPWITHIND_GATEWAY_ENDPOINT"] { gatewayEndpoint = value }
        if let value = environment["WPWITHIND_GATEWAY_CA_FILE"] { gatewayCAFile = value.isEmpty ? nil : value }
        if let value = environment["WPWITHIND_HTE_HOST"] { hteHost = value }
        if let value = try int("WPWITHIND_HTE_PORT") { htePort = value }
        if let value = environment["WPWITHIND_ADVERTISED_HOST"] { advertisedHost = value.isEmpty ? nil : value }
        if let value = environment["WPWITHIND_BROADCAST_ADDRESS"] { broadcastAddress = value }
        if let value = environment["WPWITHIND_BROADCAST_SOURCE"] { broadcastSource = value.isEmpty ? nil : value }
        if let value = try int("WPWITHIND_DISCOVERY_PORT") { discoveryPort = value }
        if let value = environment["WPWITHIND_SCAN_BIND_ADDRESS"] { scanBindAddress = value }
        if let value = environment["WPWITHIND_STORE_SYNCHRONOUS"] { storeSynchronous = value }
        if let value = environment["WPWITHIND_STORE_BACKEND"] { storeBackend = value }
        if let value = environment["WPWITHIND_STORE_POSTGRESQL_CONNECTION"] { storePostgresConnection = value.isEmpty ? nil : value }
        if let value = environment["WPWITHIND_METRICS_LISTEN"] { metricsListen = value.isEmpty ? nil : value }
        if let raw = environment["WPWITHIND_STORE_DURABLE_DELIVERIES"] {
            switch raw {
            case "1", "true": storeDurableDeliveries = true
            case "0", "false": storeDurableDeliveries = false
            default: throw ConfigurationError(path: source, key: "WPWITHIND_STORE_DURABLE_DELIVERIES", "must be true or false (1 or 0)")
            }
        }
        if let value = environment["WPWITHIND_CARD_FILE"] { cardFile = value.isEmpty ? nil : value }
        if let value = environment["WPWITHIND_MERCHANT_FILE"] { merchantFile = value.isEmpty ? nil : value }
        if let directory = environment["CREDENTIALS_DIRECTORY"] {
            // systemd LoadCredential=: files named card.json / merchant.json.
            if cardFile == nil, ProcessEnvironment.fileExists(directory + "/card.json") { cardFile = directory + "/card.json" }
            if merchantFile == nil, ProcessEnvironment.fileExists(directory + "/merchant.json") {
                merchantFile = directory + "/merchant.json"
            }
        }
        if let value = try int("WPWITHIND_MAX_CONNECTIONS") { maxConnections = value }
        if let value = try int("WPWITHIND_MAX_CONNECTIONS_PER_UID") { maxConnectionsPerUid = value }
        if let value = try int("WPWITHIND_IDLE_TIMEOUT_SECONDS") { idleTimeoutSeconds = value }
        try hteLimits.apply(environment: environment)
    }

    func validate() throws(ConfigurationError) {
        let source = "configuration"
        guard !deviceName.isEmpty else { throw ConfigurationError(path: source, key: "device.name", "must not be empty") }
        guard !roles.isEmpty else { throw ConfigurationError(path: source, key: "roles", "must name at least one role") }
        guard !stateDirectory.isEmpty else { throw ConfigurationError(path: source, key: "stateDir", "must not be empty") }
        guard !socketPath.isEmpty, socketPath.utf8.count < 108 else {
            throw ConfigurationError(path: source, key: "rpc.socketPath", "must be a path of 1 to 107 bytes")
        }
        guard (1024...(64 << 20)).contains(maxLineBytes) else {
            throw ConfigurationError(path: source, key: "rpc.maxLineBytes", "must be between 1024 and 67108864")
        }
        guard (1...65_536).contains(maxConnections) else {
            throw ConfigurationError(path: source, key: "rpc.maxConnections", "must be between 1 and 65536")
        }
        if let maxConnectionsPerUid, !(1...maxConnections).contains(maxConnectionsPerUid) {
            throw ConfigurationError(path: source, key: "rpc.maxConnectionsPerUid", "must be between 1 and rpc.maxConnections (\(maxConnections))")
        }
        guard (0...604_800).contains(idleTimeoutSeconds) else {
            throw ConfigurationError(path: source, key: "rpc.idleTimeoutSeconds", "must be between 0 (never) and 604800")
        }
        guard (1...4096).contains(maxInFlightPerConnection) else {
            throw ConfigurationError(path: source, key: "rpc.maxInFlightPerConnection", "must be between 1 and 4096")
        }
        guard (16...1_000_000).contains(eventBufferPerSubscriber) else {
            throw ConfigurationError(path: source, key: "rpc.eventBufferPerSubscriber", "must be between 16 and 1000000")
        }
        guard (1...10_000_000).contains(eventJournalCapacity) else {
            throw ConfigurationError(path: source, key: "rpc.eventJournalCapacity", "must be between 1 and 10000000")
        }
        guard shutdownTimeoutSeconds > 0, shutdownTimeoutSeconds <= 3600 else {
            throw ConfigurationError(path: source, key: "shutdownTimeoutSeconds", "must be between 0 and 3600")
        }
        do throws(GatewayEndpointError) {
            _ = try GatewayEndpoint(gatewayEndpoint)
        } catch {
            throw ConfigurationError(path: source, key: "payments.gatewayEndpoint", "must be an http:// or https:// URL (\(error.reason))")
        }
        if let gatewayCAFile, gatewayCAFile.isEmpty || !gatewayCAFile.hasPrefix("/") {
            throw ConfigurationError(path: source, key: "payments.gatewayCAFile", "must be an absolute path")
        }
        guard (100...600_000).contains(gatewayConnectTimeoutMs) else {
            throw ConfigurationError(path: source, key: "payments.connectTimeoutMs", "must be between 100 and 600000")
        }
        guard (100...600_000).contains(gatewayTotalTimeoutMs) else {
            throw ConfigurationError(path: source, key: "payments.totalTimeoutMs", "must be between 100 and 600000")
        }
        guard (0...65535).contains(htePort) else { throw ConfigurationError(path: source, key: "producer.hte.port", "must be 0 … 65535") }
        try hteLimits.validate(source: source)
        guard (1...65535).contains(discoveryPort) else { throw ConfigurationError(path: source, key: "discovery.port", "must be 1 … 65535") }
        guard (50...60_000).contains(broadcastIntervalMs) else {
            throw ConfigurationError(path: source, key: "discovery.intervalMs", "must be between 50 and 60000")
        }
        guard hteURLPrefix.isEmpty || (hteURLPrefix.hasPrefix("/") && !hteURLPrefix.hasSuffix("/")) else {
            throw ConfigurationError(path: source, key: "producer.hte.urlPrefix", "must be empty or start with / and not end with /")
        }
        guard (1...86_400).contains(quoteTTLSeconds) else {
            throw ConfigurationError(path: source, key: "producer.quoteTtlSeconds", "must be between 1 and 86400")
        }
        guard (1...(366 * 86_400)).contains(tokenTTLSeconds) else {
            throw ConfigurationError(path: source, key: "producer.tokenTtlSeconds", "must be between 1 and 31622400")
        }
        guard (1...(366 * 86_400)).contains(deliveryLeaseSeconds) else {
            throw ConfigurationError(path: source, key: "producer.deliveryLeaseSeconds", "must be between 1 and 31622400")
        }
        guard (1...(30 * 86_400)).contains(recoverySettleAfterSeconds) else {
            throw ConfigurationError(path: source, key: "payments.recovery.settleAfterSeconds", "must be between 1 and 2592000")
        }
        guard (1...1000).contains(recoveryMinimumNotFoundLookups) else {
            throw ConfigurationError(path: source, key: "payments.recovery.minimumNotFoundLookups", "must be between 1 and 1000")
        }
        guard recoveryWatchSeconds >= recoverySettleAfterSeconds, recoveryWatchSeconds <= 366 * 86_400 else {
            throw ConfigurationError(
                path: source, key: "payments.recovery.watchSeconds", "must be at least settleAfterSeconds and at most 31622400")
        }
        guard (10...3_600_000).contains(recoveryRetryIntervalMs) else {
            throw ConfigurationError(path: source, key: "payments.recovery.retryIntervalMs", "must be between 10 and 3600000")
        }
        guard (recoveryRetryIntervalMs...3_600_000).contains(recoveryMaxRetryIntervalMs) else {
            throw ConfigurationError(
                path: source, key: "payments.recovery.maxRetryIntervalMs", "must be between retryIntervalMs and 3600000")
        }
        guard (100...600_000).contains(peerTimeoutMs) else {
            throw ConfigurationError(path: source, key: "consumer.peerTimeoutMs", "must be between 100 and 600000")
        }
        guard (1...86_400).contains(refundCheckSeconds) else {
            throw ConfigurationError(path: source, key: "consumer.refundCheckSeconds", "must be between 1 and 86400")
        }
        guard (0...(1 << 30)).contains(storeReserveBytes) else {
            throw ConfigurationError(path: source, key: "store.reserveBytes", "must be between 0 and 1073741824")
        }
        guard (0...(1 << 40)).contains(storeMinimumFreeBytes) else {
            throw ConfigurationError(path: source, key: "store.minimumFreeBytes", "must be between 0 and 1099511627776")
        }
        if let metricsListen, MetricsListenAddress(metricsListen) == nil {
            throw ConfigurationError(
                path: source, key: "metrics.listen",
                "must be HOST:PORT on a loopback address (127.0.0.1:9464, [::1]:9464, localhost:9464; port 0 … 65535)")
        }
        guard ["full", "normal"].contains(storeSynchronous) else {
            throw ConfigurationError(path: source, key: "store.synchronous", "must be \"full\" or \"normal\"")
        }
        guard ["sqlite", "postgresql"].contains(storeBackend) else {
            throw ConfigurationError(path: source, key: "store.backend", "must be \"sqlite\" or \"postgresql\"")
        }
        if storeBackend == "postgresql" {
            guard let connection = storePostgresConnection, !connection.allSatisfy(\.isWhitespace) else {
                throw ConfigurationError(
                    path: source, key: "store.postgresql.connection",
                    "is required with store.backend \"postgresql\" (libpq's connection string, e.g. \"service=wpwithind\")")
            }
            // A password in the main configuration would be readable by whoever may read the file: refuse it.
            if connection.lowercased().contains("password") {
                throw ConfigurationError(
                    path: source, key: "store.postgresql.connection",
                    "must not contain a password: put it in a 0600 password file (passfile=…) or the libpq service file")
            }
        }
        guard (1...64).contains(storePostgresPoolSize) else {
            throw ConfigurationError(path: source, key: "store.postgresql.poolSize", "must be between 1 and 64")
        }
        do {
            _ = try CatalogJSON.catalog(from: services)
        } catch let error as WPWError {
            throw ConfigurationError(path: source, key: "producer.services", error.message)
        } catch {
            throw ConfigurationError(path: source, key: "producer.services", "\(error)")
        }
        if let socketGroup, UnixSocketPath.groupID(socketGroup) == nil {
            throw ConfigurationError(path: source, key: "rpc.socketGroup", "no such group \(socketGroup)")
        }
    }

    static func parseLogLevel(_ raw: String, key: String, source: String) throws(ConfigurationError) -> Logger.Level {
        guard let level = Logger.Level(rawValue: raw.lowercased()) else {
            throw ConfigurationError(path: source, key: key, "must be one of trace, debug, info, notice, warning, error, critical")
        }
        return level
    }

    static func parseMode(_ raw: String, key: String, source: String) throws(ConfigurationError) -> UInt32 {
        guard let mode = UInt32(raw, radix: 8), mode <= 0o777 else {
            throw ConfigurationError(path: source, key: key, "must be an octal mode such as \"0660\"")
        }
        return mode
    }
}

// MARK: HTE connection limits (producer.hte.*)

extension DaemonConfiguration {
    /// How many connections the HTE server serves and how long it waits for a request
    /// (docs/configuration.md, "HTE connection limits"; docs/operations.md, "Connection floods").
    public struct HTELimits: Sendable, Equatable {
        /// Connections served at once (the next gets 503).
        public var maxConnections = 256
        /// Connections served at once for one peer address.
        public var maxConnectionsPerPeer = 16
        /// The whole request head must arrive in this time (slow headers are closed with 408).
        public var headerTimeoutMs = 10_000
        /// The whole body must arrive in this time after the head.
        public var bodyTimeoutMs = 10_000
        /// A keep-alive connection waiting for its next request is closed after this.
        public var idleTimeoutMs = 60_000
        /// At most one warning per interval sums up refused and timed-out connections.
        public var limitLogIntervalMs = 10_000

        public init() {}

        /// Each setting: its key under `producer.hte`, its `WPWITHIND_HTE_*` variable, its range.
        struct Field: Sendable {
            let key: String
            let environment: String
            let value: any WritableKeyPath<HTELimits, Int> & Sendable
            let range: ClosedRange<Int>
        }

        static let fields: [Field] = [
            Field(key: "maxConnections", environment: "WPWITHIND_HTE_MAX_CONNECTIONS", value: \.maxConnections, range: 1...65_536),
            Field(key: "maxConnectionsPerPeer", environment: "WPWITHIND_HTE_MAX_CONNECTIONS_PER_PEER", value: \.maxConnectionsPerPeer, range: 1...65_536),
            Field(key: "headerTimeoutMs", environment: "WPWITHIND_HTE_HEADER_TIMEOUT_MS", value: \.headerTimeoutMs, range: 100...600_000),
            Field(key: "bodyTimeoutMs", environment: "WPWITHIND_HTE_BODY_TIMEOUT_MS", value: \.bodyTimeoutMs, range: 100...600_000),
            Field(key: "idleTimeoutMs", environment: "WPWITHIND_HTE_IDLE_TIMEOUT_MS", value: \.idleTimeoutMs, range: 100...3_600_000),
            Field(key: "limitLogIntervalMs", environment: "WPWITHIND_HTE_LIMIT_LOG_INTERVAL_MS", value: \.limitLogIntervalMs, range: 100...3_600_000),
        ]

        static var keys: Set<String> { Set(fields.map(\.key)) }

        /// The keys of `producer.hte` that belong here (the caller checked for unknown keys).
        mutating func apply(_ object: [String: JSONValue], reader: ConfigReader) throws(ConfigurationError) {
            for field in Self.fields {
                if let raw = object[field.key] { self[keyPath: field.value] = try reader.int(raw, at: "producer.hte.\(field.key)") }
            }
        }

        mutating func apply(environment: [String: String]) throws(ConfigurationError) {
            for field in Self.fields {
                guard let raw = environment[field.environment] else { continue }
                guard let value = Int(raw) else { throw ConfigurationError(path: "environment", key: field.environment, "must be an integer") }
                self[keyPath: field.value] = value
            }
        }

        func validate(source: String) throws(ConfigurationError) {
            for field in Self.fields where !field.range.contains(self[keyPath: field.value]) {
                throw ConfigurationError(
                    path: source, key: "producer.hte.\(field.key)", "must be between \(field.range.lowerBound) and \(field.range.upperBound)")
            }
            guard maxConnectionsPerPeer <= maxConnections else {
                throw ConfigurationError(
                    path: source, key: "producer.hte.maxConnectionsPerPeer", "must be at most producer.hte.maxConnections (\(maxConnections))")
            }
        }
    }
}

/// A configuration problem: where, which key, and what is wrong.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var key: String?
    public var message: String

    public init(path: String, key: String?, _ message: String) {
        self.path = path
        self.key = key
        self.message = message
    }

    public var description: String {
        if let key { return "\(path): \(key): \(message)" }
        return "\(path): \(message)"
    }
}

/// Reads typed values from a parsed document, naming the key in every error.
struct ConfigReader {
    let source: String

    func error(_ key: String?, _ message: String) -> ConfigurationError {
        ConfigurationError(path: source, key: key, message)
    }

    func object(_ value: JSONValue, at key: String?) throws(ConfigurationError) -> [String: JSONValue] {
        guard let object = value.objectValue else { throw error(key, "must be an object") }
        return object
    }

    func allow(_ object: [String: JSONValue], keys: Set<String>, at key: String?) throws(ConfigurationError) {
        if let unknown = object.keys.sorted().first(where: { !keys.contains($0) }) {
            throw error(key.map { "\($0).\(unknown)" } ?? unknown, "unknown key")
        }
    }

    func string(_ value: JSONValue, at key: String) throws(ConfigurationError) -> String {
        guard let string = value.stringValue else { throw error(key, "must be a string") }
        return string
    }

    func int(_ value: JSONValue, at key: String) throws(ConfigurationError) -> Int {
        guard let int = value.int64Value, let result = Int(exactly: int) else { throw error(key, "must be an integer") }
        return result
    }

    func bool(_ value: JSONValue, at key: String) throws(ConfigurationError) -> Bool {
        guard let bool = value.boolValue else { throw error(key, "must be true or false") }
        return bool
    }
}
