import Logging
import NIOConcurrencyHelpers

/// The process-wide log level, changeable at run time (SIGHUP reload).
public final class LogLevelControl: Sendable {
    private let box: NIOLockedValueBox<Logger.Level>

    public init(_ level: Logger.Level) {
        box = NIOLockedValueBox(level)
    }

    public var level: Logger.Level { box.withLockedValue { $0 } }

    public func set(_ level: Logger.Level) {
        box.withLockedValue { $0 = level }
    }

    /// A handler factory for `LoggingSystem.bootstrap`, filtered by this control's level: the journal's own
    /// fields when stderr is the journal (``JournalDestination/isJournalStream(environment:)``), else text
    /// lines on stderr.
    public func makeHandler(label: String, journal: Bool = false) -> any LogHandler {
        let destination: any LogHandler = journal ? JournalLogHandler(label: label) : StreamLogHandler.standardError(label: label)
        return LevelControlledHandler(wrapped: destination, control: self)
    }
}

/// Forwards to a handler when the message is at or above the control's current level.
struct LevelControlledHandler: LogHandler {
    var wrapped: any LogHandler
    let control: LogLevelControl

    var logLevel: Logger.Level {
        get { control.level }
        set { control.set(newValue) }
    }

    var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        guard event.level >= control.level else { return }
        wrapped.log(event: event)
    }
}
