import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import WPWithinCore
import WPWithinWire

/// The producer's presence broadcast (PROTOCOL.md §1.2): Go's datagram, every `interval`, to the
/// configured destination, from one socket for the whole broadcast (Go opens and leaks one per datagram).
///
/// `start(timeout:)` and `stop()` are idempotent and may be called concurrently. As a
/// `ServiceLifecycle.Service`, `run()` owns the broadcaster's lifetime: it returns on graceful shutdown
/// or cancellation after stopping any broadcast, and later `start` calls are refused, so no task or
/// socket outlives the service.
public actor DiscoveryBroadcaster: ServiceLifecycle.Service, CustomStringConvertible {
    public nonisolated var description: String { "DiscoveryBroadcaster" }

    private typealias Envelope = AddressedEnvelope<ByteBuffer>

    private struct Running {
        var generation: UInt64
        var task: Task<Void, Never>
        var deadline: Deadline
    }

    /// Shared with the send loop so a repeated `start` can move the deadline of the running loop.
    private final class Deadline: Sendable {
        private struct State {
            var deadline: ContinuousClock.Instant?
            var ended = false
        }
        private let box: NIOLockedValueBox<State>

        init(_ deadline: ContinuousClock.Instant?) { box = NIOLockedValueBox(State(deadline: deadline)) }

        /// The loop asks before each datagram; once it says true, the loop has committed to ending.
        func expired(now: ContinuousClock.Instant = .now) -> Bool {
            box.withLockedValue { state in
                if let end = state.deadline, now >= end { state.ended = true }
                return state.ended
            }
        }

        /// Moves the deadline of a loop that has not committed to ending; false when it has.
        func extend(to deadline: ContinuousClock.Instant?) -> Bool {
            box.withLockedValue { state in
                guard !state.ended else { return false }
                state.deadline = deadline
                return true
            }
        }
    }

    private let configuration: BroadcasterConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private var message: BroadcastMessage
    private var running: Running?
    private var generation: UInt64 = 0
    private var gate = SerialGate()
    private var isShutDown = false
    private var sent: UInt64 = 0

    public init(
        message: BroadcastMessage,
        configuration: BroadcasterConfiguration = .init(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.message = message
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    /// True while datagrams are going out.
    public var isBroadcasting: Bool { running != nil }

    /// Datagrams sent since this broadcaster was created.
    public var datagramsSent: UInt64 { sent }

    /// The message as it is (or will be) broadcast.
    public var currentMessage: BroadcastMessage { message }

    /// Replaces the message; a running broadcast sends the new one from its next datagram on.
    /// Throws when it would not fit a Go scanner's buffer.
    public func update(message: BroadcastMessage) throws {
        _ = try message.datagram()
        self.message = message
    }

    /// Starts broadcasting: the first datagram goes out before this returns, then one every interval.
    /// `timeout` of zero (the default) broadcasts until `stop()`; otherwise the broadcast ends by
    /// itself after `timeout`. Calling it while broadcasting keeps the one loop and socket and moves
    /// the deadline to `timeout` from now.
    ///
    /// Throws `WPWError(.invalidParams)` for a bad configuration, message or timeout, `.unavailable`
    /// after shutdown, and `.internalError` when the socket cannot be opened.
    public func start(timeout: Duration = .zero) async throws {
        guard timeout >= .zero else { throw WPWError.invalidParams(field: "timeout", "timeout must not be negative") }
        try await serialised { try await self.startLocked(timeout: timeout) }
    }

    /// Stops broadcasting and closes the socket; returns once the send loop has ended. Idempotent.
    public func stop() async {
        try? await serialised { await self.stopLocked() }
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Stops any broadcast and refuses later `start` calls.
    public func shutdown() async {
        isShutDown = true
        await stop()
    }

    // MARK: - Internals

    private func serialised(_ body: () async throws -> Void) async throws {
        if !gate.tryEnter() {
            await withCheckedContinuation { gate.enqueue($0) }
        }
        defer { gate.leave() }
        try await body()
    }

    private func startLocked(timeout: Duration) async throws {
        guard !isShutDown else { throw WPWError(.unavailable, "the broadcaster is shut down") }
        let deadline: ContinuousClock.Instant? = timeout == .zero ? nil : .now + timeout
        if let running {
            if running.deadline.extend(to: deadline) {
                logger.debug("Broadcast already running; deadline moved", metadata: ["timeout": "\(timeout)"])
                return
            }
            // The loop is ending by itself: let it finish, then start afresh.
            await running.task.value
            if self.running?.generation == running.generation { self.running = nil }
        }
        let payload = try datagramBytes()
        let destination = try SocketSupport.ipv4(configuration.destinationHost, port: configuration.destinationPort, field: "destinationHost")
        let source: SocketAddress
        switch configuration.source {
        case .any: source = try SocketSupport.ipv4("0.0.0.0", port: configuration.sourcePort, field: "source")
        case .address(let host): source = try SocketSupport.ipv4(host, port: configuration.sourcePort, field: "source")
        case .interface(let name): source = try SocketSupport.ipv4(ofInterface: name, port: configuration.sourcePort)
        }

        let channel: NIOAsyncChannel<Envelope, Envelope>
        do {
            channel = try await DatagramBootstrap(group: eventLoopGroup)
                .channelOption(.socketOption(.so_broadcast), value: 1)
                .bind(to: source) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<Envelope, Envelope>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            logger.error("Cannot open the broadcast socket", metadata: ["source": "\(source)", "error": "\(error)"])
            throw WPWError(.internalError, "cannot open the broadcast socket on \(source): \(error)")
        }

        // The first datagram goes out before `start` returns, so a send error reaches the caller.
        do {
            try await channel.channel.writeAndFlush(Envelope(remoteAddress: destination, data: ByteBuffer(bytes: payload)))
            sent += 1
        } catch {
            try? await channel.channel.close()
            logger.error("Cannot send the broadcast datagram", metadata: ["destination": "\(destination)", "error": "\(error)"])
            throw WPWError(.internalError, "cannot send to \(destination): \(error)")
        }

        generation += 1
        let generation = generation
        let state = Deadline(deadline)
        let interval = configuration.interval
        let logger = logger
        let task = Task {
            await Self.sendLoop(broadcaster: self, channel: channel, destination: destination, interval: interval, deadline: state, logger: logger)
            self.loopEnded(generation: generation)
        }
        running = Running(generation: generation, task: task, deadline: state)
        logger.info(
            "Broadcast started",
            metadata: ["source": "\(channel.channel.localAddress.map { "\($0)" } ?? "?")", "destination": "\(destination)", "timeout": "\(timeout)"])
    }

    private func stopLocked() async {
        guard let running else { return }
        running.task.cancel()
        await running.task.value
        if self.running?.generation == running.generation { self.running = nil }
        logger.info("Broadcast stopped")
    }

    private func loopEnded(generation: UInt64) {
        if running?.generation == generation { running = nil }
    }

    private func datagramBytes() throws -> [UInt8] {
        do {
            return try message.datagram()
        } catch {
            throw WPWError.invalidParams(field: "message", "the broadcast message cannot be encoded: \(error)")
        }
    }

    private func currentDatagram() -> ByteBuffer? {
        guard let bytes = try? message.datagram() else { return nil }
        return ByteBuffer(bytes: bytes)
    }

    private func recordSent() { sent += 1 }

    private static func sendLoop(
        broadcaster: DiscoveryBroadcaster, channel: NIOAsyncChannel<Envelope, Envelope>, destination: SocketAddress,
        interval: Duration, deadline: Deadline, logger: Logger
    ) async {
        do {
            try await channel.executeThenClose { _, outbound in
                while true {
                    if deadline.expired() { break }
                    try await Task.sleep(for: interval)
                    if deadline.expired() { break }
                    guard let data = await broadcaster.currentDatagram() else { continue }
                    do {
                        try await outbound.write(Envelope(remoteAddress: destination, data: data))
                        await broadcaster.recordSent()
                    } catch {
                        guard channel.channel.isActive else { throw error }
                        // A transient send error (no route, interface down): log and keep going.
                        logger.warning("Broadcast send failed", metadata: ["destination": "\(destination)", "error": "\(error)"])
                    }
                }
            }
            logger.debug("Broadcast loop ended")
        } catch is CancellationError {
            logger.debug("Broadcast loop cancelled")
        } catch {
            logger.warning("Broadcast loop ended with an error", metadata: ["error": "\(error)"])
        }
    }
}
