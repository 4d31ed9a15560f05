import WPWithinCore
import WPWithinSQLite

/// How a payment passed the spending policy (`Store.startConsumerPayment`).
public enum ConsumerPaymentStart: Sendable, Hashable {
    /// Checked and allowed now; with budgets, its amount is reserved (the quote marked started, durably).
    case started(ConsumerQuote)
    /// Its payment had started before (a retry of a payment whose outcome was not known): not checked
    /// again, since the card may have been charged; its reservation still holds.
    case resumed(ConsumerQuote)

    public var quote: ConsumerQuote {
        switch self {
        case .started(let quote), .resumed(let quote): quote
        }
    }
}

extension Store {
    /// The purchases and started payments of the budgets' longest window, per currency: what each rolling
    /// window has spent. **The one place the consumer's spending is computed** (budgets, `getStatus`,
    /// `getSpendingPolicy`): a recorded purchase counts its `total_amount` at its `created_at_ms`; a quote
    /// whose payment started and whose outcome is not known yet counts its total at `payment_started_at_ms`
    /// (`pending`). A refund of its undelivered units that the producer's gateway made (`refund_status`
    /// `issued`) is money back: the purchase counts its total less `refund_amount`, in the window of the
    /// purchase (docs/payments.md, "Spending policy").
    static let spendingSQL = """
        SELECT currency,
            SUM(CASE WHEN purchased AND at_ms >= ? THEN amount ELSE 0 END),
            SUM(CASE WHEN NOT purchased AND at_ms >= ? THEN amount ELSE 0 END),
            SUM(CASE WHEN purchased THEN amount ELSE 0 END),
            SUM(CASE WHEN NOT purchased THEN amount ELSE 0 END)
        FROM (
            SELECT currency,
                total_amount - (CASE WHEN refund_status = 'issued' THEN refund_amount ELSE 0 END) AS amount,
                created_at_ms AS at_ms, 1 AS purchased
                FROM purchase WHERE created_at_ms >= ?
            UNION ALL
            SELECT currency, total_amount, payment_started_at_ms, 0
                FROM consumer_quote WHERE payment_started_at_ms >= ?
        )
        GROUP BY currency
        """

    static func spending(_ db: SQLiteConnection, now: Instant) throws -> [String: SpentByWindow] {
        let day = (now.adding(.zero - SpendingPolicy.day) ?? now).milliseconds
        let month = (now.adding(.zero - SpendingPolicy.month) ?? now).milliseconds
        var spent: [String: SpentByWindow] = [:]
        for (currency, windows) in try db.query(Self.spendingSQL, [day, day, month, month], { row in
            (row.text(0), SpentByWindow(
                day: SpentAmount(purchased: row.int64(1), pending: row.int64(2)),
                month: SpentAmount(purchased: row.int64(3), pending: row.int64(4))))
        }) {
            spent[currency] = windows
        }
        return spent
    }

    /// What the rolling day and month have spent, per currency (purchases, and payments started whose outcome
    /// is not known yet).
    public func spending(now: Instant) async throws -> [String: SpentByWindow] {
        try await read { db in try Self.spending(db, now: now) }
    }

    /// Checks a quote's payment against the spending policy and, when `reserve`, marks it started
    /// (`payment_started_at_ms`), **in one transaction on the serial writer**: concurrent payments are checked
    /// one after the other, each seeing the reservations of those before it, so together they cannot spend
    /// more than a budget. Durable when it reserves: the mark must outlive a crash after the card is used.
    ///
    /// `check` gets the quote and what its currency has spent, and throws to refuse: nothing is written.
    /// A quote already started is resumed without a check (its outcome is what is being learnt).
    /// `serviceType`, when given, is kept on the quote.
    public func startConsumerPayment(
        paymentReferenceID: String, serviceType: String?, reserve: Bool, now: Instant,
        check: @escaping @Sendable (ConsumerQuote, SpentByWindow) throws -> Void
    ) async throws -> ConsumerPaymentStart {
        try await transaction(durable: reserve) { tx in
            guard let quote = try Self.loadConsumerQuote(tx.db, paymentReferenceID: paymentReferenceID) else {
                throw WPWError(
                    .notFound, "no quote \(paymentReferenceID); call selectService first",
                    data: ["paymentReferenceId": .string(paymentReferenceID)])
            }
            if quote.paymentStartedAt != nil { return .resumed(quote) }
            let known = ConsumerQuote(
                paymentReferenceID: quote.paymentReferenceID, serverID: quote.serverID, clientID: quote.clientID,
                serviceID: quote.serviceID, priceID: quote.priceID, units: quote.units, total: quote.total,
                merchantClientKey: quote.merchantClientKey, producerURL: quote.producerURL,
                serviceType: serviceType ?? quote.serviceType, paymentStartedAt: reserve ? now : nil)
            try check(known, try Self.spending(tx.db, now: now)[quote.total.currency.code] ?? SpentByWindow())
            if reserve {
                try tx.db.run(
                    "UPDATE consumer_quote SET payment_started_at_ms = ?, service_type = ? WHERE payment_reference_id = ?",
                    [now.milliseconds, known.serviceType, paymentReferenceID])
            }
            return .started(known)
        }.value
    }

    /// The payment of a started quote was refused before anything could be charged (declined, card refused,
    /// the producer refused it): its reservation is released and the quote can be paid again. Not fsynced on
    /// its own: a release lost in a power cut only keeps the amount reserved a little longer.
    public func releaseConsumerPayment(paymentReferenceID: String) async throws {
        _ = try await transaction(durable: false) { tx in
            try tx.db.run(
                "UPDATE consumer_quote SET payment_started_at_ms = NULL WHERE payment_reference_id = ?", [paymentReferenceID])
        }
    }
}
