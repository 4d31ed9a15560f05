#if canImport(Glibc)
import Glibc
#endif
import CLibPQ

/// One connection to PostgreSQL over the system's libpq: parameters bound as text (`$1`, `$2`, …), results
/// read as text by column index, errors with PostgreSQL's SQLSTATE. No Foundation.
///
/// Blocking, and not thread-safe on its own: a caller that must not block (an event loop) runs it on a
/// thread of its own. The connection string is libpq's (`service=wpwithind`, `host=/run/postgresql
/// dbname=wpw`, …); a password belongs in a 0600 password file (`passfile=`) or the service file, never in
/// the daemon's configuration.
public final class PGConnection {
    private var handle: OpaquePointer?

    /// Connects (blocking). Throws `PGError` with libpq's message (connection refused, authentication, …).
    public init(_ connectionString: String) throws {
        guard let conn = PQconnectdb(connectionString) else {
            throw PGError(sqlState: nil, message: "libpq could not allocate a connection")
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = Self.message(conn)
            PQfinish(conn)
            throw PGError(sqlState: "08001", message: message)
        }
        handle = conn
    }

    deinit { if let handle { PQfinish(handle) } }

    /// Closes the connection; later calls throw.
    public func close() {
        if let handle { PQfinish(handle) }
        handle = nil
    }

    /// Whether the server is still there (libpq's view after the last call).
    public var isOpen: Bool { handle.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// The server's version as an integer (150018 for 15.18).
    public var serverVersion: Int { handle.map { Int(PQserverVersion($0)) } ?? 0 }

    private var conn: OpaquePointer {
        get throws(PGError) {
            guard let handle else { throw PGError(sqlState: "08003", message: "the connection is closed") }
            return handle
        }
    }

    /// Statements prepared on this connection (SQL → name), so the server parses and plans each once.
    private var prepared: [String: String] = [:]
    /// A bound on `prepared`: statements built at run time beyond it are sent unprepared.
    static let maximumPrepared = 256

    /// Runs one statement with text parameters (nil is SQL NULL) and returns its rows. The statement is
    /// prepared on this connection the first time it is run (the transitions' statements are few and fixed,
    /// and parsing and planning each anew cost PostgreSQL more CPU than executing them).
    @discardableResult
    public func query(_ sql: String, _ parameters: [String?] = []) throws(PGError) -> PGRows {
        let conn = try self.conn
        var name = prepared[sql]
        if name == nil, prepared.count < Self.maximumPrepared {
            let candidate = "wpw\(prepared.count + 1)"
            _ = try PGRows(checking: PQprepare(conn, candidate, sql, Int32(parameters.count), nil), connection: conn)
            prepared[sql] = candidate
            name = candidate
        }
        let result: OpaquePointer? = Self.withCStrings(parameters) { values in
            if let name {
                PQexecPrepared(conn, name, Int32(parameters.count), values, nil, nil, 0)
            } else {
                PQexecParams(conn, sql, Int32(parameters.count), nil, values, nil, nil, 0)
            }
        }
        return try PGRows(checking: result, connection: conn)
    }

    /// Runs statements without parameters (several, separated by semicolons, are allowed).
    public func execute(_ sql: String) throws(PGError) {
        let conn = try self.conn
        _ = try PGRows(checking: PQexec(conn, sql), connection: conn)
    }

    /// Waits up to `timeoutMilliseconds` for notifications on the channels this connection `LISTEN`s to
    /// and returns their payloads (empty when none came in time). Blocking: on a thread of its own.
    public func waitForNotifications(timeoutMilliseconds: Int32) throws(PGError) -> [String] {
        let conn = try self.conn
        var payloads = Self.drainNotifications(conn)
        guard payloads.isEmpty else { return payloads }
        var descriptor = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
        guard descriptor.fd >= 0 else { throw PGError(sqlState: "08006", message: "the connection has no socket") }
        let ready = poll(&descriptor, 1, timeoutMilliseconds)
        guard ready > 0 else {
            if ready < 0 && errno != EINTR { throw PGError(sqlState: "08006", message: "poll failed (errno \(errno))") }
            return []
        }
        guard PQconsumeInput(conn) == 1 else { throw PGError(sqlState: "08006", message: Self.message(conn)) }
        payloads = Self.drainNotifications(conn)
        return payloads
    }

    private static func drainNotifications(_ conn: OpaquePointer) -> [String] {
        var payloads: [String] = []
        while let notification = PQnotifies(conn) {
            payloads.append(notification.pointee.extra.map { String(cString: $0) } ?? "")
            PQfreemem(notification)
        }
        return payloads
    }

    /// Runs `body` in a transaction (`BEGIN` at `isolation`, `COMMIT`); rolls back when it throws.
    public func transaction<T>(
        isolation: PGIsolation = .readCommitted, _ body: (PGConnection) throws -> T
    ) throws -> T {
        try execute("BEGIN ISOLATION LEVEL \(isolation.rawValue)")
        do {
            let value = try body(self)
            try execute("COMMIT")
            return value
        } catch {
            if isOpen { try? execute("ROLLBACK") }
            throw error
        }
    }

    static func message(_ conn: OpaquePointer) -> String {
        guard let text = PQerrorMessage(conn) else { return "unknown libpq error" }
        var message = String(cString: text)
        while message.last == "\n" || message.last == " " { message.removeLast() }
        return message
    }

    /// The parameters as C strings for the duration of `body` (nil stays NULL).
    private static func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0) } ?? nil }
        defer { for pointer in pointers { free(pointer) } }
        return pointers.withUnsafeMutableBufferPointer { buffer in
            body(buffer.map { $0.map { UnsafePointer($0) } })
        }
    }
}

