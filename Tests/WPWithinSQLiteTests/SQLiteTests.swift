import Foundation
import Testing
import WPWithinSQLite

/// The thin layer over libsqlite3, against real database files.
@Suite("SQLite layer") struct SQLiteTests {
    static func temporaryPath() -> String {
        NSTemporaryDirectory() + "wpw-sqlite-" + UUID().uuidString.lowercased() + ".sqlite"
    }

    static func withDatabase(_ body: (SQLiteConnection) throws -> Void) throws {
        let path = temporaryPath()
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let db = try SQLiteConnection(path: path)
        defer { try? db.close() }
        try body(db)
    }

    @Test func valuesRoundTripWithTheirTypes() throws {
        try Self.withDatabase { db in
            try db.execute("CREATE TABLE t (i INTEGER, s TEXT, b BLOB, r REAL, n TEXT) STRICT")
            let text = "caf\u{E9} \u{0}nul"
            try db.run("INSERT INTO t VALUES (?, ?, ?, ?, ?)", [Int64.min, text, [UInt8]([0, 1, 255]), 2.5, nil])
            try db.run("INSERT INTO t VALUES (?, ?, ?, ?, ?)", [Int64.max, "", [UInt8](), -0.5, "x"])
            let rows = try db.query("SELECT i, s, b, r, n, typeof(s), typeof(b), typeof(n) FROM t ORDER BY rowid") { row in
                [row.value(0), row.value(1), row.value(2), row.value(3), row.value(4), row.value(5), row.value(6), row.value(7)]
            }
            #expect(rows[0] == [.integer(.min), .text(text), .blob([0, 1, 255]), .real(2.5), .null, .text("text"), .text("blob"), .text("null")])
            // "" stays text and an empty blob stays a blob: neither becomes NULL.
            #expect(rows[1] == [.integer(.max), .text(""), .blob([]), .real(-0.5), .text("x"), .text("text"), .text("blob"), .text("text")])
            #expect(try db.queryOne("SELECT length(CAST(s AS BLOB)) FROM t WHERE rowid = 1") { $0.int(0) } == text.utf8.count)
            #expect(try db.queryOne("SELECT n FROM t WHERE rowid = 1") { $0.optionalText(0) } == .some(nil))
            #expect(try db.queryOne("SELECT i FROM t WHERE rowid = 99") { $0.int(0) } == nil)
        }
    }

    @Test func errorsCarryTheExtendedCodeAndChangeNothing() throws {
        try Self.withDatabase { db in
            try db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL CHECK (v >= 0)) STRICT")
            try db.run("INSERT INTO t VALUES (?, ?)", ["a", 1])
            let unique = #expect(throws: SQLiteError.self) { try db.run("INSERT INTO t VALUES (?, ?)", ["a", 2]) }
            #expect(unique?.extendedCode == 1555)  // SQLITE_CONSTRAINT_PRIMARYKEY
            #expect(unique?.code == 19)
            let check = #expect(throws: SQLiteError.self) { try db.run("INSERT INTO t VALUES (?, ?)", ["b", -1]) }
            #expect(check?.extendedCode == 275)  // SQLITE_CONSTRAINT_CHECK
            let arity = #expect(throws: SQLiteError.self) { try db.run("INSERT INTO t VALUES (?, ?)", ["c"]) }
            #expect(arity?.code == 25)  // SQLITE_RANGE
            let syntax = #expect(throws: SQLiteError.self) { try db.run("INSERT INTO nowhere VALUES (1)") }
            #expect(syntax?.message.contains("no such table") == true)
            #expect(try db.integer("SELECT COUNT(*) FROM t") == 1)
            // A statement that failed is usable again.
            try db.run("INSERT INTO t VALUES (?, ?)", ["b", 2])
            #expect(try db.integer("SELECT COUNT(*) FROM t") == 2)
        }
    }

    @Test func statementsAreCachedAndReset() throws {
        try Self.withDatabase { db in
            try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
            let first = try db.statement("INSERT INTO t (v) VALUES (?)")
            #expect(try db.statement("INSERT INTO t (v) VALUES (?)") === first)
            for i in 0..<100 { try first.run(["v\(i)"]) }
            #expect(db.lastInsertRowID == 100)
            try db.run("UPDATE t SET v = 'x' WHERE id <= ?", [10])
            #expect(db.changes == 10)
            // A query left after its first row does not hold the read open (the statement is reset).
            #expect(try db.queryOne("SELECT v FROM t ORDER BY id") { $0.text(0) } == "x")
            try db.execute("BEGIN IMMEDIATE")
            #expect(db.isInTransaction)
            try db.execute("COMMIT")
            #expect(!db.isInTransaction)
        }
    }

    @Test func aClosedConnectionFailsCleanly() throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let db = try SQLiteConnection(path: path)
        let statement = try db.statement("SELECT 1")
        try db.close()
        try db.close()  // twice is fine
        #expect(throws: SQLiteError.self) { try db.run("SELECT 1") }
        #expect(throws: SQLiteError.self) { try statement.run() }
        #expect(throws: SQLiteError.self) { try SQLiteConnection(path: path + ".missing", readOnly: true) }
    }

    @Test func aReadOnlyConnectionCannotWrite() throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try SQLiteConnection(path: path)
        try writer.execute("CREATE TABLE t (v INTEGER)")
        let reader = try SQLiteConnection(path: path, readOnly: true)
        let refused = #expect(throws: SQLiteError.self) { try reader.run("INSERT INTO t VALUES (1)") }
        #expect(refused?.code == 8)  // SQLITE_READONLY
        try reader.close()
        try writer.close()
    }

    @Test func oneDatabaseSharedByManyThreadsKeepsEachTransactionWhole() async throws {
        let path = Self.temporaryPath()
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let database = try SQLiteDatabase(path: path)
        try database.withConnection { db in
            _ = try db.text("PRAGMA journal_mode = WAL")
            try db.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counter VALUES (1, 0)")
        }
        // Read-modify-write transactions from 8 threads at once: with the connection held for each whole
        // transaction, no increment is lost and no BEGIN meets another's open transaction.
        let failures = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    await withCheckedContinuation { (done: CheckedContinuation<[String], Never>) in
                        Thread.detachNewThread {
                            var failures: [String] = []
                            for _ in 0..<200 {
                                do {
                                    try database.withConnection { db in
                                        try db.run("BEGIN IMMEDIATE TRANSACTION")
                                        let n = try db.integer("SELECT n FROM counter WHERE id = 1") ?? -1
                                        try db.run("UPDATE counter SET n = ? WHERE id = 1", [n + 1])
                                        try db.run("COMMIT TRANSACTION")
                                    }
                                } catch {
                                    failures.append("\(error)")
                                }
                            }
                            done.resume(returning: failures)
                        }
                    }
                }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(failures.isEmpty, "\(failures.prefix(3))")
        #expect(try database.withConnection { try $0.integer("SELECT n FROM counter") } == 1600)
        try database.close()
    }
}
