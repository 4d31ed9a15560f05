import CSQLite

/// A prepared statement. Arguments are bound by index (1-based, in the order of the `?`s); each run resets
/// it first, so a cached statement is reused call after call.
public final class SQLiteStatement {
    private var handle: OpaquePointer?
    public let sql: String

    init(handle: OpaquePointer, connection: SQLiteConnection) {
        self.handle = handle
        self.sql = String(cString: sqlite3_sql(handle))
    }

    deinit { finalize() }

    func finalize() {
        if let handle { sqlite3_finalize(handle) }
        handle = nil
    }

    private var stmt: OpaquePointer {
        get throws {
            guard let handle else { throw SQLiteError(extendedCode: SQLITE_MISUSE, message: "statement finalised", sql: sql) }
            return handle
        }
    }

    private func failure(_ stmt: OpaquePointer, _ rc: Int32) -> SQLiteError {
        let db = sqlite3_db_handle(stmt)
        return SQLiteError(
            extendedCode: db.map { sqlite3_extended_errcode($0) } ?? rc,
            message: db.map { String(cString: sqlite3_errmsg($0)) } ?? "error \(rc)", sql: sql)
    }

    /// Resets the statement and binds `arguments` to its parameters 1…n.
    private func prepareRun(_ arguments: SQLiteArguments) throws -> OpaquePointer {
        let stmt = try self.stmt
        sqlite3_reset(stmt)
        let count = Int(sqlite3_bind_parameter_count(stmt))
        guard arguments.values.count == count else {
            throw SQLiteError(
                extendedCode: SQLITE_RANGE, message: "\(arguments.values.count) arguments for \(count) parameters", sql: sql)
        }
        for (offset, value) in arguments.values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(stmt, index)
            case .integer(let v): rc = sqlite3_bind_int64(stmt, index, v)
            case .real(let v): rc = sqlite3_bind_double(stmt, index, v)
            case .text(var v):
                // With the byte count (a NUL inside the text is kept); "" stays text, never NULL.
                rc = v.withUTF8 { bytes in
                    guard let base = bytes.baseAddress, bytes.count > 0 else {
                        return sqlite3_bind_text(stmt, index, "", 0, wpw_sqlite_transient())
                    }
                    return sqlite3_bind_text(
                        stmt, index, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self), Int32(bytes.count),
                        wpw_sqlite_transient())
                }
            case .blob(let v):
                rc = v.withUnsafeBytes { bytes in
                    guard let base = bytes.baseAddress, bytes.count > 0 else { return sqlite3_bind_zeroblob(stmt, index, 0) }
                    return sqlite3_bind_blob(stmt, index, base, Int32(bytes.count), wpw_sqlite_transient())
                }
            }
            guard rc == SQLITE_OK else { throw failure(stmt, rc) }
        }
        return stmt
    }

    /// Runs the statement to completion with `arguments` (rows it returns are skipped).
    public func run(_ arguments: SQLiteArguments = []) throws {
        let stmt = try prepareRun(arguments)
        defer { sqlite3_reset(stmt) }
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw failure(stmt, rc) }
        }
    }

    /// Maps every row with `map` (the row is valid only inside the call).
    public func query<T>(_ arguments: SQLiteArguments = [], _ map: (SQLiteRow) throws -> T) throws -> [T] {
        let stmt = try prepareRun(arguments)
        defer { sqlite3_reset(stmt) }
        var out: [T] = []
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { return out }
            guard rc == SQLITE_ROW else { throw failure(stmt, rc) }
            out.append(try map(SQLiteRow(stmt: stmt)))
        }
    }

    /// Maps the first row with `map`; nil when there is none.
    public func queryOne<T>(_ arguments: SQLiteArguments = [], _ map: (SQLiteRow) throws -> T) throws -> T? {
        let stmt = try prepareRun(arguments)
        defer { sqlite3_reset(stmt) }
        let rc = sqlite3_step(stmt)
        if rc == SQLITE_DONE { return nil }
        guard rc == SQLITE_ROW else { throw failure(stmt, rc) }
        return try map(SQLiteRow(stmt: stmt))
    }
}

