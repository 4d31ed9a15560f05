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
        metrics: DaemonMetrics,
        consumer: (@Sendable () async -> JSONValue)? = nil
    ) -> [RPCMethod] {
        [
            RPCMethod(
                "getDevice",
                summary: "This Thing's identity: serverId (lowercase UUID), name, description, version and roles.",
                result: "device", Schema.ref("Device"),
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
                summary: "The daemon's status and health: version, uptime, open connections, socket path, state directory, readiness; health of the store, the gateway (as last seen) and discovery; the consumer's spending budgets left.",
                result: "status", Schema.ref("Status"),
                handler: { _, _ in
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
                        // The consumer's spending budgets and what they have left (null: not a consumer).
                        "consumer": await consumer?() ?? .null,
                    ]
                }
            ),
            RPCMethod(
                "getMetrics",
                summary: "The daemon's metrics in Prometheus text exposition format 0.0.4 (the same text as the metrics.listen endpoint).",
                result: "metrics", Schema.ref("Metrics"),
                synchronous: { _, _ in
                    ["contentType": .string(MetricsListener.contentType), "text": .string(metrics.registry.exposition())]
                }
            ),
        ]
    }
}
