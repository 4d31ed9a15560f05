import Synchronization

/// One `SQLiteConnection` shared by the threads that use a store: each use holds a mutex for its whole
/// duration, so a transaction and the statements inside it run without another thread's statements between
/// them. A use takes microseconds (the daemon runs them on its one event loop, where the mutex is never
/// contended); a commit's fsync is the longest hold.
///
/// Not reentrant: do not call `withConnection` from inside its body.
public final class SQLiteDatabase: Sendable {
    private let lock = Mutex(())
    // Touched only while `lock` is held.
    nonisolated(unsafe) private let connection: SQLiteConnection

    public var path: String { connection.path }

    public init(path: String, readOnly: Bool = false) throws {
        connection = try SQLiteConnection(path: path, readOnly: readOnly)
    }

    /// Runs `body` with the connection, holding the lock.
    public func withConnection<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        var result: Result<T, any Error>?
        lock.withLock { _ in result = Result { try body(connection) } }
        return try result!.get()
    }

    /// Closes the connection (see `SQLiteConnection.close`).
    public func close() throws {
        try withConnection { try $0.close() }
    }
}
