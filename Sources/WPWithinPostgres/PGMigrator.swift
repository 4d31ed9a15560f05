/// Versioned migrations of a shared PostgreSQL schema, applied once however many fleet members start at the
/// same moment.
///
/// Like the SQLite store's (`Schema`): one named migration per schema version, recorded in
/// `schema_migration`; a migration, once shipped, never changes. Every member runs `migrate` at start: a
/// transaction-level advisory lock makes them take turns, so each pending migration runs exactly once and
/// the others find it applied. A database that records a migration this build does not know (a newer member
/// migrated it) is refused and left untouched.
public struct PGMigrator: Sendable {
    public struct Migration: Sendable {
        public let name: String
        public let sql: String

        public init(_ name: String, _ sql: String) {
            self.name = name
            self.sql = sql
        }
    }

    /// The advisory lock key the migrations take (`pg_advisory_xact_lock`), the same for every member.
    public static let lockKey: Int64 = 0x7770_7769_6d69_6772  // "wpwimigr"

    public let migrations: [Migration]

    public init(_ migrations: [Migration]) {
        precondition(Set(migrations.map(\.name)).count == migrations.count, "duplicate migration name")
        self.migrations = migrations
    }

    /// Applies what is pending, in one transaction (all of it or nothing), and returns the names applied now.
    /// Throws `PGError` (SQLSTATE `WPW01`) when the database was migrated by a newer build.
    @discardableResult
    public func migrate(_ db: PGConnection) throws -> [String] {
        try db.transaction { db in
            try db.query("SELECT pg_advisory_xact_lock($1)", [String(Self.lockKey)])
            try db.execute("CREATE TABLE IF NOT EXISTS schema_migration (seq bigserial NOT NULL, identifier text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            let rows = try db.query("SELECT identifier FROM schema_migration")
            let applied = Set((0..<rows.count).compactMap { rows.text($0, 0) })
            let known = Set(migrations.map(\.name))
            if let unknown = applied.subtracting(known).sorted().first {
                throw PGError(
                    sqlState: "WPW01",
                    message: "the database records migration \(unknown), which this wpwithind does not know: a newer version migrated it")
            }
            var done: [String] = []
            for migration in migrations where !applied.contains(migration.name) {
                try db.execute(migration.sql)
                try db.query("INSERT INTO schema_migration (identifier) VALUES ($1)", [migration.name])
                done.append(migration.name)
            }
            return done
        }
    }

    /// The applied migrations' names, in the order they were applied.
    public static func applied(_ db: PGConnection) throws -> [String] {
        let rows = try db.query("SELECT identifier FROM schema_migration ORDER BY seq")
        return (0..<rows.count).compactMap { rows.text($0, 0) }
    }
}
