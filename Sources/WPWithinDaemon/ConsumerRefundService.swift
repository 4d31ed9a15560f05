import Logging
import ServiceLifecycle
import WPWithinCore

/// The consumer's refund sweep (docs/payments.md, "Refunds of undelivered units"): every `interval`, asks
/// the producers of purchases whose token expired with units unused (or whose refund is pending) for their
/// refund, and records it (`ConsumerEngine.checkRefunds`).
struct ConsumerRefundService: ServiceLifecycle.Service, CustomStringConvertible {
    var description: String { "ConsumerRefundService" }

    let engine: ConsumerEngine
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                _ = try await engine.checkRefunds()
            } catch {
                logger.warning("Refund check failed", metadata: [LogKey.error: "\(error)"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                break
            }
        }
    }
}
