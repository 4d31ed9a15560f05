// Test-only driver for WPWithinStore.
//
//   wpw-store-crashtest crash DIR [MAX_ROUNDS]
//       Opens DIR/wpwithin.sqlite and loops producer and consumer transitions, printing one line per
//       committed transition and flushing stdout, so a parent can kill -9 it mid-way and compare what it
//       printed with what survived:
//         paid REF                      (the payment of REF was recorded)
//         delivered REF N               (producer ledger of REF has N delivered units)
//         consumed ID N                 (consumer purchase ID has N delivered units)
//         seq N                         (journal seq N committed)
//   wpw-store-crashtest bench DIR full|normal COUNT
//       Times COUNT × (createQuote, startPayment, recordPaymentSucceeded, beginDelivery, endDelivery) and
//       prints `bench synchronous=… count=… total_ms=… per_sequence_us=… per_transition_us=…`.
#if canImport(Glibc)
import Glibc
#endif
import Logging
import WPWithinCore
import WPWithinStore

func now() -> Instant {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Instant(secondsSinceEpoch: Int64(ts.tv_sec), nanoseconds: Int32(ts.tv_nsec))
}

func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func say(_ line: String) {
    print(line)
    fflush(nil)
}

func ensureCatalog(_ store: Store) async throws {
    if try await store.catalog().services.isEmpty {
        let price = try Price(id: 1, description: "per wash", amount: 250, currencyCode: "GBP", unitID: 1, unitDescription: "wash")
        _ = try await store.addService(try Service(id: 1, name: "RoboWash", description: "Car wash", prices: [price]), now: now())
    }
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    say("usage: wpw-store-crashtest crash DIR [MAX_ROUNDS] | bench DIR full|normal COUNT")
    exit(2)
}
let logger = Logger(label: "wpw-store-crashtest", factory: { _ in SwiftLogNoOpLogHandler() })

switch arguments[1] {
case "crash":
    let directory = arguments[2]
    let maxRounds = arguments.count > 3 ? Int(arguments[3]) ?? 100_000 : 100_000
    let store = try Store.open(directory: directory, logger: logger)
    try await ensureCatalog(store)
    say("ready")
    for round in 0..<maxRounds {
        let quote = try await store.createQuote(serviceID: 1, priceID: 1, units: 5, clientID: "client-\(round % 3)", now: now())
        let ref = quote.value.paymentReferenceID
        guard case .charge = try await store.startPayment(paymentReferenceID: ref, clientID: quote.value.clientID, now: now()).value
        else { say("unexpected alreadyPaid"); exit(1) }
        let paid = try await store.recordPaymentSucceeded(
            paymentReferenceID: ref, pspOrderCode: "psp-\(ref)", tokenTTL: .seconds(3600), now: now())
        say("paid \(ref)")
        // A retry after success must not charge again.
        guard case .alreadyPaid = try await store.startPayment(paymentReferenceID: ref, clientID: quote.value.clientID, now: now()).value
        else { say("retry charged again"); exit(1) }
        let token = PresentedToken(paid.value.token!)
        let purchase = try await store.recordPurchase(
            try Purchase(
                serverID: quote.value.serverID, clientID: quote.value.clientID, serviceID: 1, priceID: 1,
                paymentReferenceID: ref, totalPaid: quote.value.total, tokenKey: token.key,
                expiry: paid.value.token!.expiry, units: 5),
            tokenJSON: "{\"key\":\"\(token.key)\"}", producerURL: "http://127.0.0.1:64521", now: now())
        var remaining = 5
        while remaining > 0 {
            let ask = min(2, remaining)
            let local = try await store.beginDelivery(purchaseID: purchase.value.id, units: ask, now: now())
            let grant = try await store.beginDelivery(token: token, clientID: quote.value.clientID, serviceID: 1, units: ask, now: now())
            let end = try await store.endDelivery(
                token: token, clientID: quote.value.clientID, serviceID: 1, unitsReceived: grant.value.granted, now: now())
            say("delivered \(ref) \(end.value.order.ledger!.delivered)")
            // A replayed end is refused and restores nothing.
            do {
                _ = try await store.endDelivery(token: token, clientID: quote.value.clientID, serviceID: 1, unitsReceived: 5, now: now())
                say("replayed end accepted"); exit(1)
            } catch let error as WPWError where error.code == .conflict {}
            let consumerEnd = try await store.endDelivery(purchaseID: purchase.value.id, unitsReceived: local.value.reserved, now: now())
            say("consumed \(purchase.value.id) \(consumerEnd.value.purchase.purchase.delivered)")
            if let seq = consumerEnd.events.last?.seq { say("seq \(seq)") }
            remaining -= grant.value.granted
        }
        // Leave one payment pending every few rounds, as if the daemon died while talking to the gateway.
        if round % 4 == 3 {
            let pending = try await store.createQuote(serviceID: 1, priceID: 1, units: 1, clientID: "client-x", now: now())
            _ = try await store.startPayment(paymentReferenceID: pending.value.paymentReferenceID, clientID: "client-x", now: now())
            say("pending \(pending.value.paymentReferenceID)")
        }
    }
    say("done")
    try store.close()

case "bench":
    guard arguments.count >= 5, let sync = StoreConfiguration.Synchronous(rawValue: arguments[3]), let count = Int(arguments[4]) else {
        say("usage: wpw-store-crashtest bench DIR full|normal COUNT"); exit(2)
    }
    let store = try Store.open(directory: arguments[2], configuration: StoreConfiguration(synchronous: sync), logger: logger)
    try await ensureCatalog(store)
    // Quotes are made outside the timed loop: the measured sequence is the brief's four transitions.
    var refs: [(String, String)] = []
    for i in 0..<count {
        let q = try await store.createQuote(serviceID: 1, priceID: 1, units: 1, clientID: "c\(i)", now: now())
        refs.append((q.value.paymentReferenceID, q.value.clientID))
    }
    let start = monotonicNanos()
    for (ref, client) in refs {
        _ = try await store.startPayment(paymentReferenceID: ref, clientID: client, now: now())
        let paid = try await store.recordPaymentSucceeded(paymentReferenceID: ref, pspOrderCode: "psp", tokenTTL: .seconds(60), now: now())
        let token = PresentedToken(paid.value.token!)
        _ = try await store.beginDelivery(token: token, clientID: client, serviceID: 1, units: 1, now: now())
        _ = try await store.endDelivery(token: token, clientID: client, serviceID: 1, unitsReceived: 1, now: now())
    }
    let elapsed = Double(monotonicNanos() - start)
    try store.close()
    let perSequence = elapsed / Double(count) / 1000
    say("bench synchronous=\(sync.rawValue) count=\(count) total_ms=\(Int(elapsed / 1e6)) per_sequence_us=\(Int(perSequence)) per_transition_us=\(Int(perSequence / 4))")

default:
    say("unknown mode \(arguments[1])")
    exit(2)
}
