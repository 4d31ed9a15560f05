import Logging
import ServiceLifecycle
import WPWithinStore

/// A producer backend other than the Thing's own SQLite store, which a build of the daemon offers under a
/// `store.backend` name. `wpwithind` offers none (nothing of PostgreSQL is linked into it);
/// `wpwithind-fleet` offers `postgresql` (docs/fleet.md).
public struct ProducerBackendProvider: Sendable {
    /// What the producer backend needs from the daemon when it opens.
    public struct Context: Sendable {
        public let configuration: DaemonConfiguration
        /// This Thing's own store: its journal receives the events of the backend's transitions, so that
        /// subscribers and `resumeFrom` work as on a single Thing.
        public let local: Store
        /// This member's serverId.
        public let serverID: String
        /// Publishes events already in `local`'s journal to the daemon's subscribers (events that other
        /// processes committed, e.g. a fleet's other members).
        public let publish: @Sendable ([StoredEvent]) async -> Void
        public let logger: Logger
    }

    /// An opened backend, with the services it needs run for as long as the daemon runs.
    public struct Opened: Sendable {
        public let backend: any ProducerBackend
        public let services: [any ServiceLifecycle.Service]

        public init(backend: any ProducerBackend, services: [any ServiceLifecycle.Service] = []) {
            self.backend = backend
            self.services = services
        }
    }

    /// The `store.backend` value.
    public let name: String
    /// Opens the backend (blocking: called once at start-up). Throws when it cannot be opened.
    public let open: @Sendable (Context) throws -> Opened

    public init(name: String, open: @escaping @Sendable (Context) throws -> Opened) {
        self.name = name
        self.open = open
    }

    /// Throws when `configuration.storeBackend` names a backend this build does not have.
    public static func requireBuiltIn(_ providers: [ProducerBackendProvider], configuration: DaemonConfiguration) throws(ConfigurationError) {
        guard configuration.storeBackend != "sqlite", !providers.contains(where: { $0.name == configuration.storeBackend }) else { return }
        throw ConfigurationError(
            path: "configuration", key: "store.backend",
            "\"\(configuration.storeBackend)\" is not built into this daemon: run wpwithind-fleet for a fleet on PostgreSQL (docs/fleet.md)")
    }

    /// The producer's backend for `configuration.storeBackend`: `local` for `sqlite` (or a Thing that is not
    /// a producer), else a provider's.
    static func open(
        _ providers: [ProducerBackendProvider], configuration: DaemonConfiguration, local: Store, serverID: String,
        publish: @escaping @Sendable ([StoredEvent]) async -> Void, logger: Logger
    ) throws -> Opened {
        guard configuration.storeBackend != "sqlite", configuration.roles.contains(.producer) else { return Opened(backend: local) }
        try requireBuiltIn(providers, configuration: configuration)
        guard let provider = providers.first(where: { $0.name == configuration.storeBackend }) else { return Opened(backend: local) }
        return try provider.open(Context(configuration: configuration, local: local, serverID: serverID, publish: publish, logger: logger))
    }
}
