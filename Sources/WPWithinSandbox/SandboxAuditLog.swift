import Foundation
import WPWithinCore

/// An append-only JSONL audit log of what the sandbox did: one JSON object per line.
///
/// Card numbers appear only masked (`************1111`); the CVC and the service key are never written.
/// The file is created with mode 0600.
public actor SandboxAuditLog {
    private let handle: FileHandle

    public init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw WPWError(.invalidParams, "cannot create audit log \(path)", data: ["path": .string(path)])
            }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw WPWError(.invalidParams, "cannot open audit log \(path)", data: ["path": .string(path)])
        }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    /// Appends `{"ts":…,"event":…, …fields}` as one line (keys sorted; `ts` UTC with milliseconds).
    public func record(_ event: String, _ fields: [String: JSONValue]) {
        var object = fields
        object["event"] = .string(event)
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        object["ts"] = .string(Instant(secondsSinceEpoch: Int64(now.tv_sec), nanoseconds: Int32(now.tv_nsec)).rfc3339Milliseconds)
        var line = JSONValue.object(object).serialized()
        line.append(UInt8(ascii: "\n"))
        handle.write(Data(line))
    }

    deinit { try? handle.close() }
}
