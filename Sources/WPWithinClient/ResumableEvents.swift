import NIOCore
import WPWithinCore

extension WPWithinClient {
    /// Subscribes to the daemon's events with a stream that survives the daemon restarting.
    ///
    /// The stream has a connection of its own (to this client's socket path) and keeps the `seq` of the last
    /// event it delivered. A consumer slower than the events holds them back: the stream buffers
    /// `eventBufferLimit` of them, then stops reading its connection, and the daemon buffers
    /// `rpc.eventBufferPerSubscriber` more before it drops the subscription. When that connection drops (the
    /// daemon restarted or stopped) or the daemon sends `subscriptionLost`, it reconnects (trying again after 100 ms, doubling to 2 s, until the
    /// daemon is back or the stream is cancelled) and subscribes again with `resumeFrom` = that seq: every
    /// event is delivered exactly once, in `seq` order (the daemon's journal is durable, so seqs carry on
    /// across restarts; events older than its `rpc.eventJournalCapacity` are gone: `lastSubscription.truncated`).
    ///
    /// Returns once the daemon accepted the first `subscribe` (errors of that first attempt are thrown, such as
    /// an unknown type or no daemon). The stream ends normally when the iterating task is cancelled or on
    /// `close()`, and when it and its iterator are dropped; it fails only on an error that retrying cannot fix
    /// (the daemon refusing `subscribe`, a line over `maxLineLength`, a malformed message, permission denied)
    /// or when the daemon's journal went back behind the last seq (a state directory restored from a backup:
    /// `.subscriptionLost`; subscribe again with `resumeFrom: 0`). Iterate it from one task at a time.
    ///
    /// ```swift
    /// let stream = try await client.resumableEvents(types: ["producer.paymentSucceeded"])
    /// for try await event in stream { print(event.seq, event.type) }   // across daemon restarts
    /// ```
    ///
    /// `events(types:resumeFrom:)` is the plain stream on the client's connection, which ends on those.
    public func resumableEvents(types: [String]? = nil, resumeFrom: Int64? = nil) async throws -> ResumableEventStream {
        if let resumeFrom { try Self.checkRange("subscribe", "resumeFrom", resumeFrom, 0...Int64.max) }
        guard let path = lastSocketPath else { throw WPWithinClientError(.notConnected, "not connected: call connect(socketPath:) first") }
        let driver = ResumableEventDriver(
            path: path, types: types, cursor: resumeFrom,
            settings: .init(maxLineLength: maxLineLength, eventBufferLimit: eventBufferLimit, timeout: timeout, group: group)
        )
        try await driver.start()
        return ResumableEventStream(driver: driver)
    }
}

/// The events of `WPWithinClient.resumableEvents(types:resumeFrom:)`: each once, in seq order, across daemon
/// restarts and `subscriptionLost`.
public struct ResumableEventStream: AsyncSequence, Sendable {
    public typealias Element = WPWithinClient.Event
    public typealias Failure = any Error

    private let lifetime: Lifetime

    init(driver: ResumableEventDriver) {
        lifetime = Lifetime(driver: driver)
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(lifetime: lifetime)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate let lifetime: Lifetime

        public mutating func next() async throws -> WPWithinClient.Event? {
            try await lifetime.driver.next()
        }
    }

    /// The seq of the last event delivered (or the `resumeFrom` given, before the first).
    public var lastSeq: Int64? {
        get async { await lifetime.driver.cursor }
    }

    /// How many times the stream subscribed again after losing its subscription.
    public var resubscriptions: Int {
        get async { await lifetime.driver.resubscriptions }
    }

    /// The daemon's answer to the latest `subscribe` (`lastSeq`, `replayed`, `truncated`).
    public var lastSubscription: WPWithinClient.Subscription? {
        get async { await lifetime.driver.lastSubscription }
    }

    /// Ends the stream (a waiting `next` returns nil) and closes its connection.
    public func close() async {
        await lifetime.driver.close()
    }

    /// Closes the stream's connection once neither the stream nor an iterator of it is left.
    fileprivate final class Lifetime: Sendable {
        let driver: ResumableEventDriver

        init(driver: ResumableEventDriver) {
            self.driver = driver
        }

        deinit {
            let driver = self.driver
            Task { await driver.close() }
        }
    }
}

