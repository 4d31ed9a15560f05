/// Log metadata keys, defined once so that every module spells them the same (and `journalctl` field
/// searches find them all). Values never carry secrets: no card number, CVC, client token or service key.
public enum LogKey {
    /// How Swift Concurrency's global executor became the event loops (`nio`, `hookAddress`, `none`).
    public static let executorTakeover = "executor.takeover"
    public static let paymentReference = "payment.reference"
    public static let customerOrderCode = "payment.customerOrderCode"
    public static let orderCode = "payment.orderCode"
    public static let paymentStatus = "payment.status"
    public static let amount = "payment.amount"
    public static let reason = "reason"
    public static let error = "error"
    public static let purchaseID = "purchase.id"
    public static let units = "delivery.units"
    public static let unsettled = "delivery.unsettled"
    public static let recoverySettleAfter = "recovery.settleAfter"
    public static let recoveryWatch = "recovery.watch"
    public static let storeFreeBytes = "store.freeBytes"
    public static let storeReserveBytes = "store.reserveBytes"
    public static let prunedProducerQuotes = "store.prunedProducerQuotes"
    public static let prunedConsumerQuotes = "store.prunedConsumerQuotes"
    public static let path = "path"
    public static let currency = "payment.currency"
    public static let attempt = "payment.attempt"
    public static let refundAmount = "payment.refundAmount"
    public static let eventType = "event.type"
    public static let eventSeq = "event.seq"
    public static let serviceID = "service.id"
    public static let priceID = "price.id"
    public static let clientID = "client.id"
    public static let serverID = "server.id"
    /// The `consumer.spending` rule that refused a payment (`maxTotal`, `dailyBudget`, `denyProducers`, …).
    public static let spendingRule = "spending.rule"
    /// A transition's unit counts: `delivery.` + the event payload's key (`delivery.unitsGranted`, …).
    public static let deliveryPrefix = "delivery."
    /// A `TLSError` code (`certificateExpired`, `hostnameMismatch`, …).
    public static let tlsError = "tls.error"
}
