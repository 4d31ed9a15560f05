import Foundation
import WPWithinSQLite
import Testing
import WPWithinCore
import WPWithinStore
import WPWithinTestSupport

/// Runs `wpw-store-crashtest crash DIR`, kills it with SIGKILL once it has printed `killAfter`
/// "delivered" lines, and returns every complete line it printed.
func runAndKill(directory: String, killAfter: Int) throws -> [String] {
    let executable = productsDirectory() + "/wpw-store-crashtest"
    guard FileManager.default.isExecutableFile(atPath: executable) else {
        throw WPWError(.internalError, "missing \(executable): build with `swift build --build-tests`")
    }
    let outputPath = directory + "/child-\(UUID().uuidString).out"
    _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
    let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = ["crash", directory]
    process.standardOutput = output
    process.standardError = output
    try process.run()

    func lines() -> [String] {
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        // Only newline-terminated lines are complete.
        var parts = text.components(separatedBy: "\n")
        parts.removeLast()
        return parts
    }
    // Wait (bounded) for enough progress; this is a deadline for a hung child, not a timed assertion.
    let deadline = Date().addingTimeInterval(120)
    while lines().filter({ $0.hasPrefix("delivered ") }).count < killAfter && process.isRunning && Date() < deadline {
        usleep(2_000)
    }
    let wasRunning = process.isRunning
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    try output.close()
    let printed = lines()
    #expect(wasRunning, "the child stopped before it was killed: \(printed.suffix(3))")
    #expect(process.terminationReason == .uncaughtSignal)
    return printed
}

@Suite("Store: crash safety")
struct CrashTests {
    @Test func killMinusNineMidWayKeepsEveryInvariant() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        var printed: [String] = []
        let path = dir.path
        for killAfter in [7, 23, 41] {
            // The child runs for seconds on a loaded machine: waited for on a thread of its own, not on the
            // Swift concurrency pool (one thread per core) that the other suites' waits resume on.
            printed += try await onOwnThread { try runAndKill(directory: path, killAfter: killAfter) }
            try await checkInvariants(dir: dir, printed: printed)
        }
    }

    func checkInvariants(dir: TempDir, printed: [String]) async throws {
        // What the child saw committed must have survived.
        var delivered: [String: Int] = [:]
        var consumed: [Int64: Int] = [:]
        var paid: Set<String> = []
        var maxSeq: Int64 = 0
        for line in printed {
            let f = line.split(separator: " ").map(String.init)
            switch f.first {
            case "delivered": delivered[f[1]] = max(delivered[f[1]] ?? 0, Int(f[2])!)
            case "consumed": consumed[Int64(f[1])!] = max(consumed[Int64(f[1])!] ?? 0, Int(f[2])!)
            case "paid": paid.insert(f[1])
            case "seq": maxSeq = max(maxSeq, Int64(f[1])!)
            default: break
            }
        }
        #expect(!delivered.isEmpty)

        let store = try dir.open()
        defer { try? store.close() }
        for ref in paid {
            let order = try #require(try await store.order(paymentReferenceID: ref))
            #expect(order.state == .paid)
            let ledger = try #require(order.ledger)
            // No unit restored: at least what was printed is still delivered.
            #expect(ledger.delivered >= delivered[ref] ?? 0, "\(ref)")
            #expect(ledger.delivered + ledger.inFlight <= ledger.purchased)
        }
        for purchase in try await store.listPurchases() {
            #expect(purchase.purchase.delivered >= consumed[purchase.id] ?? 0)
            #expect(purchase.purchase.delivered + purchase.purchase.inFlight <= purchase.purchase.bought)
        }
        #expect(try await store.lastSeq() >= maxSeq)

        let db = try SQLiteConnection(path: dir.databasePath, readOnly: true)
        defer { try? db.close() }
        do {
            // The journal has no gap.
            let (n, lo, hi) = try #require(try db.queryOne("SELECT COUNT(*), COALESCE(MIN(seq), 1), COALESCE(MAX(seq), 0) FROM event") {
                ($0.int64(0), $0.int64(1), $0.int64(2))
            })
            #expect(lo == 1)
            #expect(n == hi)
            // At most one successful payment per payment reference, and paid orders match those events.
            let duplicates = try db.integer("""
                SELECT COUNT(*) FROM (SELECT json_extract(payload_json, '$.paymentReferenceId') AS r FROM event
                    WHERE type = 'producer.paymentSucceeded' GROUP BY r HAVING COUNT(*) > 1)
                """)
            #expect(duplicates == 0)
            let succeededEvents = try db.integer("SELECT COUNT(*) FROM event WHERE type = 'producer.paymentSucceeded'")
            let paidOrders = try db.integer("SELECT COUNT(*) FROM producer_order WHERE state = 'paid'")
            let tokens = try db.integer("SELECT COUNT(*) FROM producer_order WHERE token_key IS NOT NULL")
            #expect(succeededEvents == paidOrders)
            #expect(tokens == paidOrders)
            // Events and rows were committed together: the committed units in the journal add up to each ledger.
            let mismatches = try db.integer("""
                SELECT COUNT(*) FROM producer_order l LEFT JOIN (
                    SELECT json_extract(payload_json, '$.paymentReferenceId') AS r,
                           SUM(json_extract(payload_json, '$.unitsCommitted')) AS c
                    FROM event WHERE type = 'producer.deliveryEnded' GROUP BY r) e ON e.r = l.payment_reference_id
                WHERE l.purchased IS NOT NULL AND l.delivered <> COALESCE(e.c, 0)
                """)
            #expect(mismatches == 0)
            let consumerMismatches = try db.integer("""
                SELECT COUNT(*) FROM purchase p LEFT JOIN (
                    SELECT json_extract(payload_json, '$.purchaseId') AS id,
                           SUM(json_extract(payload_json, '$.unitsCommitted')) AS c
                    FROM event WHERE type = 'consumer.deliveryEnded' GROUP BY id) e ON e.id = p.id
                WHERE p.delivered <> COALESCE(e.c, 0)
                """)
            #expect(consumerMismatches == 0)
        }

        // Start-up reconciliation: pending orders become unknown, then settle (here: the gateway had no charge).
        for order in try await store.ordersNeedingReconciliation() {
            if order.state == .paymentPending {
                _ = try await store.recordPaymentOutcomeUnknown(paymentReferenceID: order.paymentReferenceID, reason: "restart", now: t0)
            }
            let failed = try await store.recordPaymentFailed(paymentReferenceID: order.paymentReferenceID, reason: "not found at gateway", now: t0)
            #expect(failed.value.state == .failed)
        }
        #expect(try await store.ordersNeedingReconciliation().isEmpty)
    }
}
