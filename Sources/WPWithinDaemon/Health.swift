import ServiceLifecycle
import Synchronization
import WPWithinCore
import WPWithinStore

/// What `getStatus.health` reports besides the store: the gateway's reachability as last seen, and whether
/// the discovery services run. Written by the gateway wrapper and the tracked services, read by getStatus.
final class HealthState: Sendable {
    private struct State {
        var gatewayReachable: Bool?
        var gatewaySeenAt: ContinuousClock.Instant?
        var running: [String: Bool] = [:]
    }

    private let state = Mutex(State())

    /// A gateway call ended: `reachable` unless it found no gateway (no connection, a timeout, a 5xx).
    func gatewayAnswered(_ reachable: Bool) {
        state.withLock {
            $0.gatewayReachable = reachable
            $0.gatewaySeenAt = .now
        }
    }

    /// A tracked service started (true) or ended (false).
    func setRunning(_ name: String, _ running: Bool) {
        state.withLock { $0.running[name] = running }
    }

    /// The `health` object of `getStatus`.
    ///
    /// * `store`: `writable` (the latest commit did not fail and there is room for new money), `freeBytes`;
    /// * `gateway`: `reachable` as the latest call found it (null until a call was made: the daemon does not
    ///   probe the gateway by itself), `secondsSinceLastCall`;
    /// * `discovery`: whether the `broadcaster` (producer) and `scanner` (consumer) services run (null for a role
    ///   this Thing does not run); whether the producer is broadcasting now is the app's choice
    ///   (`startServiceBroadcast`), not health;
    /// * `producerStore` (producer only): the backend of the producer's money and units (`sqlite`, or
    ///   `postgresql` for a fleet), whether it can record a new payment now, and why not;
    /// * `ok`: the store writable, the producer's backend writable, the gateway not known to be unreachable,
    ///   and discovery running where enabled.
    func json(store: Store, producerStore: (any ProducerBackend)?, producer: Bool, consumer: Bool) -> JSONValue {
        let (gatewayReachable, seenAt, running) = state.withLock { ($0.gatewayReachable, $0.gatewaySeenAt, $0.running) }
        let storeHealth = store.health()
        let producerHealth = producerStore?.producerHealth()
        let broadcasting: Bool? = producer ? running[Self.broadcaster] ?? false : nil
        let scanning: Bool? = consumer ? running[Self.scanner] ?? false : nil
        let ok = storeHealth.writable && producerHealth?.writable != false && gatewayReachable != false && broadcasting != false && scanning != false
        var gateway: [String: JSONValue] = ["reachable": gatewayReachable.map(JSONValue.bool) ?? .null]
        if let seenAt {
            let elapsed = (ContinuousClock.now - seenAt).components
            gateway["secondsSinceLastCall"] = .double((Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18).rounded())
        } else {
            gateway["secondsSinceLastCall"] = .null
        }
        return [
            "ok": .bool(ok),
            "store": [
                "writable": .bool(storeHealth.writable),
                "freeBytes": storeHealth.freeBytes.map { .int(Int64($0)) } ?? .null,
                "lastCommitFailed": .bool(storeHealth.lastCommitFailed),
            ],
            "producerStore": producerHealth.map { health -> JSONValue in
                [
                    "backend": .string(health.backend), "writable": .bool(health.writable),
                    "reason": health.reason.map(JSONValue.string) ?? .null,
                ]
            } ?? .null,
            "gateway": .object(gateway),
            "discovery": [
                "broadcaster": broadcasting.map(JSONValue.bool) ?? .null,
                "scanner": scanning.map(JSONValue.bool) ?? .null,
            ],
        ]
    }

    static let broadcaster = "broadcaster"
    static let scanner = "scanner"
}

/// Runs a service and records in ``HealthState`` whether it is running.
struct TrackedService: ServiceLifecycle.Service, CustomStringConvertible {
    let name: String
    let inner: any ServiceLifecycle.Service
    let health: HealthState

    var description: String { "\(inner)" }

    func run() async throws {
        health.setRunning(name, true)
        defer { health.setRunning(name, false) }
        try await inner.run()
    }
}
