import Foundation
import Testing
import WPWithinPostgres
import WPWithinTestSupport

/// The pool that lets async callers (an event loop) use libpq without blocking: jobs on threads of their own,
/// against a real PostgreSQL server.
@Suite struct PGPoolTests {
    static func withServer(_ body: @escaping @Sendable (PostgresServer) async throws -> Void) async throws {
        let server = try await onOwnThread { try PostgresServer() }
        do {
            try await body(server)
        } catch {
            await server.shutDown()
            throw error
        }
        await server.shutDown()
    }

    @Test func concurrentCallersThroughAPoolNeverOversell() async throws {
        try await Self.withServer { server in
            let pool = PGPool(connectionString: server.connectionString, size: 4)
            try await pool.run { db in
                try db.execute("""
                    CREATE TABLE price (id int PRIMARY KEY, stock int NOT NULL CHECK (stock >= 0));
                    CREATE TABLE sale (reference text PRIMARY KEY);
                    INSERT INTO price VALUES (1, 20);
                    """)
            }
            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for caller in 0..<16 {
                    for attempt in 0..<5 {
                        group.addTask {
                            try await pool.run { db in
                                try db.transaction { db -> Bool in
                                    guard try db.query("UPDATE price SET stock = stock - 1 WHERE id = 1 AND stock >= 1").affected == 1 else { return false }
                                    try db.query("INSERT INTO sale VALUES ($1)", ["c\(caller)-\(attempt)"])
                                    return true
                                }
                            }
                        }
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.count { $0 } == 20 && outcomes.count == 80)
            #expect(try await pool.run { try $0.query("SELECT stock, (SELECT count(*) FROM sale) FROM price").text(0, 0) } == "0")
            #expect(try await pool.run { try $0.query("SELECT count(*) FROM sale").int(0, 0) } == 20)
            await pool.close()
        }
    }

    @Test func aBrokenConnectionIsReportedThenReopened() async throws {
        try await Self.withServer { server in
            let pool = PGPool(connectionString: server.connectionString, size: 1)
            let pid = try await pool.run { try $0.query("SELECT pg_backend_pid()").int(0, 0) }
            // An SQL error keeps the connection.
            await #expect(throws: PGError.self) { try await pool.run { _ = try $0.query("SELECT * FROM nowhere") } }
            #expect(try await pool.run { try $0.query("SELECT pg_backend_pid()").int(0, 0) } == pid)
            // An outage is the caller's error, not a silent retry; after it the pool connects again.
            try await onOwnThread { try server.stop() }
            let down = await #expect(throws: PGError.self) { try await pool.run { _ = try $0.query("SELECT 1") } }
            #expect(down?.isConnectionError == true)
            await #expect(throws: PGError.self) { try await pool.run { _ = try $0.query("SELECT 1") } }
            try await onOwnThread { try server.start() }
            let again = try await pool.run { try $0.query("SELECT pg_backend_pid()").int(0, 0) }
            #expect(again != nil && again != pid)
            await pool.close()
        }
    }
}
