import Foundation
import WPWithinCore

/// An append-only JSONL audit log of what the sandbox did: one JSON object per line.
///
/// Card numbers appear only masked (`************1111`); the CVC and the service key are never written.
/// The file is created with mode 0600.
public actor SandboxAuditLog {
    private let handle: FileHandle
    private let encoder: JSONEncoder

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
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        self.encoder = encoder
    }

    /// Appends `{"ts":…,"event":…, …fields}` as one line.
    public func record(_ event: String, _ fields: [String: JSONValue]) {
        var object = fields
        object["event"] = .string(event)
        object["ts"] = .string(Date().formatted(.iso8601))
        guard var line = try? encoder.encode(JSONValue.object(object)) else { return }
        line.append(UInt8(ascii: "\n"))
        handle.write(line)
    }

    deinit { try? handle.close() }
}
