#if canImport(Glibc)
import Glibc
#endif
import WPWithinCore
import WPWithinMetrics
import WPWithinRPC

/// The daemon's own methods: `getDevice`, `getStatus`.
enum DaemonMethods {
    static func make(
        identity: DeviceIdentity,
        settings: LiveSettings,
        readiness: Readiness,
        payments: PaymentsContext,
        startedAt: ContinuousClock.Instant,
        servingSocketPath: String,
        connections: @escaping @Sendable () -> Int,
        health: @escaping @Sendable () -> JSONValue,
        metrics: DaemonMetrics
    ) -> [RPCMethod] {
        [
            RPCMethod(
                "getDevice",
                summary: "This Thing's identity: serverId (lowercase UUID), name, description, version and roles.",
                result: "device",
                Schema.object([
                    "serverId": Schema.string, "name": Schema.string, "description": Schema.string,
                    "version": Schema.string, "roles": Schema.array(of: Schema.string),
                ], required: ["serverId", "name", "description", "version", "roles"]),
                synchronous: { _, _ in
                    let device = settings.device
                    return [
                        "serverId": .string(identity.serverId),
                        "name": .string(device.name),
                        "description": .string(device.description),
                        "version": .string(WPWithinVersion.current),
                        "roles": device.roles,
                    ]
                }
            ),
            RPCMethod(
                "getStatus",
                summary: "The daemon's status and health: version, uptime, open connections, socket path, state directory, readiness; health of the store, the gateway (as last seen) and discovery.",
                result: "status",
                Schema.object([
                    "version": Schema.string, "uptimeSeconds": Schema.number, "connections": Schema.integer,
                    "socketPath": Schema.string, "stateDir": Schema.string, "ready": Schema.boolean,
                    "roles": Schema.array(of: Schema.string), "pid": Schema.integer,
                    "payments": Schema.object([
                        "gatewayEndpoint": Schema.string, "card": ["type": ["string", "null"]], "merchantClientKey": ["type": ["string", "null"]],
                    ]),
                    "metricsURL": ["type": ["string", "null"]],
                    "health": Schema.object([
                        "ok": Schema.boolean,
                        "store": Schema.object([
                            "writable": Schema.boolean, "freeBytes": ["type": ["integer", "null"]], "lastCommitFailed": Schema.boolean,
                        ], required: ["writable", "freeBytes", "lastCommitFailed"]),
                        "gateway": Schema.object([
                            "reachable": ["type": ["boolean", "null"]], "secondsSinceLastCall": ["type": ["number", "null"]],
                        ], required: ["reachable", "secondsSinceLastCall"]),
                        "discovery": Schema.object([
                            "broadcaster": ["type": ["boolean", "null"]], "scanner": ["type": ["boolean", "null"]],
                        ], required: ["broadcaster", "scanner"]),
                    ], required: ["ok", "store", "gateway", "discovery"]),
                ]),
                synchronous: { _, _ in
                    let current = settings.current
                    let uptime = ContinuousClock.now - startedAt
                    let seconds = Double(uptime.components.seconds) + Double(uptime.components.attoseconds) / 1e18
                    return [
                        "version": .string(WPWithinVersion.current),
                        "uptimeSeconds": .double((seconds * 1000).rounded() / 1000),
                        "connections": .int(Int64(connections())),
                        // The socket being served (the one systemd passed, under socket activation).
                        "socketPath": .string(servingSocketPath),
                        "stateDir": .string(current.stateDirectory),
                        "ready": .bool(readiness.isReady),
                        "roles": .array(current.roles.map { .string($0.rawValue) }),
                        "pid": .int(Int64(getpid())),
                        "payments": payments.status,
                        "health": health(),
                        // The Prometheus endpoint when `metrics.listen` is set and bound.
                        "metricsURL": metrics.metricsURL.map(JSONValue.string) ?? .null,
                    ]
                }
            ),
            RPCMethod(
                "getMetrics",
                summary: "The daemon's metrics in Prometheus text exposition format 0.0.4 (the same text as the metrics.listen endpoint).",
                result: "metrics",
                Schema.object(["contentType": Schema.string, "text": Schema.string], required: ["contentType", "text"]),
                synchronous: { _, _ in
                    ["contentType": .string(MetricsListener.contentType), "text": .string(metrics.registry.exposition())]
                }
            ),
        ]
    }
}
