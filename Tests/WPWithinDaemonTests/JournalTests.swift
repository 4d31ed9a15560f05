#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WPWithinCore
import WPWithinSQLite
import WPWithinTestSupport
import Logging
@testable import WPWithinDaemon

/// A datagram socket standing in for journald's `/run/systemd/journal/socket`: a daemon started through
/// ``wrapper`` sees it there (a mount namespace with a tmpfs over /run and this directory bound in), and
/// libsystemd's `sd_journal_sendv` delivers its entries here in the journal's native protocol.
final class JournalStandIn: @unchecked Sendable {
    /// What the reading thread collected, and whether it should go on.
    private final class Inbox: @unchecked Sendable {
        let lock = NSLock()
        var datagrams: [[UInt8]] = []
        var running = true
        var isRunning: Bool { lock.withLock { running } }
        func append(_ datagram: [UInt8]) { lock.withLock { datagrams.append(datagram) } }
    }

    let directory: String
    private let fd: Int32
    private let inbox = Inbox()
    private let reader: Thread

    init(directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/socket"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw HarnessError("bind \(path): \(String(cString: strerror(errno)))") }
        chmod(path, 0o666)
        self.fd = fd
        // Read all the time: the daemon's sendmsg blocks once the socket's small queue is full.
        let inbox = self.inbox
        reader = Thread {
            var chunk = [UInt8](repeating: 0, count: 256 * 1024)
            while inbox.isRunning {
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&pfd, 1, 50) > 0 else { continue }
                let count = recv(fd, &chunk, chunk.count, 0)
                if count > 0 { inbox.append(Array(chunk[..<count])) }
            }
        }
        reader.start()
    }

    /// `unshare -m -- sh -c '…' DIR wpwithind ARGS…`: the daemon runs with this socket as the journal's.
    var wrapper: [String] {
        ["/usr/bin/unshare", "-m", "--", "/bin/sh", "-c",
         #"mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && mount --bind "$0" /run/systemd/journal && exec "$@""#,
         directory]
    }

    /// Stops reading; every entry received, each as its fields in the order sent.
    func stop() -> [[(String, String)]] {
        inbox.lock.withLock { inbox.running = false }
        while !reader.isFinished { usleep(10_000) }
        close(fd)
        return inbox.lock.withLock { inbox.datagrams }.map(Self.parse)
    }

    /// The native protocol: `NAME=value\n`, or `NAME\n` + 64-bit little-endian length + value + `\n`.
    static func parse(_ datagram: [UInt8]) -> [(String, String)] {
        var fields: [(String, String)] = []
        var index = 0
        while index < datagram.count {
            guard let newline = datagram[index...].firstIndex(of: 0x0A) else { break }
            let line = datagram[index..<newline]
            if let equals = line.firstIndex(of: UInt8(ascii: "=")) {
                fields.append((String(decoding: line[..<equals], as: UTF8.self), String(decoding: line[(equals + 1)...], as: UTF8.self)))
                index = newline + 1
            } else {
                let name = String(decoding: line, as: UTF8.self)
                var length = 0
                for k in 0..<8 { length |= Int(datagram[newline + 1 + k]) << (8 * k) }
                let start = newline + 9
                fields.append((name, String(decoding: datagram[start..<(start + length)], as: UTF8.self)))
                index = start + length + 1
            }
        }
        return fields
    }
}

