import Foundation
import Testing

/// The modules `wpwithind` is built from, none of which may import Foundation (issue: a daemon that fits on a
/// Thing). Tools, tests, the Swift client and the sandbox gateway may.
@Suite struct FoundationFreeModulesTests {
    static let foundationFree = [
        "WPWithinCore", "WPWithinCrypto", "WPWithinWire", "WPWithinRPC", "WPWithinHTTP", "WPWithinPeer",
        "WPWithinDiscovery", "WPWithinSQLite", "WPWithinStore", "WPWithinTLS", "WPWithinPayments",
        "WPWithinDaemon", "WPWithinMetrics", "WPWithinPostgres", "WPWithinFleet", "WPWithinDaemonMain", "wpwithind",
        "wpwithind-fleet",
    ]

    @Test(arguments: foundationFree)
    func importsNoFoundation(module: String) throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/\(module)")
        let files = (FileManager.default.enumerator(atPath: sources.path)?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".swift") }
        #expect(!files.isEmpty, "no sources found for \(module)")
        for file in files {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ").map(String.init)
                let imported = words.firstIndex(of: "import").map { words.indices.contains($0 + 1) ? words[$0 + 1] : "" }
                #expect(!(imported.map { $0.hasPrefix("Foundation") || $0 == "NIOFoundationCompat" } ?? false),
                        "\(module)/\(file): \(line)")
            }
        }
    }
}
