import Testing
import WPWithinSQLite
@testable import WPWithinStore

/// The queries that run at every start or on every purchase read what they need, not whole tables: their
/// plans (`EXPLAIN QUERY PLAN`) on the real schema. A full scan of `producer_order` or `event` grows with
/// every purchase ever made (the producer restart took 36 ms after 76,000 flows because of two of them).
@Suite struct QueryPlanTests {
    static func plan(_ sql: String, arguments: Int) throws -> String {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try dir.open().close()
        let db = try SQLiteConnection(path: dir.databasePath, readOnly: true)
        defer { try? db.close() }
        let placeholders = [SQLiteValue](repeating: .null, count: arguments)
        return try db.prepare("EXPLAIN QUERY PLAN " + sql).query(SQLiteArguments(placeholders)) { $0.text(3) }.joined(separator: "; ")
    }

    @Test func reconciliationReadsOnlyOpenOrders() throws {
        let plan = try Self.plan(Store.reconciliationSQL, arguments: 1)
        #expect(plan.contains("USING INDEX producer_order_open"), "\(plan)")
        #expect(!plan.contains("SCAN producer_order"), "\(plan)")
    }

    @Test func theJournalsBoundsReadTwoEndsOfTheTree() throws {
        let plan = try Self.plan(Store.journalBoundsSQL, arguments: 0)
        #expect(!plan.contains("SCAN event"), "\(plan)")
        #expect(plan.contains("SEARCH event"), "\(plan)")
    }

    /// The spending budgets read the last 30 days of purchases, not every purchase ever made.
    @Test func theSpendingBudgetsReadOnlyTheirWindow() throws {
        let plan = try Self.plan(Store.spendingSQL, arguments: 4)
        #expect(plan.contains("purchase_created"), "\(plan)")
        #expect(!plan.contains("SCAN purchase"), "\(plan)")
    }

    @Test(arguments: [
        (Rows.orderSelect + " WHERE payment_reference_id = ?", "producer_order"),
        (Rows.orderSelect + " WHERE token_key = ?", "producer_order"),
        ("DELETE FROM producer_order WHERE state = 'quoted' AND expires_s < ?", "producer_order"),
    ])
    func everyPurchaseLooksUpOneRow(sql: String, table: String) throws {
        let plan = try Self.plan(sql, arguments: 1)
        #expect(!plan.contains("SCAN \(table)"), "\(plan)")
    }
}
