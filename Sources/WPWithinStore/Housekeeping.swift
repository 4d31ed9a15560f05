import WPWithinCore
import WPWithinSQLite

/// What `pruneStaleQuotes` removed.
public struct QuotePruning: Sendable, Hashable {
    /// Producer orders still `quoted` (never paid for, nothing reserved or charged) whose quote expired
    /// before the cut-off, with their quote rows.
    public var producerQuotes = 0
    /// Consumer quotes received before the cut-off and never paid (a quote whose payment started is kept for
    /// `startedConsumerQuoteRetention`: it counts against the spending budgets until its outcome is known).
    public var consumerQuotes = 0
}

extension Store {
    /// How long an expired, unpaid producer quote is kept: a payment that arrives late still gets `expired`
    /// (not `notFound`) for this long.
    public static let expiredQuoteRetention: Duration = .seconds(3600)
    /// How long an unpaid consumer quote is kept. A paid one is deleted with the purchase's record.
    public static let consumerQuoteRetention: Duration = .seconds(86_400)
    /// How long a consumer quote whose payment started and never settled is kept: past the budgets' longest
    /// window (`SpendingPolicy.month`) and a day more, so it counts as spent for the whole window.
    public static let startedConsumerQuoteRetention: Duration = SpendingPolicy.month + .seconds(86_400)

    /// Deletes quotes that can no longer become money, so that the database does not grow with every
    /// `selectService` that was never paid: producer orders in state `quoted` whose quote expired more than
    /// `expiredQuoteRetention` before `now`, and consumer quotes received more than `consumerQuoteRetention`
    /// before `now` and never started paying (or started more than `startedConsumerQuoteRetention` ago). Orders in any other state (a payment started, paid, failed, unknown…) are never touched.
    /// Not fsynced on its own: losing a prune in a power cut only keeps rows a little longer.
    @discardableResult
    public func pruneStaleQuotes(now: Instant) async throws -> QuotePruning {
        let producerCutoff = (now.adding(.zero - Self.expiredQuoteRetention) ?? now).secondsSinceEpoch
        let consumerCutoff = (now.adding(.zero - Self.consumerQuoteRetention) ?? now).milliseconds
        let startedCutoff = (now.adding(.zero - Self.startedConsumerQuoteRetention) ?? now).milliseconds
        return try await transaction(durable: false) { tx in
            var pruned = QuotePruning()
            try tx.db.run("DELETE FROM producer_order WHERE state = 'quoted' AND expires_s < ?", [producerCutoff])
            pruned.producerQuotes = tx.db.changes
            try tx.db.run(
                """
                DELETE FROM consumer_quote WHERE received_at_ms < ?
                    AND (payment_started_at_ms IS NULL OR payment_started_at_ms < ?)
                """, [consumerCutoff, startedCutoff])
            pruned.consumerQuotes = tx.db.changes
            return pruned
        }.value
    }
}
