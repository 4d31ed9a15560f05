import Foundation
import Logging

/// A logger whose entries the test can read.
public final class LogCapture: @unchecked Sendable {
    // @unchecked: `entries` is behind `lock`.
    public struct Entry: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]
    }

    private let lock = NSLock()
    private var entries: [Entry] = []

    public init() {}

    /// A logger (level trace) writing into this capture.
    public var logger: Logger {
        Logger(label: "test") { _ in Handler(capture: self) }
    }

    public var all: [Entry] { lock.withLock { entries } }

    /// The entries with this (constant) message.
    public func entries(_ message: String) -> [Entry] { all.filter { $0.message == message } }

    fileprivate func append(_ entry: Entry) { lock.withLock { entries.append(entry) } }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged: [String: String] = [:]
            for (key, value) in metadata { merged[key] = "\(value)" }
            for (key, value) in event.metadata ?? [:] { merged[key] = "\(value)" }
            capture.append(Entry(level: event.level, message: "\(event.message)", metadata: merged))
        }
    }
}
