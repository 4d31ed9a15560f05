#if canImport(Glibc)
import Glibc
#endif
import WPWithinCore
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
        connections: @escaping @Sendable () -> Int
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
                summary: "The daemon's health: version, uptime, open connections, socket path, state directory, readiness.",
                result: "status",
                Schema.object([
                    "version": Schema.string, "uptimeSeconds": Schema.number, "connections": Schema.integer,
                    "socketPath": Schema.string, "stateDir": Schema.string, "ready": Schema.boolean,
                    "roles": Schema.array(of: Schema.string), "pid": Schema.integer,
                    "payments": Schema.object([
                        "gatewayEndpoint": Schema.string, "card": ["type": ["string", "null"]], "merchantClientKey": ["type": ["string", "null"]],
                    ]),
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
                    ]
                }
            ),
        ]
    }
}
