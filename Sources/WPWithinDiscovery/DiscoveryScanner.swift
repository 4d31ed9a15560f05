import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import WPWithinCore
import WPWithinWire

/// The consumer side of discovery (PROTOCOL.md §1.4): one UDP socket on the discovery port, shared
/// with other scanners on the host (`SO_REUSEADDR`, optionally `SO_REUSEPORT`), feeding a table of
/// devices (one per serverID).
///
/// Socket lifetime: the socket is bound by `start()` or by the first query and stays bound until
/// `stop()` or shutdown. Keeping it bound is what makes the `discoveries()` event stream and the
/// "already seen recently" answer of `search` possible, and it is one socket for the scanner's whole
/// life (Go opens one per 500 ms step). `stop()` closes it; a later query binds again.
public actor DiscoveryScanner: ServiceLifecycle.Service, CustomStringConvertible {
    /// SO_RCVBUF of the discovery socket.
    static let receiveBufferBytes: SocketOptionValue = 2 << 20

    public nonisolated var description: String { "DiscoveryScanner" }

    private typealias Envelope = AddressedEnvelope<ByteBuffer>

    private struct Listening {
        var generation: UInt64
        var channel: NIOAsyncChannel<Envelope, Never>
        var task: Task<Void, Never>
    }

    public let configuration: ScannerConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let table: DeviceTable
    private var listening: Listening?
    private var generation: UInt64 = 0
    private var gate = SerialGate()
    private var isShutDown = false

    public init(
        configuration: ScannerConfiguration = .init(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.table = DeviceTable(
            maxDevices: configuration.maxDevices, recentWindow: configuration.recentWindow, bufferSize: configuration.eventBufferSize)
    }

    /// True while the socket is bound.
    public var isListening: Bool { listening != nil }

    /// The bound address (useful with port 0, where the kernel picks the port).
    public var localAddress: SocketAddress? { listening?.channel.channel.localAddress }

    /// Binds the socket if it is not bound. Idempotent.
    ///
    /// Throws `WPWError(.invalidParams)` for a bad bind address, `.unavailable` after shutdown and
    /// `.internalError` when the port cannot be bound (e.g. held by a socket without address reuse).
    public func start() async throws {
        try await serialised { try await self.startLocked() }
    }

    /// Closes the socket and waits for the receive loop to end. The table and subscribers stay. Idempotent.
    public func stop() async {
        try? await serialised { await self.stopLocked() }
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Closes the socket, ends every `discoveries()` stream and pending `search`, and refuses later queries.
    public func shutdown() async {
        isShutDown = true
        table.finish()
        await stop()
    }

    /// Listens for `timeout` and returns every device heard during it or within `recentWindow` before it,
    /// each serverID once, most recently heard first (`deviceDiscovery(timeoutMs)`). A shutdown ends the
    /// wait early.
    public func devices(within timeout: Duration) async throws -> [DiscoveredDevice] {
        guard timeout >= .zero else { throw WPWError.invalidParams(field: "timeout", "timeout must not be negative") }
        try await start()
        let since = ContinuousClock.now - configuration.recentWindow
        // Waits in short slices so a shutdown ends the wait at once: an error, not a short list that would
        // look like the whole answer.
        let deadline = ContinuousClock.now + timeout
        while !isShutDown, ContinuousClock.now < deadline {
            try await Task.sleep(for: min(.milliseconds(50), deadline - ContinuousClock.now))
        }
        if isShutDown, ContinuousClock.now < deadline {
            throw WPWError(
                .unavailable, "the scanner shut down before the discovery window ended",
                data: ["devicesHeard": .int(Int64(table.devices(seenSince: since).count))])
        }
        return table.devices(seenSince: since)
    }

    /// The devices in the table heard within `recentWindow`, without waiting.
    public func recentDevices() -> [DiscoveredDevice] {
        table.devices(seenSince: .now - configuration.recentWindow)
    }

    /// Returns the first device matching `match`: at once when one was heard within `recentWindow`,
    /// otherwise as soon as its datagram arrives. Throws `WPWError(.discoveryTimeout)` when none arrives
    /// within `timeout`, `.unavailable` when the scanner shuts down meanwhile, and `CancellationError`
    /// when the calling task is cancelled.
    public func search(matching match: DeviceMatch, timeout: Duration) async throws -> DiscoveredDevice {
        guard timeout >= .zero else { throw WPWError.invalidParams(field: "timeout", "timeout must not be negative") }
        try await start()
        let updates: AsyncStream<DiscoveredDevice>
        switch table.lookUpOrSubscribe(match, seenSince: .now - configuration.recentWindow) {
        case .found(let device): return device
        case .finished: throw WPWError(.unavailable, "the scanner is shut down")
        case .subscribed(let stream): updates = stream
        }
        let logger = logger
        return try await withThrowingTaskGroup(of: DiscoveredDevice.self) { group in
            group.addTask {
                for await device in updates where match.matches(device.message) { return device }
                try Task.checkCancellation()
                throw WPWError(.unavailable, "the scanner is shut down")
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                logger.debug("Discovery search timed out", metadata: ["match": "\(match)", "timeout": "\(timeout)"])
                throw WPWError(
                    .discoveryTimeout, "no device with \(match) was discovered within \(timeout)",
                    data: ["match": .string(match.description), "timeoutMs": .int(Self.milliseconds(timeout))])
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw CancellationError() }
            return first
        }
    }

    /// A new stream of devices as they are discovered: a serverID new to the table, or back after more
    /// than `recentWindow` of silence (the `device discovered` event). Binds the socket if needed.
    /// Slow consumers lose the oldest events beyond `eventBufferSize`. Ends on shutdown.
    public func discoveries() async throws -> AsyncStream<DiscoveredDevice> {
        // Subscribe first so nothing heard right after binding is missed.
        let (stream, id) = table.discoveries()
        do {
            try await start()
        } catch {
            if let id { table.cancelDiscoveries(id) }
            throw error
        }
        return stream
    }

    /// The table entry for `serverID`, however old.
    public func device(serverID: String) -> DiscoveredDevice? { table.device(serverID: serverID) }

    // MARK: - Internals

    private static func milliseconds(_ d: Duration) -> Int64 {
        d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
    }

    private func serialised(_ body: () async throws -> Void) async throws {
        if !gate.tryEnter() {
            await withCheckedContinuation { gate.enqueue($0) }
        }
        defer { gate.leave() }
        try await body()
    }

    private func startLocked() async throws {
        guard !isShutDown else { throw WPWError(.unavailable, "the scanner is shut down") }
        guard listening == nil else { return }
        let address = try SocketSupport.ipv4(configuration.bindHost, port: configuration.port, field: "bindHost")
        var bootstrap = DatagramBootstrap(group: eventLoopGroup)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            // Twice the largest valid datagram: anything longer arrives truncated but still over the limit.
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 2 * Discovery.maxDatagramBytes))
            // Room for a burst of broadcasts while the event loop is busy (it also runs the store's commits):
            // the default (≈ 200 KB) holds ≈ 60–90 datagrams of 1.5 KB. The kernel caps it at net.core.rmem_max.
            .channelOption(.socketOption(.so_rcvbuf), value: Self.receiveBufferBytes)
        if configuration.reusePort {
            bootstrap = bootstrap.channelOption(SocketSupport.reusePortOption, value: 1)
        }
        let channel: NIOAsyncChannel<Envelope, Never>
        do {
            channel = try await bootstrap.bind(to: address) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<Envelope, Never>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(backPressureStrategy: .init(lowWatermark: 16, highWatermark: 64)))
                }
            }
        } catch {
            logger.error("Cannot bind the discovery socket", metadata: ["address": "\(address)", "error": "\(error)"])
            throw WPWError(.internalError, "cannot bind the discovery socket on \(address): \(error)")
        }
        generation += 1
        let generation = generation
        let table = table
        let logger = logger
        let task = Task {
            await Self.receiveLoop(channel: channel, table: table, logger: logger)
            self.loopEnded(generation: generation)
        }
        listening = Listening(generation: generation, channel: channel, task: task)
        logger.info("Discovery scanner listening", metadata: ["address": "\(channel.channel.localAddress.map { "\($0)" } ?? "?")"])
    }

    private func stopLocked() async {
        guard let listening else { return }
        listening.task.cancel()
        try? await listening.channel.channel.close()
        await listening.task.value
        if self.listening?.generation == listening.generation { self.listening = nil }
        logger.info("Discovery scanner stopped")
    }

    private func loopEnded(generation: UInt64) {
        // The loop ended by itself (socket error): forget the socket so the next query binds again.
        if listening?.generation == generation { listening = nil }
    }

    private static func receiveLoop(channel: NIOAsyncChannel<Envelope, Never>, table: DeviceTable, logger: Logger) async {
        do {
            try await channel.executeThenClose { inbound in
                for try await envelope in inbound {
                    accept(envelope, table: table, logger: logger)
                }
            }
            logger.debug("Discovery receive loop ended")
        } catch is CancellationError {
            logger.debug("Discovery receive loop cancelled")
        } catch {
            logger.warning("Discovery receive loop ended with an error", metadata: ["error": "\(error)"])
        }
    }

    /// Parses one datagram into the table; anything malformed is logged at debug and dropped.
    static func accept(_ envelope: AddressedEnvelope<ByteBuffer>, table: DeviceTable, logger: Logger) {
        let source = envelope.remoteAddress
        let size = envelope.data.readableBytes
        guard size <= Discovery.maxDatagramBytes else {
            logger.debug("Discovery datagram too large; ignored", metadata: ["source": "\(source)", "bytes": "\(size)"])
            return
        }
        let message: BroadcastMessage
        do {
            message = try BroadcastMessage.parse(datagram: envelope.data.readableBytesView)
        } catch {
            logger.debug("Malformed discovery datagram; ignored", metadata: ["source": "\(source)", "bytes": "\(size)", "error": "\(error)"])
            return
        }
        // Go stores `{}` under an empty serverID; a device without an id cannot be addressed, so it is dropped.
        guard !message.serverID.isEmpty else {
            logger.debug("Discovery datagram without serverID; ignored", metadata: ["source": "\(source)"])
            return
        }
        let isNew = table.record(
            message, sourceHost: source.ipAddress ?? "", sourcePort: source.port ?? 0, wall: SocketSupport.wallClockNow(), now: .now)
        if isNew {
            logger.debug(
                "Device discovered",
                metadata: ["serverID": "\(message.serverID)", "deviceName": "\(message.deviceName)", "source": "\(source)"])
        }
    }
}
