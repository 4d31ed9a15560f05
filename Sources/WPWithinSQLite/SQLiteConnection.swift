import CSQLite

/// One connection to an SQLite file over the system's libsqlite3: prepared statements cached by their SQL
/// and bound by index, columns read by index, errors with SQLite's extended result codes. No Foundation.
///
/// Not thread-safe on its own: share it through `SQLiteDatabase`, which serialises every use.
public final class SQLiteConnection {
    public let path: String
    private var handle: OpaquePointer?
    private var cache: [String: SQLiteStatement] = [:]

    /// Opens (creating when `readOnly` is false and the file is missing) the database at `path`, with
    /// extended result codes on. The connection does no locking of its own (`SQLITE_OPEN_NOMUTEX`).
    public init(path: String, readOnly: Bool = false) throws {
        self.path = path
        _ = Self.processConfigured
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) } ?? "cannot open"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(extendedCode: rc, message: message)
        }
        sqlite3_extended_result_codes(db, 1)
        handle = db
    }

    /// `wpw_sqlite_configure_process()`, once, before the first connection of the process opens.
    private static let processConfigured: Int32 = wpw_sqlite_configure_process()

    deinit {
        for statement in cache.values { statement.finalize() }
        if let handle { sqlite3_close_v2(handle) }
    }

    var db: OpaquePointer {
        get throws {
            guard let handle else { throw SQLiteError(extendedCode: SQLITE_MISUSE, message: "the database is closed") }
            return handle
        }
    }

    /// Finalises the cached statements and closes the file (SQLite checkpoints the WAL when the last
    /// connection closes). Later calls fail with SQLITE_MISUSE.
    public func close() throws {
        guard let handle else { return }
        for statement in cache.values { statement.finalize() }
        cache.removeAll()
        self.handle = nil
        let rc = sqlite3_close_v2(handle)
        guard rc == SQLITE_OK else { throw SQLiteError(extendedCode: rc, message: "close failed") }
    }

    /// Runs one or more statements that take no arguments and return no rows (schema scripts, pragmas).
    public func execute(_ sql: String) throws {
        let db = try self.db
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &message)
        guard rc == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(db))
            sqlite3_free(message)
            throw SQLiteError(extendedCode: sqlite3_extended_errcode(db), message: text)
        }
    }

    /// The prepared statement for `sql`, compiled on first use and kept for the life of the connection.
    /// For statements run often with constant SQL; use `prepare` for one-off SQL.
    public func statement(_ sql: String) throws -> SQLiteStatement {
        if let cached = cache[sql] { return cached }
        let statement = try prepare(sql)
        cache[sql] = statement
        return statement
    }

    /// A statement compiled now and not cached (finalised when released).
    public func prepare(_ sql: String) throws -> SQLiteStatement {
        let db = try self.db
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else {
            throw SQLiteError(extendedCode: sqlite3_extended_errcode(db), message: String(cString: sqlite3_errmsg(db)), sql: sql)
        }
        return SQLiteStatement(handle: stmt, connection: self)
    }

    // MARK: Conveniences over cached statements

    /// Runs `sql` (cached) with `arguments` to completion.
    public func run(_ sql: String, _ arguments: SQLiteArguments = []) throws {
        try statement(sql).run(arguments)
    }

    /// The first row of `sql` (cached) mapped by `map`, or nil when there is none.
    public func queryOne<T>(_ sql: String, _ arguments: SQLiteArguments = [], _ map: (SQLiteRow) throws -> T) throws -> T? {
        try statement(sql).queryOne(arguments, map)
    }

    /// Every row of `sql` (cached) mapped by `map`.
    public func query<T>(_ sql: String, _ arguments: SQLiteArguments = [], _ map: (SQLiteRow) throws -> T) throws -> [T] {
        try statement(sql).query(arguments, map)
    }

    /// The first column of the first row as an integer (nil when there is no row or it is NULL).
    public func integer(_ sql: String, _ arguments: SQLiteArguments = []) throws -> Int64? {
        try queryOne(sql, arguments) { $0.optionalInt64(0) } ?? nil
    }

    /// The first column of the first row as text (nil when there is no row or it is NULL).
    public func text(_ sql: String, _ arguments: SQLiteArguments = []) throws -> String? {
        try queryOne(sql, arguments) { $0.optionalText(0) } ?? nil
    }

    // MARK: State

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    public var changes: Int { handle.map { Int(sqlite3_changes64($0)) } ?? 0 }

    /// The rowid of the last successful INSERT.
    public var lastInsertRowID: Int64 { handle.map { sqlite3_last_insert_rowid($0) } ?? 0 }

    /// True between BEGIN and COMMIT/ROLLBACK (including after an error that did not end the transaction).
    public var isInTransaction: Bool { handle.map { sqlite3_get_autocommit($0) == 0 } ?? false }

    /// How long a statement waits for a lock held by another connection before SQLITE_BUSY.
    public func setBusyTimeout(milliseconds: Int32) throws {
        let rc = sqlite3_busy_timeout(try db, milliseconds)
        guard rc == SQLITE_OK else { throw SQLiteError(extendedCode: rc, message: "busy_timeout failed") }
    }

    func error(_ rc: Int32, sql: String?) -> SQLiteError {
        guard let handle else { return SQLiteError(extendedCode: rc, message: "the database is closed", sql: sql) }
        return SQLiteError(extendedCode: sqlite3_extended_errcode(handle), message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }
}

/// An error from libsqlite3.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    /// The extended result code (e.g. 2067, SQLITE_CONSTRAINT_UNIQUE).
    public let extendedCode: Int32
    /// SQLite's message (`sqlite3_errmsg`).
    public let message: String
    /// The statement that failed, when known (for logs; never bound values).
    public let sql: String?

    public init(extendedCode: Int32, message: String, sql: String? = nil) {
        self.extendedCode = extendedCode
        self.message = message
        self.sql = sql
    }

    /// The primary result code (e.g. 19, SQLITE_CONSTRAINT).
    public var code: Int32 { extendedCode & 0xff }
    /// The volume is full (SQLITE_FULL).
    public var isFull: Bool { code == SQLITE_FULL }

    public var description: String { "SQLite error \(extendedCode): \(message)" }
}
