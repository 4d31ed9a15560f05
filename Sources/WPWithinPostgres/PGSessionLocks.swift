import Dispatch
import Synchronization

/// Session-level advisory locks on a connection of their own: a lock lives until it is unlocked or until
/// its holder's connection ends (the process died, the network broke), when the server releases it. That
/// makes them claims another process can take over from a dead holder, and only from a dead one.
///
/// The connection is used on a serial queue of its own (libpq blocks), so callers await and never block.
/// When it breaks, every lock it held is gone: ``tryLock(_:)`` reconnects for the next call and says so
/// through `onLocksLost`.
public final class PGSessionLocks: Sendable {
    private final class Slot: @unchecked Sendable {
        /// Touched only on `queue`.
        var connection: PGConnection?
    }

    public let connectionString: String
    private let queue = DispatchQueue(label: "wpwithin.postgres.locks")
    private let slot = Slot()
    private let held = Mutex<Set<Int64>>([])
    private let onLocksLost: @Sendable (Int) -> Void

    /// - Parameter onLocksLost: called (on the locks' queue) with the number of locks that were held when
    ///   their connection was found broken.
    public init(connectionString: String, onLocksLost: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.connectionString = connectionString
        self.onLocksLost = onLocksLost
    }

    /// Takes the lock `key` unless another session holds it. Throws `PGError` when the server cannot be
    /// reached (the caller must then treat the lock as not taken).
    public func tryLock(_ key: Int64) async throws -> Bool {
        let taken = try await run { db in
            try db.query("SELECT pg_try_advisory_lock($1::bigint)", [String(key)]).text(0, 0) == "t"
        }
        if taken { held.withLock { _ = $0.insert(key) } }
        return taken
    }

    /// Releases the lock `key` (nothing when it is not held, or its connection is gone: then it is too).
    public func unlock(_ key: Int64) async {
        guard held.withLock({ $0.remove(key) }) != nil else { return }
        _ = try? await run { db in _ = try db.query("SELECT pg_advisory_unlock($1::bigint)", [String(key)]) }
    }

    /// The locks this process believes it holds.
    public var heldCount: Int { held.withLock { $0.count } }

    /// Closes the connection, releasing every lock.
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async { [slot] in
                slot.connection?.close()
                slot.connection = nil
                continuation.resume()
            }
        }
        held.withLock { $0.removeAll() }
    }

    private func run<T: Sendable>(_ job: @escaping @Sendable (PGConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { [self] in
                continuation.resume(with: Result {
                    if let open = slot.connection, !open.isOpen {
                        dropConnection()
                    }
                    let connection: PGConnection
                    if let open = slot.connection {
                        connection = open
                    } else {
                        connection = try PGConnection(connectionString)
                        slot.connection = connection
                    }
                    do {
                        return try job(connection)
                    } catch let error as PGError where error.isConnectionError {
                        dropConnection()
                        throw error
                    }
                })
            }
        }
    }

    /// On the queue: the connection is gone, and with it every lock it held.
    private func dropConnection() {
        slot.connection?.close()
        slot.connection = nil
        let lost = held.withLock { held in
            defer { held.removeAll() }
            return held.count
        }
        if lost > 0 { onLocksLost(lost) }
    }

    /// A stable 64-bit lock key for a name (FNV-1a over its UTF-8 bytes), in a namespace: the same name
    /// gives the same key in every process, on every build.
    public static func key(_ namespace: String, _ name: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in namespace.utf8 + [0] + name.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }
}
