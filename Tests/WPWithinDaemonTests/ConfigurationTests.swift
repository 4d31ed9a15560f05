import Foundation
import Logging
import Testing
import WPWithinCore
import WPWithinDaemon
import WPWithinRPC

@Suite struct ConfigurationTests {
    @Test func defaultsNeedNoFile() throws {
        let configuration = try DaemonConfiguration.load(path: nil, environment: [:])
        #expect(configuration.socketPath == "/run/wpwithin.sock")
        #expect(configuration.socketMode == 0o660)
        #expect(configuration.maxLineBytes == 1 << 20)
        #expect(configuration.roles == [.producer, .consumer])
    }

    /// The shipped `config/wpwithind.json` (installed as /etc/wpwithind/wpwithind.json) is a complete
    /// example: it names every key `docs/configuration.md` documents, each at its default, so loading it
    /// gives exactly the built-in defaults.
    @Test func theShippedConfigurationIsCompleteAndAtTheDefaults() throws {
        let root = SystemdUnitTests.root
        let shipped = root.appendingPathComponent("config/wpwithind.json").path
        #expect(try DaemonConfiguration.load(path: shipped, environment: [:]) == DaemonConfiguration.load(path: nil, environment: [:]))
        let file = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: shipped))))
        let docs = try String(contentsOf: root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        var documented: [String] = []
        for line in docs.split(separator: "\n") where line.hasPrefix("| `") {
            let key = line.dropFirst(3).prefix { $0 != "`" }
            if key.first?.isLowercase == true, !key.contains(" ") { documented.append(String(key)) }
        }
        #expect(documented.count > 40)
        for key in documented {
            var value: JSONValue? = file
            for part in key.split(separator: ".") { value = value?.objectValue?[String(part)] }
            #expect(value != nil, "config/wpwithind.json lacks \(key)")
        }
    }

    @Test func connectionLimitsHaveDocumentedDefaultsAndCanBeSet() throws {
        let defaults = try DaemonConfiguration.load(path: nil, environment: [:])
        #expect(defaults.maxConnections == 256)
        #expect(defaults.maxConnectionsPerUid == nil, "nil: half of maxConnections")
        #expect(ConnectionAccounting(maxConnections: defaults.maxConnections, maxPerUid: defaults.maxConnectionsPerUid).maxPerUid == 128)
        #expect(defaults.idleTimeoutSeconds == 3600)
        let dir = try TempDir()
        try Data(#"{"rpc":{"maxConnectionsPerUid":5,"idleTimeoutSeconds":0}}"#.utf8).write(to: URL(fileURLWithPath: dir.file("c.json")))
        let file = try DaemonConfiguration.load(path: dir.file("c.json"), environment: [:])
        #expect(file.maxConnectionsPerUid == 5)
        #expect(file.idleTimeoutSeconds == 0)
        let environment = try DaemonConfiguration.load(
            path: nil, environment: ["WPWITHIND_MAX_CONNECTIONS_PER_UID": "7", "WPWITHIND_IDLE_TIMEOUT_SECONDS": "30"])
        #expect(environment.maxConnectionsPerUid == 7)
        #expect(environment.idleTimeoutSeconds == 30)
    }

    @Test func durableDeliveriesIsOffByDefaultAndCanBeSet() throws {
        #expect(try DaemonConfiguration.load(path: nil, environment: [:]).storeDurableDeliveries == false)
        let dir = try TempDir()
        try Data(#"{"store":{"durableDeliveries":true}}"#.utf8).write(to: URL(fileURLWithPath: dir.file("c.json")))
        #expect(try DaemonConfiguration.load(path: dir.file("c.json"), environment: [:]).storeDurableDeliveries)
        #expect(try DaemonConfiguration.load(path: dir.file("c.json"), environment: ["WPWITHIND_STORE_DURABLE_DELIVERIES": "0"])
            .storeDurableDeliveries == false)
        #expect(try DaemonConfiguration.load(path: nil, environment: ["WPWITHIND_STORE_DURABLE_DELIVERIES": "true"]).storeDurableDeliveries)
        #expect(throws: ConfigurationError.self) {
            try DaemonConfiguration.load(path: nil, environment: ["WPWITHIND_STORE_DURABLE_DELIVERIES": "yes"])
        }
    }

    /// `store.backend` is `sqlite` unless set; `postgresql` needs a connection string without a password.
    @Test func theProducerBackendIsSQLiteByDefaultAndPostgreSQLNeedsAConnectionWithoutAPassword() throws {
        let defaults = try DaemonConfiguration.load(path: nil, environment: [:])
        #expect(defaults.storeBackend == "sqlite" && defaults.storePostgresConnection == nil && defaults.storePostgresPoolSize == 4)
        let dir = try TempDir()
        try Data(#"{"store":{"backend":"postgresql","postgresql":{"connection":"service=wpwithind","poolSize":8}}}"#.utf8)
            .write(to: URL(fileURLWithPath: dir.file("c.json")))
        let fleet = try DaemonConfiguration.load(path: dir.file("c.json"), environment: [:])
        #expect(fleet.storeBackend == "postgresql" && fleet.storePostgresConnection == "service=wpwithind" && fleet.storePostgresPoolSize == 8)
        let refused: [([String: String], String)] = [
            (["WPWITHIND_STORE_BACKEND": "mysql"], "store.backend"),
            (["WPWITHIND_STORE_BACKEND": "postgresql"], "store.postgresql.connection"),
            (["WPWITHIND_STORE_BACKEND": "postgresql", "WPWITHIND_STORE_POSTGRESQL_CONNECTION": "host=/run/postgresql password=hunter2"],
             "store.postgresql.connection"),
        ]
        for (environment, key) in refused {
            let error = #expect(throws: ConfigurationError.self, "\(environment)") {
                try DaemonConfiguration.load(path: nil, environment: environment)
            }
            #expect(error?.key == key)
            #expect(error?.description.contains("hunter2") == false)
        }
    }

    /// `metrics.listen` is off by default and takes only a loopback HOST:PORT: the metrics name what a
    /// Thing sells and earns.
    @Test func theMetricsListenerIsOptInAndLoopbackOnly() throws {
        #expect(try DaemonConfiguration.load(path: nil, environment: [:]).metricsListen == nil)
        let dir = try TempDir()
        try Data(#"{"metrics":{"listen":"127.0.0.1:9464"}}"#.utf8).write(to: URL(fileURLWithPath: dir.file("c.json")))
        #expect(try DaemonConfiguration.load(path: dir.file("c.json"), environment: [:]).metricsListen == "127.0.0.1:9464")
        #expect(try DaemonConfiguration.load(path: dir.file("c.json"), environment: ["WPWITHIND_METRICS_LISTEN": ""]).metricsListen == nil)
        for good in ["127.0.0.1:0", "127.1.2.3:65535", "[::1]:9464", "localhost:9464"] {
            #expect(try DaemonConfiguration.load(path: nil, environment: ["WPWITHIND_METRICS_LISTEN": good]).metricsListen == good)
        }
        for bad in ["0.0.0.0:9464", "192.168.1.5:9464", "[::]:9464", "127.0.0.1", "127.0.0.1:65536", "127.0.0.1:x", ":9464",
                    "127.0.0.256:1", "example.com:9464", "[::1]9464"] {
            let error = #expect(throws: ConfigurationError.self, "\(bad)") {
                try DaemonConfiguration.load(path: nil, environment: ["WPWITHIND_METRICS_LISTEN": bad])
            }
            #expect(error?.description.contains("loopback") == true)
        }
    }

    @Test func fileThenEnvironmentThenFlags() throws {
        let dir = try TempDir()
        let path = dir.file("c.json")
        try Data(#"{"stateDir":"/from/file","logLevel":"debug","device":{"name":"file"},"rpc":{"socketPath":"/file.sock","socketMode":"0600"}}"#.utf8)
            .write(to: URL(fileURLWithPath: path))
        let configuration = try DaemonConfiguration.load(
            path: path,
            environment: ["WPWITHIND_STATE_DIR": "/from/env", "WPWITHIND_SOCKET": "/env.sock", "WPWITHIND_DEVICE_NAME": "env"],
            overrides: .init(socketPath: "/flag.sock")
        )
        #expect(configuration.stateDirectory == "/from/env")
        #expect(configuration.socketPath == "/flag.sock")
        #expect(configuration.deviceName == "env")
        #expect(configuration.logLevel == .debug)
        #expect(configuration.socketMode == 0o600)
    }

    @Test(arguments: [
        (#"{"nope":1}"#, "nope: unknown key"),
        (#"{"rpc":{"maxLineBytes":"big"}}"#, "rpc.maxLineBytes: must be an integer"),
        (#"{"rpc":{"maxLineBytes":10}}"#, "rpc.maxLineBytes: must be between"),
        (#"{"rpc":{"socketMode":"999"}}"#, "rpc.socketMode: must be an octal mode"),
        (#"{"rpc":{"maxConnections":8,"maxConnectionsPerUid":9}}"#, "rpc.maxConnectionsPerUid: must be between 1 and rpc.maxConnections (8)"),
        (#"{"rpc":{"maxConnectionsPerUid":0}}"#, "rpc.maxConnectionsPerUid: must be between"),
        (#"{"rpc":{"idleTimeoutSeconds":-1}}"#, "rpc.idleTimeoutSeconds: must be between 0 (never) and 604800"),
        (#"{"roles":["seller"]}"#, "roles: must contain only"),
        (#"{"logLevel":"loud"}"#, "logLevel: must be one of"),
        (#"{"store":{"durableDeliveries":1}}"#, "store.durableDeliveries: must be true or false"),
        (#"[1]"#, "must be an object"),
    ])
    func badFilesAreRefusedNamingTheKey(json: String, expected: String) throws {
        var configuration = DaemonConfiguration()
        let root = try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8))
        do {
            try configuration.apply(json: root, source: "test.json")
            _ = try DaemonConfiguration.load(path: nil, environment: [:])
            var copy = configuration
            try copy.apply(environment: [:])
            // Range checks happen in load(); run them through a file.
            let dir = try TempDir()
            try Data(json.utf8).write(to: URL(fileURLWithPath: dir.file("c.json")))
            _ = try DaemonConfiguration.load(path: dir.file("c.json"), environment: [:])
            Issue.record("accepted \(json)")
        } catch {
            #expect("\(error)".contains(expected), "\(error)")
        }
    }

    @Test func theShippedConfigFileParses() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("config/wpwithind.json").path
        let configuration = try DaemonConfiguration.load(path: path, environment: [:])
        #expect(configuration.socketPath == "/run/wpwithin.sock")
    }

    @Test func theOpenRPCDocumentMatchesTheMethodTable() async throws {
        let (daemon, document) = try await Self.discover(roles: [.producer, .consumer])
        let documented = try #require(document["methods"]?.arrayValue).compactMap { $0["name"]?.stringValue }
        #expect(documented == daemon.dispatcher.methodNames)
        #expect(Set(documented) == Set(daemon.dispatcher.methods.keys))
    }

    /// Every result, error `data` and event has a schema of its own (issue 14): no bare `{"type":"object"}`,
    /// every `$ref` names a schema of `components/schemas`, one `Event.<type>` per event type; and the
    /// document is the same whatever roles the Thing runs.
    @Test func theOpenRPCDocumentDescribesEveryResultErrorAndEvent() async throws {
        let (_, document) = try await Self.discover(roles: [.producer, .consumer])
        let schemas = try #require(document["components"]?["schemas"]?.objectValue)
        var refs: [String] = []
        Self.collectRefs(document, into: &refs)
        let prefix = "#/components/schemas/"
        for ref in refs where ref.hasPrefix(prefix) {
            #expect(schemas[String(ref.dropFirst(prefix.count))] != nil, "\(ref) resolves")
        }
        #expect(refs.allSatisfy { $0.hasPrefix(prefix) || $0.hasPrefix("https://") })
        for method in try #require(document["methods"]?.arrayValue) {
            let name = method["name"]?.stringValue ?? "?"
            let result = try #require(method["result"]?["schema"])
            #expect(!Self.hasBareObject(result), "\(name): every object in the result has properties")
            for error in method["errors"]?.arrayValue ?? [] {
                #expect(error["x-dataSchema"]?["$ref"]?.stringValue?.hasPrefix(prefix + "ErrorData.") == true, "\(name): error data schema")
            }
        }
        for (name, schema) in schemas {
            #expect(!Self.hasBareObject(schema), "\(name) has properties")
        }
        for type in Daemon.eventTypes {
            #expect(schemas["Event." + type]?["properties"]?["type"]?["enum"] == [.string(type)], "Event.\(type)")
        }
        for roles: [DaemonConfiguration.Role] in [[.producer], [.consumer]] {
            let (_, other) = try await Self.discover(roles: roles)
            #expect(other == document, "rpc.discover with roles \(roles)")
        }
    }

    static func discover(roles: [DaemonConfiguration.Role]) async throws -> (Daemon, JSONValue) {
        let dir = try TempDir()
        var configuration = DaemonConfiguration()
        configuration.stateDirectory = dir.file("state")
        configuration.socketPath = dir.file("rpc.sock")
        configuration.roles = roles
        let daemon = try buildDaemon(configuration: configuration, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let connection = RPCConnection(id: 1, peer: nil, send: { _ in })
        let reply = await daemon.dispatcher.handle(
            message: ["jsonrpc": "2.0", "id": 1, "method": "rpc.discover"], connection: connection, hooks: ReplyHooks()
        )
        return (daemon, try #require(reply?["result"]))
    }

    static func collectRefs(_ value: JSONValue, into refs: inout [String]) {
        switch value {
        case .object(let object):
            if let ref = object["$ref"]?.stringValue { refs.append(ref) }
            for member in object.values { collectRefs(member, into: &refs) }
        case .array(let items):
            for item in items { collectRefs(item, into: &refs) }
        default:
            break
        }
    }

    /// An object schema that says nothing of its members (what `{"type":"object"}` alone says).
    static func hasBareObject(_ schema: JSONValue) -> Bool {
        guard let object = schema.objectValue else { return false }
        if object["type"] == "object", object["properties"] == nil { return true }
        if let properties = object["properties"]?.objectValue, properties.values.contains(where: hasBareObject) { return true }
        if let items = object["items"], hasBareObject(items) { return true }
        return (object["oneOf"]?.arrayValue ?? []).contains(where: hasBareObject)
    }
}
