import WPWithinCore
import WPWithinSQLite

extension Store {
    /// The result stored for an RPC idempotency key, or nil when the key is new.
    public func idempotentResult(key: String) async throws -> JSONValue? {
        try await read { db in
            guard let json = try db.text("SELECT result_json FROM idempotency_key WHERE key = ?", [key])
            else { return nil }
            return try Self.parseStored(json, what: "idempotent result for \(key)")
        }
    }

    /// Stores `result` for `key` unless a result is already stored; returns the stored one (the first writer
    /// wins, so two racing retries answer identically). Never store card data in a result.
    @discardableResult
    public func saveIdempotentResult(key: String, result: JSONValue, now: Instant) async throws -> JSONValue {
        let json = result.jsonString
        return try await transaction { tx in
            try tx.db.run(
                "INSERT INTO idempotency_key (key, result_json, created_at_ms) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING",
                [key, json, now.milliseconds])
            guard let stored = try tx.db.text("SELECT result_json FROM idempotency_key WHERE key = ?", [key]) else {
                throw WPWError(.internalError, "store: the idempotent result for \(key) vanished")
            }
            return try Self.parseStored(stored, what: "idempotent result for \(key)")
        }.value
    }

    /// Deletes idempotency keys created before `cutoff` (retries older than that are not expected).
    @discardableResult
    public func pruneIdempotencyKeys(before cutoff: Instant) async throws -> Int {
        try await transaction { tx in
            try tx.db.run("DELETE FROM idempotency_key WHERE created_at_ms < ?", [cutoff.milliseconds])
            return tx.db.changes
        }.value
    }

    static func parseStored(_ json: String, what: String) throws -> JSONValue {
        do {
            return try JSONValue.parse(json)
        } catch {
            throw WPWError(.internalError, "store: unreadable \(what)")
        }
    }
}
