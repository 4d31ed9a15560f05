#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import WPWithinCore
import WPWithinMetrics
import WPWithinPayments
import WPWithinRPC
import WPWithinStore

/// The daemon's metrics: every name, label and help text is defined here, once (docs/operations.md,
/// "Metrics"). Counters start at zero when the daemon starts (Prometheus handles the reset).
///
/// Where each figure comes from:
/// * money and units: the committed journal events, seen once each as the event bus delivers them (the
///   same record `listPurchases` and the audit use, so the counters cannot disagree with the ledger);
/// * RPC: the dispatcher's outcome of every call; HTE: the producer's router and the consumer's client;
/// * the gateway: a wrapper around the gateway client (latency, and whether it was reachable);
/// * the store: every commit's duration; reconciliation: the recovery service's last pass.
public final class DaemonMetrics: Sendable {
    public let registry = MetricsRegistry()
    private let listenerURL = Mutex<String?>(nil)

    /// `http://HOST:PORT/metrics` once the listener is bound (`getStatus.metricsURL`), else nil.
    var metricsURL: String? { listenerURL.withLock { $0 } }

    func listenerBound(url: String) { listenerURL.withLock { $0 = url } }

    enum Name {
        static let payments = "wpwithind_payments_total"
        static let amount = "wpwithind_payment_amount_minor_units_total"
        static let quotes = "wpwithind_quotes_total"
        static let deliveries = "wpwithind_deliveries_total"
        static let units = "wpwithind_units_delivered_total"
        static let leases = "wpwithind_delivery_leases_expired_total"
        static let rpcCalls = "wpwithind_rpc_calls_total"
        static let rpcErrors = "wpwithind_rpc_errors_total"
        static let hteServed = "wpwithind_hte_requests_total"
        static let hteCalls = "wpwithind_hte_client_calls_total"
        static let gateway = "wpwithind_gateway_request_duration_seconds"
        static let reconciliation = "wpwithind_reconciliation_pending"
        static let commits = "wpwithind_store_commit_duration_seconds"
        static let commitFailures = "wpwithind_store_commit_failures_total"
        static let build = "wpwithind_build_info"
        static let connections = "wpwithind_rpc_connections"
        static let resident = "process_resident_memory_bytes"
        static let cpu = "process_cpu_seconds_total"
        static let started = "process_start_time_seconds"
    }

