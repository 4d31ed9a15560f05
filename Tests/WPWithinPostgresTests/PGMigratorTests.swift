import Foundation
import Testing
import WPWithinPostgres
import WPWithinTestSupport

/// Versioned migrations of the shared schema on a real server: once each, also when several members start
/// together, all or nothing, and never on a database a newer build migrated.
@Suite struct PGMigratorTests {
    static let migrator = PGMigrator([
        .init("v1-stock", "CREATE TABLE price (id int PRIMARY KEY, stock int CHECK (stock IS NULL OR stock >= 0))"),
        .init("v2-orders", "CREATE TABLE producer_order (payment_reference_id text PRIMARY KEY, price_id int NOT NULL REFERENCES price)"),
    ])

    @Test func eachMigrationOnceEvenWhenMembersStartTogether() async throws {
        try await PGConnectionTests.withServer { server in
            // Eight members migrate at the same moment, each on its own connection and thread.
            let applied = Counter()
            let failures = Counter()
            let finished = Counter()
            let threads = (0..<8).map { _ in
                Thread {
                    do {
                        let db = try PGConnection(server.connectionString)
                        for _ in try Self.migrator.migrate(db) { applied.increment() }
                    } catch {
                        failures.increment()
                    }
                    finished.increment()
                }
            }
            for thread in threads { thread.start() }
            let db = try PGConnection(server.connectionString)
            // Bounded only against a hang: the outcome is checked, not the time.
            let deadline = ContinuousClock.now + .seconds(300)
            while finished.value < 8 && ContinuousClock.now < deadline { usleep(10_000) }
            #expect(finished.value == 8)
            #expect(failures.value == 0)
            #expect(applied.value == 2)
            #expect(try PGMigrator.applied(db) == ["v1-stock", "v2-orders"])
            #expect(try Self.migrator.migrate(db).isEmpty)
            try db.query("INSERT INTO price VALUES (1, 3)")
        }
    }

    @Test func aFailingMigrationLeavesNothingBehind() async throws {
        try await PGConnectionTests.withServer { server in
            let db = try PGConnection(server.connectionString)
            let broken = PGMigrator(Self.migrator.migrations + [.init("v3-broken", "ALTER TABLE nowhere ADD COLUMN x int")])
            let error = #expect(throws: PGError.self) { try broken.migrate(db) }
            #expect(error?.sqlState == "42P01")
            // All pending migrations ran in one transaction: none of them is there.
            #expect(try db.query("SELECT to_regclass('price')").text(0, 0) == nil)
            #expect(try db.query("SELECT to_regclass('schema_migration')").text(0, 0) == nil)
            #expect(try Self.migrator.migrate(db) == ["v1-stock", "v2-orders"])
        }
    }

    @Test func aDatabaseMigratedByANewerBuildIsRefusedAndLeftAlone() async throws {
        try await PGConnectionTests.withServer { server in
            let db = try PGConnection(server.connectionString)
            try Self.migrator.migrate(db)
            try db.query("INSERT INTO schema_migration (identifier) VALUES ($1)", ["v9-future"])
            let older = PGMigrator(Array(Self.migrator.migrations.prefix(1)))
            let error = #expect(throws: PGError.self) { try older.migrate(db) }
            #expect(error?.sqlState == "WPW01" && error?.message.contains("v2-orders") == true)
            let newer = #expect(throws: PGError.self) { try Self.migrator.migrate(db) }
            #expect(newer?.message.contains("v9-future") == true)
            #expect(try PGMigrator.applied(db) == ["v1-stock", "v2-orders", "v9-future"])
        }
    }
}
