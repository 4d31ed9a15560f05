#if canImport(Glibc)
import Glibc
#endif
import CSystemd
import Logging

/// Log entries for the systemd journal through libsystemd (`sd_journal_sendv`): `MESSAGE` first, the
/// syslog `PRIORITY` of the level, `SYSLOG_IDENTIFIER=wpwithind`, the code location, and every metadata key
/// as a journal field of its own (`payment.reference` → `PAYMENT_REFERENCE`), so
/// `journalctl -u wpwithind -p warning` and `journalctl PAYMENT_REFERENCE=…` work. Chosen when the daemon's
/// stderr is the journal's stream (`JournalDestination.isJournalStream`); a terminal keeps the text format.
struct JournalLogHandler: LogHandler {
    let label: String
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace  // `LevelControlledHandler` filters

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        if Self.send(Self.fields(event: event, handlerMetadata: metadata, label: label)) < 0 {
            // No journal to take it (its socket gone): the line goes to stderr, as without systemd.
            ProcessEnvironment.writeErrorLine("\(event.level) \(label): \(event.message)")
        }
    }

    /// The entry's fields, `MESSAGE` first; metadata of the call overrides the handler's.
    static func fields(event: LogEvent, handlerMetadata: Logger.Metadata, label: String) -> [String] {
        var fields = [
            "MESSAGE=\(event.message)",
            "PRIORITY=\(priority(event.level))",
            "SYSLOG_IDENTIFIER=wpwithind",
            "WPW_LOGGER=\(label)",
            "CODE_FILE=\(event.file)",
            "CODE_LINE=\(event.line)",
            "CODE_FUNC=\(event.function)",
        ]
        var merged = handlerMetadata
        if let metadata = event.metadata { merged.merge(metadata) { $1 } }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            guard let name = fieldName(key) else { continue }
            fields.append("\(name)=\(value)")
        }
        return fields
    }

    /// syslog priorities: critical 2, error 3, warning 4, notice 5, info 6, debug and trace 7.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .critical: 2
        case .error: 3
        case .warning: 4
        case .notice: 5
        case .info: 6
        case .debug, .trace: 7
        }
    }

    /// A metadata key as a journal field name: upper case, every other character `_`, at most 64, not starting
    /// with `_` (reserved for the journal's trusted fields) or a digit. Nil when nothing is left.
    static func fieldName(_ key: String) -> String? {
        var name = String(key.unicodeScalars.map { scalar -> Character in
            switch scalar.value {
            case 0x61...0x7A: Character(Unicode.Scalar(scalar.value - 0x20)!)
            case 0x41...0x5A, 0x30...0x39: Character(scalar)
            default: "_"
            }
        }.prefix(64))
        while name.first == "_" { name.removeFirst() }
        guard let first = name.first, !first.isNumber else { return nil }
        // Names the journal itself sets are not ours to write.
        if ["MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE", "CODE_FUNC"].contains(name) { return "WPW_" + name }
        return name
    }

    /// `sd_journal_sendv` of `FIELD=value` strings (values may hold newlines: libsystemd sends them in its
    /// binary-safe form). Returns its result (negative errno on failure).
    static func send(_ fields: [String]) -> Int32 {
        // One buffer for all fields, and the vectors pointing into it while it is pinned.
        var bytes: [UInt8] = []
        var bounds: [(start: Int, count: Int)] = []
        bounds.reserveCapacity(fields.count)
        for field in fields {
            let start = bytes.count
            bytes.append(contentsOf: field.utf8)
            bounds.append((start, bytes.count - start))
        }
        return bytes.withUnsafeMutableBytes { buffer in
            var vectors = bounds.map { iovec(iov_base: buffer.baseAddress! + $0.start, iov_len: $0.count) }
            return sd_journal_sendv(&vectors, Int32(vectors.count))
        }
    }
}

/// Where the daemon's log goes.
public enum JournalDestination {
    /// True when systemd connected stderr to the journal: `JOURNAL_STREAM` (`DEVICE:INODE`) names the file
    /// stderr is (systemd's advice: compare, since a child may inherit the variable but not the stream).
    public static func isJournalStream(environment: [String: String]) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var status = stat()
        guard fstat(STDERR_FILENO, &status) == 0 else { return false }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode
    }
}
