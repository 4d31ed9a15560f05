import Foundation
import Testing
import WPWithinPostgres
import WPWithinTestSupport

/// The libpq layer against a real PostgreSQL server (a throwaway cluster on a Unix socket in a temporary
/// directory), and the database guarantees a fleet of producers will stand on: a conditional update never
/// oversells, a unique payment reference admits one writer, an advisory lock has one holder and is released
/// when its holder's connection dies, and an outage is an error the caller can see and recover from.
@Suite struct PGConnectionTests {
    static func withServer(_ body: @escaping @Sendable (PostgresServer) throws -> Void) async throws {
        let server = try await onOwnThread { try PostgresServer() }
        do {
            try await onOwnThread { try body(server) }
        } catch {
            await server.shutDown()
            throw error
        }
        await server.shutDown()
    }

    @Test func parametersRowsAndNulls() async throws {
        try await Self.withServer { server in
            let db = try PGConnection(server.connectionString)
            #expect(db.serverVersion >= 130000)
            try db.execute("CREATE TABLE t (id bigint PRIMARY KEY, name text, amount bigint)")
            let inserted = try db.query("INSERT INTO t VALUES ($1, $2, $3), ($4, $5, $6)", ["1", "wash", "500", "2", nil, nil])
            #expect(inserted.affected == 2)
            let rows = try db.query("SELECT id, name, amount FROM t WHERE id >= $1 ORDER BY id", ["1"])
            #expect(rows.count == 2)
            #expect(rows.int(0, 0) == 1 && rows.text(0, 1) == "wash" && rows.int(0, 2) == 500)
            #expect(rows.text(1, 1) == nil && rows.int(1, 2) == nil)
            // Text with quotes and non-ASCII goes through parameters unchanged (no SQL is built from it).
            let odd = "O'Brien; DROP TABLE t; -- ✓"
            try db.query("UPDATE t SET name = $1 WHERE id = 2", [odd])
            #expect(try db.query("SELECT name FROM t WHERE id = 2").text(0, 0) == odd)
        }
    }

    @Test func errorsCarryTheirSQLStateAndRollBack() async throws {
        try await Self.withServer { server in
            let db = try PGConnection(server.connectionString)
            try db.execute("CREATE TABLE payment (reference text PRIMARY KEY)")
            try db.query("INSERT INTO payment VALUES ($1)", ["ref-1"])
            let duplicate = #expect(throws: PGError.self) { try db.query("INSERT INTO payment VALUES ($1)", ["ref-1"]) }
            #expect(duplicate?.isUniqueViolation == true)
            let syntax = #expect(throws: PGError.self) { try db.query("SELEC 1") }
            #expect(syntax?.sqlState == "42601")
            // A transaction whose body throws leaves nothing behind.
            #expect(throws: PGError.self) {
                try db.transaction { db in
                    try db.query("INSERT INTO payment VALUES ($1)", ["ref-2"])
                    try db.query("INSERT INTO payment VALUES ($1)", ["ref-1"])
                }
            }
            #expect(try db.query("SELECT count(*) FROM payment").int(0, 0) == 1)
            #expect(throws: PGError.self) { try PGConnection("host=\(server.directory) user=nobody_here dbname=wpw") }
        }
    }

    /// 16 connections (one per thread, as 16 members would) race to sell a stock of 20, one unit per
    /// transaction with the order row: exactly 20 are sold, by a conditional update alone.
    @Test func aConditionalUpdateNeverOversellsAcrossConnections() async throws {
        try await Self.withServer { server in
            let setup = try PGConnection(server.connectionString)
            try setup.execute("""
                CREATE TABLE price (id int PRIMARY KEY, stock int NOT NULL CHECK (stock >= 0));
                CREATE TABLE sale (reference text PRIMARY KEY, price_id int NOT NULL);
                INSERT INTO price VALUES (1, 20);
                """)
            let sold = Counter()
            let refused = Counter()
            let failures = Counter()
            let threads = (0..<16).map { member in
                Thread {
                    do {
                        let db = try PGConnection(server.connectionString)
                        for attempt in 0..<5 {
                            let took = try db.transaction { db -> Bool in
                                guard try db.query("UPDATE price SET stock = stock - 1 WHERE id = 1 AND stock >= 1").affected == 1 else { return false }
                                try db.query("INSERT INTO sale VALUES ($1, 1)", ["m\(member)-\(attempt)"])
                                return true
                            }
                            (took ? sold : refused).increment()
                        }
                    } catch {
                        failures.increment()
                    }
                }
            }
            for thread in threads { thread.start() }
            // Bounded only against a hang: the outcome, not the time, is what is checked.
            let deadline = ContinuousClock.now + .seconds(300)
            while sold.value + refused.value + 5 * failures.value < 80, ContinuousClock.now < deadline { usleep(10_000) }
            #expect(failures.value == 0)
            #expect(sold.value == 20 && refused.value == 60)
            #expect(try setup.query("SELECT stock FROM price").int(0, 0) == 0)
            #expect(try setup.query("SELECT count(*) FROM sale").int(0, 0) == 20)
        }
    }

    @Test func anAdvisoryLockHasOneHolderAndDiesWithItsConnection() async throws {
        try await Self.withServer { server in
            let a = try PGConnection(server.connectionString)
            let b = try PGConnection(server.connectionString)
            let lock = "SELECT pg_try_advisory_lock(42)"
            #expect(try a.query(lock).text(0, 0) == "t")
            #expect(try b.query(lock).text(0, 0) == "f")
            a.close()  // a member that dies: the server releases its session locks
            var taken = false
            // The server releases it when it sees the connection close: poll (up to a minute on a loaded machine).
            for _ in 0..<6000 where !taken {
                taken = try b.query(lock).text(0, 0) == "t"
                if !taken { usleep(10_000) }
            }
            #expect(taken)
        }
    }

    @Test func anOutageIsAConnectionErrorAndAReconnectWorksAfterIt() async throws {
        try await Self.withServer { server in
            let db = try PGConnection(server.connectionString)
            try db.execute("CREATE TABLE t (id int)")
            try server.stop()
            let down = #expect(throws: PGError.self) { try db.query("INSERT INTO t VALUES (1)") }
            #expect(down?.isConnectionError == true, "\(String(describing: down))")
            #expect(!db.isOpen)
            #expect(throws: PGError.self) { try PGConnection(server.connectionString) }
            try server.start()
            let again = try PGConnection(server.connectionString)
            try again.query("INSERT INTO t VALUES (1)")
            #expect(try again.query("SELECT count(*) FROM t").int(0, 0) == 1)
        }
    }
}

/// A thread-safe counter.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
