import WPWithinCore
import WPWithinDaemon
import WPWithinStore

/// `store.backend: "postgresql"`: opens the member's ``FleetStore`` from the daemon's configuration, with
/// the follower that copies the other members' events into this member's journal.
public enum FleetBackend {
    public static let provider = ProducerBackendProvider(name: "postgresql") { context in
        let configuration = context.configuration
        guard let connection = configuration.storePostgresConnection else {
            throw ConfigurationError(path: "configuration", key: "store.postgresql.connection", "is required with store.backend \"postgresql\"")
        }
        let settings = FleetStore.Settings(
            connection: connection, poolSize: configuration.storePostgresPoolSize,
            quotePolicy: QuotePolicy(ttl: .seconds(configuration.quoteTTLSeconds)))
        let store = try FleetStore.open(settings: settings, local: context.local, serverID: context.serverID, logger: context.logger)
        let follower = FleetJournalFollower(store: store, publish: context.publish, logger: context.logger)
        return ProducerBackendProvider.Opened(backend: store, services: [follower])
    }
}
