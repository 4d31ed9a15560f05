#if canImport(Glibc)
import Glibc
#endif

/// The process's environment and standard error without Foundation (`environ`, `write(2)`).
public enum ProcessEnvironment {
    /// Every variable, read from `environ` now (a reload sees what the process has then). A name that
    /// appears twice keeps its first value, as `getenv` does.
    public static func current() -> [String: String] {
        var variables: [String: String] = [:]
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            if let equals = text.firstIndex(of: "="), variables[String(text[..<equals])] == nil {
                variables[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            entry += 1
        }
        return variables
    }

    /// Writes one line to standard error (for messages before logging is set up).
    public static func writeErrorLine(_ line: String) { writeLine(line, to: STDERR_FILENO) }

    /// Writes one line to standard output (`--help`, `--version`, `--check-config`'s summary).
    public static func writeOutputLine(_ line: String) { writeLine(line, to: STDOUT_FILENO) }

    private static func writeLine(_ line: String, to descriptor: Int32) {
        var bytes = Array((line + "\n").utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }

    /// Whether something exists at `path`.
    public static func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }
}