/// Logs for the journal (issue 12, item 3), on real daemons: under systemd (stderr is the journal stream)
/// every money or unit transition is an entry of its own with `PRIORITY`, `MESSAGE` first and its data as
/// fields; no secret reaches it. Needs root (a mount namespace), as CI runs the suite.
@Suite(.enabled(if: TmpfsVolume.canMount && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")))
struct JournalTests {
    @Test func aPurchaseUnderSystemdIsInTheJournalFieldByField() async throws {
        let market = try await Market()
        let dir = try TempDir()
        let journal = try JournalStandIn(directory: dir.file("journal"))
        let producer = try await market.startProducer(wrapper: journal.wrapper, journalStream: true)
        let consumer = try await market.startConsumer(wrapper: journal.wrapper, journalStream: true)
        let p = try RawClient(path: producer.socketPath)
        let c = try RawClient(path: consumer.socketPath)
        let serverId = try await #require(try p.result("getDevice")["serverId"]?.stringValue)
        _ = try await p.result("startServiceBroadcast")
        _ = try await c.result("searchForDevice", ["serverId": .string(serverId), "timeoutMs": 30_000])
        let quote = try await c.result("selectService", ["serverId": .string(serverId), "serviceId": 1, "priceId": 1, "numberOfUnits": 2])
        let reference = try #require(quote["paymentReferenceId"]?.stringValue)
        let purchase = try await c.result("makePayment", ["paymentReferenceId": .string(reference)])
        let purchaseId = try #require(purchase["purchaseId"]?.int64Value)
        _ = try await c.result("beginServiceDelivery", ["purchaseId": .int(purchaseId), "units": 2])
        _ = try await c.result("endServiceDelivery", ["purchaseId": .int(purchaseId), "unitsReceived": 2])
        #expect(try await producer.stop() == 0)
        #expect(try await consumer.stop() == 0)
        await market.stop()
        let entries = journal.stop()

        func entry(_ type: String) -> [String: String]? {
            entries.map { Dictionary($0, uniquingKeysWith: { first, _ in first }) }.first { $0["EVENT_TYPE"] == type }
        }
        // Every money and unit transition of both sides, at info, with the reference or the purchase.
        let charged = try #require(entry("producer.paymentSucceeded"), "\(entries.count) entries")
        #expect(charged["MESSAGE"] == "Payment charged")
        #expect(charged["PRIORITY"] == "6")
        #expect(charged["PAYMENT_REFERENCE"] == reference)
        #expect(charged["PAYMENT_ORDERCODE"]?.isEmpty == false)
        #expect(charged["PAYMENT_AMOUNT"] == "1000" && charged["PAYMENT_CURRENCY"] == "GBP")
        #expect(charged["SYSLOG_IDENTIFIER"] == "wpwithind")
        let recorded = try #require(entry("consumer.purchaseRecorded"))
        #expect(recorded["MESSAGE"] == "Purchase recorded" && recorded["PAYMENT_REFERENCE"] == reference)
        #expect(recorded["PURCHASE_ID"] == String(purchaseId))
        for type in ["producer.paymentStarted", "producer.deliveryBegun", "producer.deliveryEnded",
                     "consumer.deliveryBegun", "consumer.deliveryEnded"] {
            let logged = try #require(entry(type), "no journal entry for \(type)")
            #expect(logged["PRIORITY"] == "6")
            #expect(logged["PAYMENT_REFERENCE"] == reference || logged["PURCHASE_ID"] == String(purchaseId), "\(logged)")
        }
        // The journal's conventions: MESSAGE first, a valid PRIORITY, no field the journal reserves.
        for fields in entries {
            #expect(fields.first?.0 == "MESSAGE", "\(fields)")
            #expect(fields.contains { $0.0 == "PRIORITY" && (0...7).map(String.init).contains($0.1) })
            #expect(!fields.contains { $0.0.hasPrefix("_") })
        }
        #expect(entries.contains { $0.contains { $0.0 == "PRIORITY" && $0.1 == "7" } }, "debug entries (the harness runs --log-level debug)")

        // No secret in any entry: not the card number, not the delivery token's key.
        let db = try SQLiteConnection(path: consumer.stateDir + "/wpwithin.sqlite", readOnly: true)
        let tokenKey = try #require(try db.text("SELECT token_key FROM purchase WHERE id = ?", [purchaseId]))
        try db.close()
        let everything = entries.flatMap { $0.map { "\($0.0)=\($0.1)" } }.joined(separator: "\n")
        #expect(!everything.contains(Market.testPAN))
        #expect(!everything.contains(tokenKey))
        // Nothing went to stderr as text lines: the journal took it all.
        #expect(!producer.log.contains("Payment charged") && !consumer.log.contains("Purchase recorded"))
    }
}

/// Without the journal (a terminal, a file, or a JOURNAL_STREAM that names another file: inherited, not
/// ours) the text lines stay as they were.
@Suite struct LogDestinationTests {
    @Test func aJournalStreamThatIsNotStderrKeepsTextLines() async throws {
        let dir = try TempDir()
        let daemon = try DaemonProcess(dir: dir, environment: ["JOURNAL_STREAM": "1:1"])
        try await daemon.waitUntilListening()
        #expect(try await daemon.stop() == 0)
        #expect(daemon.log.contains("info wpwithind:") && daemon.log.contains("Daemon ready"), "\(daemon.log)")
    }
}

/// Metadata keys as journal field names, and levels as syslog priorities.
@Suite struct JournalFieldTests {
    @Test func keysBecomeJournalFieldNames() {
        #expect(JournalLogHandler.fieldName("payment.reference") == "PAYMENT_REFERENCE")
        #expect(JournalLogHandler.fieldName("delivery.unitsGranted") == "DELIVERY_UNITSGRANTED")
        #expect(JournalLogHandler.fieldName("_hidden") == "HIDDEN")  // `_` fields are the journal's own
        #expect(JournalLogHandler.fieldName("9lives") == nil)
        #expect(JournalLogHandler.fieldName("...") == nil)
        #expect(JournalLogHandler.fieldName("message") == "WPW_MESSAGE")  // never overrides MESSAGE
        #expect(JournalLogHandler.fieldName(String(repeating: "a", count: 100))?.count == 64)
        #expect([Logger.Level.critical, .error, .warning, .notice, .info, .debug, .trace].map(JournalLogHandler.priority) == [2, 3, 4, 5, 6, 7, 7])
    }
}