    /// Buckets of the gateway's latency (seconds): a sandbox on loopback answers in a millisecond, the real
    /// gateway in tens to hundreds, a timeout at `payments.totalTimeoutMs`.
    static let gatewayBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
    /// Buckets of a commit (seconds): a commit without fsync takes tens of microseconds, one with takes
    /// 0.1–2 ms on an SSD, more on an SD card.
    static let commitBuckets: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]

    let reconciliationPending: MetricsGauge
    /// The series of the hot path, made once (a registry lookup builds its label key and takes a lock): the
    /// counters each event type increments, the RPC calls per served method, the HTE and gateway series of a
    /// successful call. Anything else (an error code, another status) goes through the registry.
    private let eventCounters: [String: MetricsCounter]
    private let unitsDelivered: [String: MetricsCounter]
    private let rpcCalls = Mutex<[String: MetricsCounter]>([:])
    private let hteServedOK: [String: MetricsCounter]
    private let hteCalledOK: [String: MetricsCounter]
    private let gatewayOK: [String: MetricsHistogram]
    private let durableCommits: MetricsHistogram
    private let relaxedCommits: MetricsHistogram
    private let failedCommits: MetricsCounter

    public init(connections: @escaping @Sendable () -> Int = { 0 }) {
        reconciliationPending = registry.gauge(
            Name.reconciliation, help: "Producer orders whose payment outcome the gateway must still settle (paymentPending, outcomeUnknown, refundPending), at the recovery service's last pass.")
        durableCommits = registry.histogram(
            Name.commits, help: "Store commits (one transaction, possibly a group of transitions), by whether they were fsynced.",
            upperBounds: Self.commitBuckets, labels: [("fsync", "true")])
        relaxedCommits = registry.histogram(
            Name.commits, help: "", upperBounds: Self.commitBuckets, labels: [("fsync", "false")])
        failedCommits = registry.counter(Name.commitFailures, help: "Store commits that failed (every transition in them failed and nothing was stored).")
        var events: [String: MetricsCounter] = [:]
        for (type, role, outcome) in Self.paymentEvents {
            events[type] = registry.counter(Name.payments, help: Help.payments, labels: [("role", role), ("outcome", outcome)])
        }
        for (type, role, phase) in Self.deliveryEvents {
            events[type] = registry.counter(Name.deliveries, help: Help.deliveries, labels: [("role", role), ("phase", phase)])
        }
        events[StoreEventType.quoteCreated] = registry.counter(Name.quotes, help: Help.quotes, labels: [("role", "producer")])
        events[StoreEventType.quoteReceived] = registry.counter(Name.quotes, help: Help.quotes, labels: [("role", "consumer")])
        events[StoreEventType.deliveryLeaseExpired] = registry.counter(Name.leases, help: Help.leases)
        eventCounters = events
        unitsDelivered = [
            StoreEventType.deliveryEnded: registry.counter(Name.units, help: Help.units, labels: [("role", "producer")]),
            StoreEventType.consumerDeliveryEnded: registry.counter(Name.units, help: Help.units, labels: [("role", "consumer")]),
        ]
        var served: [String: MetricsCounter] = [:], called: [String: MetricsCounter] = [:]
        for route in Self.hteRoutes {
            served[route] = registry.counter(Name.hteServed, help: Help.hteServed, labels: [("route", route), ("status", "200")])
            called[route] = registry.counter(Name.hteCalls, help: Help.hteCalls, labels: [("route", route), ("outcome", "ok")])
        }
        hteServedOK = served
        hteCalledOK = called
        var gateway: [String: MetricsHistogram] = [:]
        for operation in Self.gatewayOperations {
            gateway[operation] = registry.histogram(
                Name.gateway, help: Help.gateway, upperBounds: Self.gatewayBuckets, labels: [("operation", operation), ("outcome", "ok")])
        }
        gatewayOK = gateway
        registry.gauge(Name.build, help: "The running build (value 1).", labels: [("version", WPWithinVersion.current)]).set(1)
        registry.computed(Name.connections, .gauge, help: "Open JSON-RPC connections.") { Double(connections()) }
        registry.computed(Name.resident, .gauge, help: "Resident set size in bytes.") { ProcessFigures.residentBytes() }
        registry.computed(Name.cpu, .counter, help: "User and system CPU time spent, in seconds.") { ProcessFigures.cpuSeconds() }
        let started = ProcessFigures.wallClockSeconds()
        registry.computed(Name.started, .gauge, help: "Start time of the process since the Unix epoch, in seconds.") { started }
    }

    // MARK: Money and units, from the journal's events

    /// Counts one delivered event (the bus calls this once per event, in seq order).
    public func observe(_ event: RPCEvent) {
        guard let counter = eventCounters[event.type] else { return }
        counter.increment()
        switch event.type {
        case StoreEventType.paymentSucceeded: charged(role: "producer", event.payload)
        case StoreEventType.purchaseRecorded: charged(role: "consumer", event.payload)
        case StoreEventType.deliveryEnded, StoreEventType.consumerDeliveryEnded:
            if let units = event.payload["unitsCommitted"]?.int64Value, units > 0 { unitsDelivered[event.type]?.increment(by: UInt64(units)) }
        default: break
        }
    }

    private func charged(role: String, _ payload: [String: JSONValue]) {
        guard let amount = payload["totalAmount"]?.int64Value, amount > 0,
              let currency = payload["currencyCode"]?.stringValue, Currency(code: currency) != nil else { return }
        registry.counter(Name.amount, help: Help.amount, labels: [("role", role), ("currency", currency)]).increment(by: UInt64(amount))
    }

    /// The event types counted, with their labels.
    static let paymentEvents: [(String, String, String)] = [
        (StoreEventType.paymentSucceeded, "producer", "succeeded"), (StoreEventType.paymentFailed, "producer", "failed"),
        (StoreEventType.paymentOutcomeUnknown, "producer", "outcome_unknown"), (StoreEventType.paymentAbandoned, "producer", "abandoned"),
        (StoreEventType.lateChargeFound, "producer", "late_charge"), (StoreEventType.refundIssued, "producer", "refunded"),
        (StoreEventType.purchaseRecorded, "consumer", "succeeded"),
    ]
    static let deliveryEvents: [(String, String, String)] = [
        (StoreEventType.deliveryBegun, "producer", "begin"), (StoreEventType.deliveryEnded, "producer", "end"),
        (StoreEventType.consumerDeliveryBegun, "consumer", "begin"), (StoreEventType.consumerDeliveryEnded, "consumer", "end"),
    ]
    static let hteRoutes = ["discover", "prices", "requestTotal", "payment", "delivery/begin", "delivery/end", "refund"]
    static let gatewayOperations = ["tokens", "order", "lookup", "find", "refund"]

    /// Help texts, once each.
    enum Help {
        static let payments = "Payment outcomes as committed: producer succeeded, failed, outcome_unknown, abandoned, late_charge, refunded; consumer succeeded (a purchase recorded). An unknown outcome settled later counts again under its final outcome."
        static let amount = "Money charged (producer) or paid (consumer), in the currency's minor units."
        static let quotes = "Quotes made (producer) or received (consumer)."
        static let deliveries = "Delivery begins and ends committed."
        static let units = "Units committed as delivered by delivery ends."
        static let leases = "Deliveries in flight past producer.deliveryLeaseSeconds, settled at the token's next begin."
        static let rpcCalls = "JSON-RPC calls by method ((none): a line naming no served method)."
        static let rpcErrors = "JSON-RPC calls answered with an error, by method and stable error code."
        static let hteServed = "HTE requests the producer answered, by route and HTTP status."
        static let hteCalls = "HTE calls to producers by route and outcome (ok, rejected, unreachable, protocol)."
        static let gateway = "Payment gateway calls by operation (tokens, order, lookup, find, refund) and outcome (ok, refused, unreachable)."
    }

    // MARK: Calls

    /// The dispatcher's observer: one call of `method` (nil: no served method named) answered with `error`.
    public func rpcCall(method: String?, error: WPWError.Code?) {
        let name = method ?? "(none)"
        let calls = rpcCalls.withLock { cache in
            if let counter = cache[name] { return counter }
            let counter = registry.counter(Name.rpcCalls, help: Help.rpcCalls, labels: [("method", name)])
            cache[name] = counter
            return counter
        }
        calls.increment()
        if let error {
            registry.counter(Name.rpcErrors, help: Help.rpcErrors, labels: [("method", name), ("code", String(error.rawValue))]).increment()
        }
    }

    /// One HTE request answered by the producer (`route` from ``HTERouter``'s route labels).
    public func hteServed(route: String, status: Int) {
        if status == 200, let counter = hteServedOK[route] { return counter.increment() }
        registry.counter(Name.hteServed, help: Help.hteServed, labels: [("route", route), ("status", String(status))]).increment()
    }

    /// One HTE call the consumer made to a producer.
    public func hteCalled(route: String, outcome: String) {
        if outcome == "ok", let counter = hteCalledOK[route] { return counter.increment() }
        registry.counter(Name.hteCalls, help: Help.hteCalls, labels: [("route", route), ("outcome", outcome)]).increment()
    }

    /// One gateway call: its operation, whether it got an answer we understood (`ok`), how long it took.
    func gatewayCall(operation: String, outcome: String, duration: Duration) {
        if outcome == "ok", let histogram = gatewayOK[operation] { return histogram.observe(duration) }
        registry.histogram(
            Name.gateway, help: Help.gateway, upperBounds: Self.gatewayBuckets, labels: [("operation", operation), ("outcome", outcome)]
        ).observe(duration)
    }

    /// The store's commit observer.
    public func storeCommit(_ duration: Duration, fsynced: Bool, failed: Bool) {
        if failed { failedCommits.increment() }
        (fsynced ? durableCommits : relaxedCommits).observe(duration)
    }
}

