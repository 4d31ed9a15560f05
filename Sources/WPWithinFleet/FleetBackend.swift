import WPWithinCore
import WPWithinDaemon
import WPWithinStore

/// `store.backend: "postgresql"`: opens the member's ``FleetStore`` from the daemon's configuration.
public enum FleetBackend {
    public static let provider = ProducerBackendProvider(name: "postgresql") { context in
        let configuration = context.configuration
        guard let connection = configuration.storePostgresConnection else {
            throw ConfigurationError(path: "configuration", key: "store.postgresql.connection", "is required with store.backend \"postgresql\"")
        }
        let settings = FleetStore.Settings(
            connection: connection, poolSize: configuration.storePostgresPoolSize,
            quotePolicy: QuotePolicy(ttl: .seconds(configuration.quoteTTLSeconds)))
        return try FleetStore.open(settings: settings, local: context.local, serverID: context.serverID, logger: context.logger)
    }
}