/// The current row of a statement, read by column index (0-based, in the order of the SELECT list).
/// Valid only inside the closure it is passed to.
public struct SQLiteRow {
    let stmt: OpaquePointer

    public var columnCount: Int32 { sqlite3_column_count(stmt) }
    public func columnName(_ index: Int32) -> String { String(cString: sqlite3_column_name(stmt, index)) }
    public func isNull(_ index: Int32) -> Bool { sqlite3_column_type(stmt, index) == SQLITE_NULL }

    public func int64(_ index: Int32) -> Int64 { sqlite3_column_int64(stmt, index) }
    public func int(_ index: Int32) -> Int { Int(sqlite3_column_int64(stmt, index)) }
    public func bool(_ index: Int32) -> Bool { sqlite3_column_int64(stmt, index) != 0 }
    public func double(_ index: Int32) -> Double { sqlite3_column_double(stmt, index) }

    /// The column as UTF-8 text ("" for NULL).
    public func text(_ index: Int32) -> String {
        guard let bytes = sqlite3_column_text(stmt, index) else { return "" }
        let count = Int(sqlite3_column_bytes(stmt, index))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    /// The column's bytes (empty for NULL).
    public func blob(_ index: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(stmt, index))
        guard count > 0, let bytes = sqlite3_column_blob(stmt, index) else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: bytes, count: count))
    }

    public func optionalInt64(_ index: Int32) -> Int64? { isNull(index) ? nil : int64(index) }
    public func optionalInt(_ index: Int32) -> Int? { isNull(index) ? nil : int(index) }
    public func optionalText(_ index: Int32) -> String? { isNull(index) ? nil : text(index) }

    /// The column as a value of its stored type.
    public func value(_ index: Int32) -> SQLiteValue {
        switch sqlite3_column_type(stmt, index) {
        case SQLITE_INTEGER: return .integer(int64(index))
        case SQLITE_FLOAT: return .real(double(index))
        case SQLITE_TEXT: return .text(text(index))
        case SQLITE_BLOB: return .blob(blob(index))
        default: return .null
        }
    }
}

/// A value bound to a parameter or read from a column.
public enum SQLiteValue: Sendable, Hashable, CustomStringConvertible {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    public var description: String {
        switch self {
        case .null: return "NULL"
        case .integer(let v): return String(v)
        case .real(let v): return String(v)
        case .text(let v): return "'" + v + "'"
        case .blob(let v): return "x'" + v.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() + "'"
        }
    }
}

/// A Swift value that binds as an SQLite value.
public protocol SQLiteValueConvertible {
    var sqliteValue: SQLiteValue { get }
}

extension Int: SQLiteValueConvertible { public var sqliteValue: SQLiteValue { .integer(Int64(self)) } }
extension Int64: SQLiteValueConvertible { public var sqliteValue: SQLiteValue { .integer(self) } }
extension Int32: SQLiteValueConvertible { public var sqliteValue: SQLiteValue { .integer(Int64(self)) } }
extension Bool: SQLiteValueConvertible { public var sqliteValue: SQLiteValue { .integer(self ? 1 : 0) } }
extension Double: SQLiteValueConvertible { public var sqliteValue: SQLiteValue { .real(self) } }
extension String: SQLiteValueConvertible { public var sqliteValue: SQLiteValue { .text(self) } }
extension Substring: SQLiteValueConvertible { public var sqliteValue: SQLiteValue { .text(String(self)) } }
extension Array: SQLiteValueConvertible where Element == UInt8 { public var sqliteValue: SQLiteValue { .blob(self) } }
extension SQLiteValue: SQLiteValueConvertible { public var sqliteValue: SQLiteValue { self } }

/// The arguments of one run, in parameter order: `[id, name, nil, stock]`.
public struct SQLiteArguments: ExpressibleByArrayLiteral {
    public var values: [SQLiteValue]

    public init(_ values: [SQLiteValue]) { self.values = values }

    public init(arrayLiteral elements: (any SQLiteValueConvertible)?...) {
        values = elements.map { $0?.sqliteValue ?? .null }
    }
}
