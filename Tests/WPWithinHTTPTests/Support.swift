import Foundation
import Logging
import NIOCore

/// Thread-safe list for values reported from handlers.
final class Reports<Value: Sendable>: @unchecked Sendable {
    // @unchecked: `items` is behind `lock`.
    private let lock = NSLock()
    private var items: [Value] = []
    func append(_ value: Value) { lock.withLock { items.append(value) } }
    var all: [Value] { lock.withLock { items } }
}

/// Records the close modes asked of the channel; a half close (`.output`) is recorded and not passed on,
/// because `EmbeddedChannel` would close entirely.
final class CloseRecorder: ChannelOutboundHandler {
    typealias OutboundIn = NIOAny
    private(set) var modes: [CloseMode] = []

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        modes.append(mode)
        if mode == .output {
            promise?.succeed(())
        } else {
            context.close(mode: mode, promise: promise)
        }
    }
}

/// Polls `condition` until it holds (a hang guard of `limit`, not a timing assertion).
func eventually(limit: Duration = .seconds(30), _ what: String, _ condition: () throws -> Bool) async throws {
    let end = ContinuousClock.now + limit
    while try !condition() {
        guard ContinuousClock.now < end else { throw Hang(what: what, limit: limit) }
        try await Task.sleep(for: .milliseconds(20))
    }
}

struct Hang: Error, CustomStringConvertible {
    var what: String
    var limit: Duration
    var description: String { "\(what): not reached within \(limit)" }
}
