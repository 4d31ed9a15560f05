import Foundation
import WPWithinSQLite
import Logging
import Testing
import WPWithinCore
import WPWithinStore

let quietLogger = Logger(label: "store-tests", factory: { _ in SwiftLogNoOpLogHandler() })

/// A fresh temporary directory, removed by `cleanup()`.
struct TempDir {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "wpw-store-" + UUID().uuidString.lowercased()
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    var databasePath: String { path + "/" + Store.fileName }

    func open(_ configuration: StoreConfiguration = StoreConfiguration()) throws -> Store {
        try Store.open(directory: path, configuration: configuration, logger: quietLogger)
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

let t0 = Instant(secondsSinceEpoch: 1_800_000_000)

func at(_ seconds: Int64) -> Instant { Instant(secondsSinceEpoch: t0.secondsSinceEpoch + seconds) }

func washService(stock: Int? = nil, id: Int = 1) throws -> Service {
    try Service(id: id, name: "RoboWash", description: "Car wash", serviceType: "wash", prices: [
        try Price(id: 1, description: "per wash", amount: 500, currencyCode: "GBP", unitID: 1, unitDescription: "wash", stock: stock),
        try Price(id: 2, description: "premium", amount: 900, currencyCode: "GBP", unitID: 1, unitDescription: "wash"),
    ])
}

/// Every row of every table (and SQLite's AUTOINCREMENT counters), read through a separate read-only
/// connection, as text. Two dumps are equal iff nothing visible changed.
func dump(_ path: String) throws -> [String: [String]] {
    let db = try SQLiteConnection(path: path, readOnly: true)
    defer { try? db.close() }
    var out: [String: [String]] = [:]
    for (table, sql) in try db.query("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name", [], { ($0.text(0), $0.text(1)) }) {
        // A WITHOUT ROWID table has no rowid: its first column is its key.
        let order = sql.hasSuffix("WITHOUT ROWID") ? "1" : "rowid"
        out[table] = try db.prepare("SELECT * FROM \"\(table)\" ORDER BY \(order)").query { row in
            (0..<row.columnCount).map { "\(row.columnName($0))=\(row.value($0))" }.joined(separator: " ")
        }
    }
    return out
}

/// Runs `operation`, expects it to throw a `WPWError` with `code`, and checks that no row changed.
func expectRefused(
    _ code: WPWError.Code, in dir: TempDir, sourceLocation: SourceLocation = #_sourceLocation,
    _ operation: () async throws -> Void
) async throws {
    let before = try dump(dir.databasePath)
    do {
        try await operation()
        Issue.record("expected \(code) but the operation succeeded", sourceLocation: sourceLocation)
    } catch let error as WPWError {
        #expect(error.code == code, "got \(error)", sourceLocation: sourceLocation)
    }
    let after = try dump(dir.databasePath)
    #expect(before == after, "a refused operation changed rows", sourceLocation: sourceLocation)
}

/// Pays for a fresh quote and returns the paid order.
func paidOrder(
    _ store: Store, units: Int = 5, clientID: String = "client-a", serviceID: Int = 1, priceID: Int = 1,
    now: Instant = t0
) async throws -> Order {
    let quote = try await store.createQuote(serviceID: serviceID, priceID: priceID, units: units, clientID: clientID, now: now).value
    guard case .charge = try await store.startPayment(paymentReferenceID: quote.paymentReferenceID, clientID: clientID, now: now).value else {
        throw WPWError(.internalError, "expected a charge")
    }
    return try await store.recordPaymentSucceeded(
        paymentReferenceID: quote.paymentReferenceID, pspOrderCode: "psp-\(quote.paymentReferenceID)",
        tokenTTL: .seconds(3600), now: now).value
}

/// The directory holding the built products (the test binary and the `wpw-store-crashtest` executable).
func productsDirectory() -> String {
    if let override = ProcessInfo.processInfo.environment["WPW_PRODUCTS_DIR"] { return override }
    #if os(Linux)
    if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        return (exe as NSString).deletingLastPathComponent
    }
    #endif
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
        return (bundle.bundlePath as NSString).deletingLastPathComponent
    }
    return (CommandLine.arguments[0] as NSString).deletingLastPathComponent
}
