import Logging
import ServiceLifecycle
import WPWithinCore
import WPWithinStore

/// Removes quotes that can no longer become money (`Store.pruneStaleQuotes`): once shortly after start,
/// then every `interval`. Without it every `selectService` that was never paid would stay in the database
/// for good.
struct StoreHousekeepingService: ServiceLifecycle.Service, CustomStringConvertible {
    var description: String { "StoreHousekeepingService" }

    static let defaultInterval: Duration = .seconds(600)

    let store: Store
    /// The producer's store when it is shared (a fleet's): its expired quotes are pruned there too.
    var producerBackend: (any ProducerBackend)? = nil
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let pruned = try await store.pruneStaleQuotes(now: nowInstant())
                if pruned.producerQuotes + pruned.consumerQuotes > 0 {
                    logger.info("Stale quotes pruned", metadata: [
                        LogKey.prunedProducerQuotes: "\(pruned.producerQuotes)", LogKey.prunedConsumerQuotes: "\(pruned.consumerQuotes)",
                    ])
                }
                if let shared = try await producerBackend?.pruneShared(now: nowInstant()), shared > 0 {
                    logger.info("Stale quotes and journal rows pruned in the shared store", metadata: [LogKey.prunedProducerQuotes: "\(shared)"])
                }
            } catch {
                // Housekeeping only: the next pass tries again.
                logger.warning("Pruning stale quotes failed", metadata: [LogKey.error: "\(error)"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                break
            }
        }
    }
}
