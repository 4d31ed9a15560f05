import Dispatch
import Synchronization

/// A few PostgreSQL connections, each used on a thread of its own, behind an async API: a caller on an
/// event loop awaits a job and never blocks on libpq.
///
/// Each job runs whole on one connection (a transaction is a job). A connection that broke (the server
/// restarted, the network dropped) is opened again for the next job; the job that found it broken gets the
/// connection error, never a silent retry (it may have committed: the caller decides, from the database,
/// what happened).
public final class PGPool: Sendable {
    private struct Worker: Sendable {
        let queue: DispatchQueue
        let slot: ConnectionSlot
    }

    /// The connection of one worker, touched only on that worker's queue.
    private final class ConnectionSlot: @unchecked Sendable {
        var connection: PGConnection?
    }

    public let connectionString: String
    private let workers: [Worker]
    private let state = Mutex<(next: Int, busy: [Int])>((0, []))

    /// - Parameter size: connections (and threads) at most; each is opened at its first job.
    public init(connectionString: String, size: Int = 2) {
        self.connectionString = connectionString
        let count = max(1, size)
        workers = (0..<count).map { Worker(queue: DispatchQueue(label: "wpwithin.postgres.\($0)"), slot: ConnectionSlot()) }
        state.withLock { $0.busy = Array(repeating: 0, count: count) }
    }

    /// Runs `job` on a connection of the pool (the least busy worker's) and returns its result.
    public func run<T: Sendable>(_ job: @escaping @Sendable (PGConnection) throws -> T) async throws -> T {
        let index = state.withLock { state -> Int in
            let least = state.busy.indices.min { state.busy[$0] < state.busy[$1] } ?? 0
            state.busy[least] += 1
            return least
        }
        defer { state.withLock { $0.busy[index] -= 1 } }
        let worker = workers[index]
        let connectionString = self.connectionString
        return try await withCheckedThrowingContinuation { continuation in
            worker.queue.async {
                continuation.resume(with: Result {
                    let connection: PGConnection
                    if let open = worker.slot.connection, open.isOpen {
                        connection = open
                    } else {
                        worker.slot.connection?.close()
                        worker.slot.connection = nil
                        connection = try PGConnection(connectionString)
                        worker.slot.connection = connection
                    }
                    do {
                        return try job(connection)
                    } catch let error as PGError where error.isConnectionError {
                        worker.slot.connection?.close()
                        worker.slot.connection = nil
                        throw error
                    }
                })
            }
        }
    }

    /// Closes every connection (after the jobs already queued).
    public func close() async {
        for worker in workers {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                worker.queue.async {
                    worker.slot.connection?.close()
                    worker.slot.connection = nil
                    continuation.resume()
                }
            }
        }
    }
}
