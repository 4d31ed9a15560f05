#if canImport(Glibc)
import Glibc
#endif
import WPWithinCore

/// An append-only file of JSON objects, one a line (the state file and the audit log).
///
/// Opening it reads every complete line and cuts off a half-written last line (a `kill -9` or a full disk in
/// the middle of a write), so the next record starts on a line of its own. A line that is complete but is not
/// a JSON object is an error: the file was damaged by something else and the sandbox refuses to guess.
/// ``append(_:)`` writes the whole line and, when `durable`, fsyncs it before returning; a failed write is
/// cut back off, so the file never keeps half a record.
final class SandboxJSONLFile {
    let path: String
    private let fd: Int32
    private let durable: Bool
    /// Bytes of complete lines in the file.
    private var size: Int

    /// The complete records found when the file was opened (oldest first).
    private(set) var records: [JSONValue] = []
    /// How many bytes of a half-written last line were cut off when the file was opened.
    private(set) var droppedBytes = 0

    init(path: String, durable: Bool) throws {
        self.path = path
        self.durable = durable
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SandboxJSONLFile.error("cannot open", path, errno) }
        self.fd = fd
        self.size = 0
        do {
            try load()
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    private func load() throws {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SandboxJSONLFile.error("cannot read", path, errno)
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[..<count])
        }
        var lineStart = 0
        var lineNumber = 0
        for index in bytes.indices where bytes[index] == UInt8(ascii: "\n") {
            lineNumber += 1
            let line = bytes[lineStart..<index]
            lineStart = index + 1
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { continue }
            guard let value = try? JSONValue.parse(line), value.objectValue != nil else {
                throw WPWError(
                    .invalidParams, "damaged line \(lineNumber) in \(path)",
                    data: ["path": .string(path), "line": .int(Int64(lineNumber))]
                )
            }
            records.append(value)
        }
        size = lineStart
        droppedBytes = bytes.count - lineStart
        if droppedBytes > 0 {
            guard ftruncate(fd, off_t(size)) == 0 else { throw SandboxJSONLFile.error("cannot truncate", path, errno) }
            if durable { fsync(fd) }
        }
    }

    /// Appends `record` as one line; durable files are fsynced before this returns.
    func append(_ record: JSONValue) throws {
        var line = record.serialized()
        line.append(UInt8(ascii: "\n"))
        var written = 0
        while written < line.count {
            let count = line[written...].withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(size + written)) }
            if count < 0 {
                if errno == EINTR { continue }
                let code = errno
                _ = ftruncate(fd, off_t(size))
                throw SandboxJSONLFile.error("cannot write", path, code)
            }
            written += count
        }
        if durable, fsync(fd) != 0 {
            let code = errno
            _ = ftruncate(fd, off_t(size))
            throw SandboxJSONLFile.error("cannot fsync", path, code)
        }
        size += line.count
    }

    private static func error(_ what: String, _ path: String, _ code: Int32) -> WPWError {
        let reason = String(cString: strerror(code))
        return WPWError(.internalError, "\(what) \(path): \(reason)", data: ["path": .string(path), "errno": .int(Int64(code))])
    }
}