/// The process's own figures, read when scraped.
enum ProcessFigures {
    static func residentBytes() -> Double {
        // /proc/self/statm: size resident shared … in pages.
        let fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return 0 }
        let fields = buffer[..<count].split(separator: UInt8(ascii: " "))
        guard fields.count > 1, let pages = Int(String(decoding: fields[1], as: UTF8.self)) else { return 0 }
        return Double(pages) * Double(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { return 0 }
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    static func wallClockSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}

/// The gateway client with its calls timed and counted (``DaemonMetrics``), and its reachability kept for
/// `getStatus`'s `health`.
struct MeteredGateway: PaymentGateway {
    let inner: any PaymentGateway
    let metrics: DaemonMetrics
    let health: HealthState

    func createToken(card: PaymentCard, clientKey: String) async throws -> ClientToken {
        try await timed("tokens") { try await inner.createToken(card: card, clientKey: clientKey) }
    }

    func placeOrder(_ request: OrderRequest) async throws -> OrderResult {
        try await timed("order") { try await inner.placeOrder(request) }
    }

    func lookupOrder(orderCode: String) async throws -> OrderResult {
        try await timed("lookup") { try await inner.lookupOrder(orderCode: orderCode) }
    }

    func findOrder(customerOrderCode: String) async throws -> OrderResult? {
        try await timed("find") { try await inner.findOrder(customerOrderCode: customerOrderCode) }
    }

    func refund(orderCode: String, amount: Money?) async throws {
        try await timed("refund") { try await inner.refund(orderCode: orderCode, amount: amount) }
    }

    private func timed<T>(_ operation: String, _ call: () async throws -> T) async throws -> T {
        let start = ContinuousClock.now
        do {
            let value = try await call()
            metrics.gatewayCall(operation: operation, outcome: "ok", duration: ContinuousClock.now - start)
            health.gatewayAnswered(true)
            return value
        } catch {
            // Unreachable: no connection, a timeout, a lost connection or a 5xx (the gateway is not serving).
            // Anything else is an answer (a refusal, a decline): the gateway is there.
            let code = (error as? WPWError)?.code
            let unreachable = code == .gatewayUnavailable || code == .gatewayTimeout
            metrics.gatewayCall(operation: operation, outcome: unreachable ? "unreachable" : "refused", duration: ContinuousClock.now - start)
            health.gatewayAnswered(!unreachable)
            throw error
        }
    }
}