/// Transaction isolation levels.
public enum PGIsolation: String, Sendable {
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}

/// The rows of one result, read as text by column index. Owns the libpq result.
public final class PGRows {
    private let result: OpaquePointer?
    /// Rows in the result (0 for a command).
    public let count: Int
    /// Rows a command changed (`UPDATE … ` → 1), from `PQcmdTuples`.
    public let affected: Int

    init(checking result: OpaquePointer?, connection: OpaquePointer) throws(PGError) {
        guard let result else { throw PGError(sqlState: nil, message: PGConnection.message(connection)) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            self.result = result
            count = Int(PQntuples(result))
            affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        default:
            let error = PGError(result: result, fallback: PGConnection.message(connection))
            PQclear(result)
            throw error
        }
    }

    deinit { if let result { PQclear(result) } }

    /// Column `column` of row `row` as text, nil for NULL.
    public func text(_ row: Int, _ column: Int) -> String? {
        guard let result, PQgetisnull(result, Int32(row), Int32(column)) == 0 else { return nil }
        return String(cString: PQgetvalue(result, Int32(row), Int32(column)))
    }

    /// Column `column` of row `row` as an integer, nil for NULL or a non-integer.
    public func int(_ row: Int, _ column: Int) -> Int64? { text(row, column).flatMap { Int64($0) } }
}

/// A PostgreSQL error: its SQLSTATE (`23505` unique violation, `40001` serialization failure, `08…`
/// connection) and message.
public struct PGError: Error, Sendable, Hashable, CustomStringConvertible {
    public let sqlState: String?
    public let message: String

    public init(sqlState: String?, message: String) {
        self.sqlState = sqlState
        self.message = message
    }

    init(result: OpaquePointer, fallback: String) {
        let field = { (code: Int32) -> String? in PQresultErrorField(result, code).map { String(cString: $0) } }
        sqlState = field(Int32(UInt8(ascii: "C")))  // PG_DIAG_SQLSTATE
        message = field(Int32(UInt8(ascii: "M"))) ?? fallback  // PG_DIAG_MESSAGE_PRIMARY
    }

    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// A transaction that lost a race under SERIALIZABLE or REPEATABLE READ (or a deadlock): try it again.
    public var isRetryable: Bool { sqlState == "40001" || sqlState == "40P01" }
    /// The server cannot be reached or the connection broke.
    public var isConnectionError: Bool { sqlState?.hasPrefix("08") ?? true }

    public var description: String { "PostgreSQL \(sqlState ?? "-----"): \(message)" }
}