/// Subscribes, reads and resubscribes for a `ResumableEventStream`.
actor ResumableEventDriver {
    struct Settings: Sendable {
        var maxLineLength: Int
        var eventBufferLimit: Int
        var timeout: Duration?
        var group: any EventLoopGroup
    }

    static let firstDelay: Duration = .milliseconds(100)
    static let longestDelay: Duration = .seconds(2)

    let path: String
    let types: [String]?
    let settings: Settings
    /// The seq of the last event delivered; the next subscription resumes from it.
    private(set) var cursor: Int64?
    private(set) var resubscriptions = 0
    private(set) var lastSubscription: WPWithinClient.Subscription?
    private var client: WPWithinClient?
    private var iterator: AsyncThrowingStream<WPWithinClient.Event, any Error>.AsyncIterator?
    private var closed = false

    init(path: String, types: [String]?, cursor: Int64?, settings: Settings) {
        self.path = path
        self.types = types
        self.cursor = cursor
        self.settings = settings
    }

    /// An error that subscribing again cannot fix, though its code may look transient.
    private struct Final: Error {
        let error: WPWithinClientError
    }

    /// The first subscription: its errors are the caller's.
    func start() async throws {
        do {
            try await subscribe()
        } catch let final as Final {
            throw final.error
        }
    }

    func close() async {
        closed = true
        iterator = nil
        let client = self.client
        self.client = nil
        await client?.close()
    }

    /// One attempt: a new connection (no reconnecting of its own) and `subscribe` from the cursor.
    private func subscribe() async throws {
        await dropConnection()
        let client = WPWithinClient(
            maxLineLength: settings.maxLineLength, eventBufferLimit: settings.eventBufferLimit,
            timeout: settings.timeout, reconnect: false, eventLoopGroup: settings.group
        )
        self.client = client
        await client.holdBackEvents()
        do {
            try await client.connect(socketPath: path)
            let stream = try await client.events(types: types, resumeFrom: cursor)
            let subscription = await client.lastSubscription
            if let cursor, let newest = subscription?.lastSeq, newest < cursor {
                throw Final(
                    error: WPWithinClientError(
                        .subscriptionLost, socketPath: path,
                        "the daemon's event journal ends at seq \(newest), before this stream's last seq \(cursor) "
                            + "(a restored state directory?); subscribe again with resumeFrom: 0"
                    )
                )
            }
            lastSubscription = subscription
            guard !closed else {
                await dropConnection()
                return
            }
            iterator = stream.makeAsyncIterator()
        } catch {
            await dropConnection()
            throw error
        }
    }

    private func dropConnection() async {
        iterator = nil
        let client = self.client
        self.client = nil
        await client?.close()
    }

    func next() async throws -> WPWithinClient.Event? {
        var delay = Self.firstDelay
        while !closed {
            guard var current = iterator else {
                // Lost: subscribe again, after a pause when the last attempt failed.
                do {
                    try await subscribe()
                    resubscriptions += 1
                    delay = Self.firstDelay
                } catch where Self.isTransient(error) {
                    do {
                        try await Task.sleep(for: delay)
                    } catch {
                        await close()
                        return nil
                    }
                    delay = min(delay * 2, Self.longestDelay)
                } catch let final as Final {
                    await close()
                    throw final.error
                } catch {
                    await close()
                    throw error
                }
                continue
            }
            do {
                let event = try await current.next(isolation: #isolation)
                guard !closed else { return nil }
                guard let event else {
                    // Finished without an error: cancelled or closed.
                    await close()
                    return nil
                }
                iterator = current
                await client?.eventTaken()
                if let cursor, event.seq <= cursor { continue }
                cursor = event.seq
                return event
            } catch where Self.isTransient(error) {
                guard !closed else { return nil }
                await dropConnection()
                if Task.isCancelled {
                    await close()
                    return nil
                }
            } catch {
                guard !closed else { return nil }
                await close()
                throw error
            }
        }
        return nil
    }

    /// Errors after which subscribing again is worth it: the daemon is away, restarting or busy, or events
    /// were lost on the way (the cursor says where to resume).
    static func isTransient(_ error: any Error) -> Bool {
        if let error = error as? WPWithinClientError {
            return [.noSuchSocket, .connectionRefused, .connectFailed, .connectionClosed, .timeout, .subscriptionLost]
                .contains(error.code)
        }
        if let error = error as? WPWError { return error.code == .unavailable || error.code == .overloaded }
        return false
    }
}
