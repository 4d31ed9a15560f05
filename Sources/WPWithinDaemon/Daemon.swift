import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals
import WPWithinCore
import WPWithinDiscovery
import WPWithinHTTP
import WPWithinPeer
import WPWithinRPC
import WPWithinStore
import WPWithinWire

/// Live settings that a SIGHUP reload may change.
final class LiveSettings: Sendable {
    /// What `getDevice` shows of the configuration (name, description, roles), kept apart so that the
    /// method does not copy the whole configuration on every call.
    struct Device: Sendable {
        var name: String
        var description: String
        var roles: JSONValue

        init(_ configuration: DaemonConfiguration) {
            name = configuration.deviceName
            description = configuration.deviceDescription
            roles = .array(configuration.roles.map { .string($0.rawValue) })
        }
    }

    private let box: NIOLockedValueBox<(configuration: DaemonConfiguration, device: Device)>

    init(_ configuration: DaemonConfiguration) {
        box = NIOLockedValueBox((configuration, Device(configuration)))
    }

    var current: DaemonConfiguration { box.withLockedValue { $0.configuration } }

    var device: Device { box.withLockedValue { $0.device } }

    func replace(_ configuration: DaemonConfiguration) {
        box.withLockedValue { $0 = (configuration, Device(configuration)) }
    }
}

/// Tracks readiness for `getStatus`.
final class Readiness: Sendable {
    private let box = NIOLockedValueBox(false)
    var isReady: Bool { box.withLockedValue { $0 } }
    func markReady() { box.withLockedValue { $0 = true } }
}

/// Opens once; waiters resume then (or at once if already open).
final class ReadyGate: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() { (stream, continuation) = AsyncStream<Void>.makeStream() }
    func open() { continuation.finish() }
    /// True once open; false when the waiting task was cancelled first (a start-up that failed).
    func wait() async -> Bool {
        for await _ in stream {}
        return !Task.isCancelled
    }
}

/// The assembled daemon: every service, ready to run inside one `ServiceGroup`.
public struct Daemon: Sendable {
    public let configuration: DaemonConfiguration
    public let identity: DeviceIdentity
    public let bus: EventBus
    public let dispatcher: RPCDispatcher
    public let payments: PaymentsContext
    let services: [any ServiceLifecycle.Service]
    let logger: Logger

    /// The event types the daemon publishes (the `subscribe` filter accepts these).
    public static let eventTypes = [
        "daemon.started", "daemon.reloaded", "daemon.stopping", "daemon.error",
        "producer.error", "consumer.error",
        "consumer.deviceDiscovered",
        StoreEventType.serviceAdded, StoreEventType.serviceReplaced, StoreEventType.serviceRemoved,
        StoreEventType.quoteCreated, StoreEventType.paymentStarted, StoreEventType.paymentSucceeded,
        StoreEventType.paymentFailed, StoreEventType.paymentOutcomeUnknown, StoreEventType.paymentAbandoned,
        StoreEventType.lateChargeFound, StoreEventType.refundIssued, StoreEventType.deliveryBegun,
        StoreEventType.deliveryEnded, StoreEventType.deliveryLeaseExpired, StoreEventType.quoteReceived, StoreEventType.purchaseRecorded,
        StoreEventType.consumerDeliveryBegun, StoreEventType.consumerDeliveryConfirmed, StoreEventType.consumerDeliveryEnded,
        StoreEventType.consumerDeliveryUnsettled, StoreEventType.consumerDeliverySynced, StoreEventType.consumerRefundReceived,
        ConsumerEngine.spendingRefused,
    ]

    /// Runs every service until SIGTERM/SIGINT (or cancellation), then shuts down gracefully.
    public func run() async throws {
        var groupConfiguration = ServiceGroupConfiguration(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        groupConfiguration.maximumGracefulShutdownDuration = .milliseconds(Int64(configuration.shutdownTimeoutSeconds * 1000))
        let group = ServiceGroup(configuration: groupConfiguration)
        try await group.run()
    }
}

/// Wires the daemon from its configuration. Tests call this directly.
///
/// - Parameters:
///   - reload: re-reads the configuration on SIGHUP; nil disables reloading.
///   - logLevel: the process's log level control, updated on reload.
public func buildDaemon(
    configuration: DaemonConfiguration,
    notifier: any ServiceNotifier = SystemdNotifier(),
    activatedSockets: [SocketActivation.Socket] = [],
    reload: (@Sendable () throws -> DaemonConfiguration)? = nil,
    logLevel: LogLevelControl? = nil,
    producerBackends: [ProducerBackendProvider] = [],
    logger: Logger
) throws -> Daemon {
    let startedAt = ContinuousClock.now
    let serverBox = NIOLockedValueBox<RPCServer?>(nil)
    let metrics = DaemonMetrics(connections: { serverBox.withLockedValue { $0?.openConnections ?? 0 } })
    let health = HealthState()
    // Durable state. The database is the identity's one source of truth: a new database adopts the serverId
    // of an older daemon's identity.json, and a database that disagrees with that file refuses to start.
    let legacyIdentity = try DeviceIdentity.legacyFile(stateDirectory: configuration.stateDirectory)
    var storeConfiguration = StoreConfiguration(
        synchronous: configuration.storeSynchronous == "normal" ? .normal : .full,
        deviceName: configuration.deviceName,
        quotePolicy: QuotePolicy(ttl: .seconds(configuration.quoteTTLSeconds))
    )
    storeConfiguration.initialServerID = legacyIdentity?.serverId
    storeConfiguration.reserveBytes = configuration.storeReserveBytes
    storeConfiguration.durableDeliveries = configuration.storeDurableDeliveries
    storeConfiguration.minimumFreeBytes = configuration.storeMinimumFreeBytes
    storeConfiguration.commitObserver = { duration, fsynced, failed in metrics.storeCommit(duration, fsynced: fsynced, failed: failed) }
    // Commit on the event loop that runs the caller (with wpwithind's executor that is every task's loop):
    // no thread hand-off per transition, and the calls of one loop tick share a commit.
    storeConfiguration.scheduleOnCurrentThread = { work in
        guard let loop = MultiThreadedEventLoopGroup.currentEventLoop else { return false }
        loop.execute(work)
        return true
    }
    let store = try Store.open(directory: configuration.stateDirectory, configuration: storeConfiguration, logger: logger)
    let identity: DeviceIdentity
    do {
        identity = try DeviceIdentity.reconcile(database: store.identity, databasePath: store.path, legacyFile: legacyIdentity)
    } catch {
        try? store.close()
        throw error
    }
    var deviceLogger = logger
    deviceLogger[metadataKey: "device.server_id"] = "\(identity.serverId)"
    let logger = deviceLogger
    logger.info("State opened", metadata: ["state.dir": "\(configuration.stateDirectory)"])

    let payments = try PaymentsContext.load(configuration: configuration, logger: logger)
        .wrappingGateway { MeteredGateway(inner: $0, metrics: metrics, health: health) }
    let settings = LiveSettings(configuration)
    let readiness = Readiness()

    let listen: RPCServer.Configuration.Listen
    if let socket = SocketActivation.rpcSocket(in: activatedSockets) {
        // The path the socket unit bound, which need not be the configured one (getStatus tells this one).
        let bound = UnixSocketPath.boundPath(of: socket.fd) ?? configuration.socketPath
        listen = .fileDescriptor(socket.fd, path: bound)
        logger.info("Using the socket passed by systemd", metadata: [
            "rpc.fd": "\(socket.fd)", "rpc.fd_name": "\(socket.name)", "rpc.socket": "\(bound)",
        ])
    } else {
        listen = .path(
            configuration.socketPath,
            mode: configuration.socketMode,
            group: configuration.socketGroup.flatMap(UnixSocketPath.groupID)
        )
    }

    // Events live in the store's journal, so `resumeFrom` works across restarts.
    let (oldestSeq, lastSeq) = try store.journalBounds()
    let bus = EventBus(
        capacity: configuration.eventJournalCapacity, bufferLimit: configuration.eventBufferPerSubscriber,
        startSeq: lastSeq, oldestSeq: oldestSeq, journal: StoreEventJournal(store: store),
        observer: { metrics.observe($0) })
    // The producer's money and units: this store, or a fleet's shared database.
    let openedBackend = try ProducerBackendProvider.open(
        producerBackends, configuration: configuration, local: store, serverID: identity.serverId,
        publish: { events in await bus.deliverCommitted(events.map(RPCEvent.init)) }, logger: logger)
    let producerBackend = openedBackend.backend
    let discovery = DiscoveryHub(configuration: configuration, identity: identity, bus: bus, logger: logger)
    var producer: ProducerEngine?
    var hteServer: HTTPServer?
    var recovery: PaymentRecoveryService?
    let hteReady = ReadyGate()
    let hteConfiguration = hteServerConfiguration(configuration)
    FileDescriptorBudget.check(
        hteConnections: configuration.roles.contains(.producer) ? hteConfiguration.maxConnections + hteConfiguration.maxPendingRefusals : 0,
        rpcConnections: configuration.maxConnections, logger: logger)
    if configuration.roles.contains(.producer) {
        let settings = PaymentRecoveryService.Settings(
            policy: PaymentRecoveryPolicy(
                settleAfter: .seconds(configuration.recoverySettleAfterSeconds),
                minimumNotFoundLookups: configuration.recoveryMinimumNotFoundLookups,
                watchFor: .seconds(configuration.recoveryWatchSeconds)),
            retryInterval: .milliseconds(configuration.recoveryRetryIntervalMs),
            maxRetryInterval: .milliseconds(configuration.recoveryMaxRetryIntervalMs),
            tokenTTL: .seconds(configuration.tokenTTLSeconds))
        let service = PaymentRecoveryService(
            store: producerBackend, gateway: payments.gateway, bus: bus, settings: settings, logger: logger,
            pendingGauge: metrics.reconciliationPending)
        recovery = service
        let engine = ProducerEngine(
            store: producerBackend, serverID: identity.serverId, payments: payments, bus: bus, tokenTTL: .seconds(configuration.tokenTTLSeconds),
            deliveryLease: .seconds(configuration.deliveryLeaseSeconds), recovery: service,
            broadcaster: discovery.broadcaster, logger: logger)
        producer = engine
        let router = HTERouter(
            producer: engine, urlPrefix: configuration.hteURLPrefix, logger: logger,
            observer: { route, status in metrics.hteServed(route: route, status: status) })
        let broadcaster = discovery.broadcaster
        var hteLogger = logger
        hteLogger[metadataKey: "http.server"] = "hte"
        hteServer = HTTPServer(
            configuration: hteConfiguration,
            logger: hteLogger,
            onServerRunning: { port in
                if let broadcaster {
                    let message = DiscoveryHub.message(
                        configuration: configuration, identity: identity, hostname: discovery.advertisedHost, port: port,
                        serviceTypes: await broadcaster.currentMessage.serviceTypes)
                    try? await broadcaster.update(message: message)
                }
                logger.info("HTE server listening", metadata: ["hte.host": "\(configuration.hteHost)", "hte.port": "\(port)"])
                hteReady.open()
            },
            handler: router.handler
        )
    } else {
        hteReady.open()
    }
    // Both roles' methods are always served, so `rpc.discover` is the same on every Thing: a method of a
    // role this Thing does not run answers -32003 `roleDisabled`.
    let http = HTTPClient(
        configuration: HTTPClientConfiguration(connectTimeout: .milliseconds(min(configuration.peerTimeoutMs, 5000))), logger: logger)
    let consumerEngine = ConsumerEngine(
        store: store, payments: payments, bus: bus, scanner: discovery.scanner,
        hte: HTEClient(
            http: http, timeout: .milliseconds(configuration.peerTimeoutMs), logger: logger,
            observer: { route, outcome in metrics.hteCalled(route: route, outcome: outcome) }),
        logger: logger, spendingPolicy: { settings.current.spending })
    let consumerMethods = configuration.roles.contains(.consumer)
        ? consumerEngine.methods() : consumerEngine.methods().map { $0.disabled(role: "consumer") }
    let producerMethods = producer?.methods() ?? ProducerEngine(
        store: store, serverID: identity.serverId, payments: payments, bus: bus, tokenTTL: .seconds(configuration.tokenTTLSeconds), logger: logger
    ).methods().map { $0.disabled(role: "producer") }
    // getStatus's `consumer`: the spending budgets left (null when this Thing is not a consumer).
    let consumerStatus: (@Sendable () async -> JSONValue)?
    if configuration.roles.contains(.consumer) {
        consumerStatus = {
            let budgets: JSONValue = (try? await consumerEngine.spendingBudgets()) ?? []
            return ["budgets": budgets]
        }
    } else {
        consumerStatus = nil
    }
    let methods = DaemonMethods.make(
        identity: identity,
        settings: settings,
        readiness: readiness,
        payments: payments,
        startedAt: startedAt,
        servingSocketPath: {
            switch listen {
            case .path(let path, _, _), .fileDescriptor(_, let path): return path
            }
        }(),
        connections: { serverBox.withLockedValue { $0?.openConnections ?? 0 } },
        health: {
            health.json(
                store: store, producerStore: configuration.roles.contains(.producer) ? producerBackend : nil, producer: configuration.roles.contains(.producer), consumer: configuration.roles.contains(.consumer))
        },
        metrics: metrics,
        consumer: consumerStatus
    ) + discovery.methods() + producerMethods + consumerMethods + SubscriptionMethods.methods(bus: bus, eventTypes: Daemon.eventTypes)
    let dispatcher = RPCDispatcher(
        methods: methods,
        info: .init(
            title: "wpwithind",
            version: WPWithinVersion.current,
            description: "Worldpay Within daemon: newline-delimited JSON-RPC 2.0 over a Unix socket.",
            schemas: RPCSchemas.components(eventTypes: Daemon.eventTypes),
            extensions: ["x-notifications": RPCSchemas.notifications]
        ),
        logger: logger,
        observer: { method, error in metrics.rpcCall(method: method, error: error) }
    )
    let server = RPCServer(
        configuration: .init(
            listen: listen,
            maxLineBytes: configuration.maxLineBytes,
            maxConnections: configuration.maxConnections,
            maxConnectionsPerUid: configuration.maxConnectionsPerUid,
            maxInFlightPerConnection: configuration.maxInFlightPerConnection,
            idleTimeout: configuration.idleTimeoutSeconds > 0 ? .seconds(configuration.idleTimeoutSeconds) : nil
        ),
        dispatcher: dispatcher,
        bus: bus,
        logger: logger,
        onListening: { [producer] in
            // Ready once every listener is bound and the state is open; never after a listener failed to bind
            // (the group is then cancelled, and READY=1 must not be sent).
            guard await hteReady.wait() else { return }
            if let producer {
                do {
                    try await producer.applyConfiguredCatalog(configuration.services)
                } catch {
                    logger.error("The configured catalog could not be applied", metadata: ["error": "\(error)"])
                }
            }
            readiness.markReady()
            let status = "Serving JSON-RPC on \(configuration.socketPath)"
            notifier.ready(status: status)
            _ = try? await bus.publish("daemon.started", ["version": .string(WPWithinVersion.current), "serverId": .string(identity.serverId)])
            logger.info("Daemon ready", metadata: [
                "rpc.socket": "\(configuration.socketPath)",
                "startup.ms": "\((ContinuousClock.now - startedAt).components.attoseconds / 1_000_000_000_000_000)",
            ])
        }
    )
    serverBox.withLockedValue { $0 = server }

    var services: [any ServiceLifecycle.Service] = [server]
    if let hteServer { services.append(hteServer) }
    if let recovery { services.append(recovery) }
    services += openedBackend.services
    if configuration.roles.contains(.consumer) {
        services.append(ConsumerRefundService(
            engine: consumerEngine, interval: .seconds(configuration.refundCheckSeconds), logger: logger))
    }
    services.append(StoreHousekeepingService(
        store: store, producerBackend: producerBackend.fleetID == nil ? nil : producerBackend,
        interval: StoreHousekeepingService.defaultInterval, logger: logger))
    if let broadcaster = discovery.broadcaster {
        services.append(TrackedService(name: HealthState.broadcaster, inner: broadcaster, health: health))
    }
    if let scanner = discovery.scanner { services.append(TrackedService(name: HealthState.scanner, inner: scanner, health: health)) }
    if let listen = configuration.metricsListen.flatMap(MetricsListenAddress.init) {
        services.append(MetricsListener.server(address: listen, metrics: metrics, logger: logger))
    }
    if let reload {
        services.append(ReloadService(reload: reload, settings: settings, bus: bus, notifier: notifier, logLevel: logLevel, logger: logger))
    }
    if let interval = SystemdNotifier.watchdogInterval() {
        services.append(WatchdogService(notifier: notifier, interval: interval, logger: logger))
    }
    // Last in the list, so the first to hear of a graceful shutdown.
    services.append(ShutdownAnnouncer(notifier: notifier, bus: bus, logger: logger))
    return Daemon(
        configuration: configuration, identity: identity, bus: bus, dispatcher: dispatcher, payments: payments,
        services: services, logger: logger
    )
}

/// The HTE server's settings: address, caps and timeouts from `producer.hte`, answers in the Go error shape.
func hteServerConfiguration(_ configuration: DaemonConfiguration) -> HTTPServerConfiguration {
    let limits = configuration.hteLimits
    return HTTPServerConfiguration(
        host: configuration.hteHost,
        port: configuration.htePort,
        idleTimeout: .milliseconds(limits.idleTimeoutMs),
        payloadTooLargeResponse: HTERouter.payloadTooLargeResponse,
        maxConnections: limits.maxConnections,
        maxConnectionsPerPeer: limits.maxConnectionsPerPeer,
        headerTimeout: .milliseconds(limits.headerTimeoutMs),
        bodyTimeout: .milliseconds(limits.bodyTimeoutMs),
        limitLogInterval: .milliseconds(limits.limitLogIntervalMs),
        connectionRefusedResponse: HTERouter.connectionRefusedResponse,
        requestTimeoutResponse: HTERouter.requestTimeoutResponse
    )
}

/// Sends STOPPING=1 and a last event as soon as a graceful shutdown starts.
struct ShutdownAnnouncer: ServiceLifecycle.Service, CustomStringConvertible {
    var description: String { "ShutdownAnnouncer" }

    let notifier: any ServiceNotifier
    let bus: EventBus
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        logger.info("Shutting down: finishing calls in flight")
        notifier.stopping(status: "Shutting down")
        _ = try? await bus.publish("daemon.stopping")
    }
}

/// Re-reads the configuration on SIGHUP and applies what can change while running.
struct ReloadService: ServiceLifecycle.Service, CustomStringConvertible {
    var description: String { "ReloadService" }

    let reload: @Sendable () throws -> DaemonConfiguration
    let settings: LiveSettings
    let bus: EventBus
    let notifier: any ServiceNotifier
    let logLevel: LogLevelControl?
    let logger: Logger

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            notifier.reloading(status: "Reloading configuration")
            do {
                let old = settings.current
                var new = try reload()
                let restartOnly = Self.restartOnlyChanges(old: old, new: new)
                if !restartOnly.isEmpty {
                    logger.warning("Some settings change only at restart; keeping the running values", metadata: [
                        "config.keys": "\(restartOnly.joined(separator: ","))",
                    ])
                    new = Self.keepingRestartOnly(new: new, old: old)
                }
                settings.replace(new)
                logLevel?.set(new.logLevel)
                logger.notice("Configuration reloaded", metadata: ["log.level": "\(new.logLevel)"])
                _ = try? await bus.publish("daemon.reloaded", ["restartRequiredFor": .array(restartOnly.map { .string($0) })])
            } catch {
                logger.error("Configuration reload failed; keeping the running configuration", metadata: ["error": "\(error)"])
                _ = try? await bus.publish("daemon.error", ["source": "reload", "message": .string("\(error)")])
            }
            notifier.ready(status: "Serving JSON-RPC on \(settings.current.socketPath)")
        }
    }

    static func restartOnlyChanges(old: DaemonConfiguration, new: DaemonConfiguration) -> [String] {
        var keys: [String] = []
        if old.socketPath != new.socketPath { keys.append("rpc.socketPath") }
        if old.socketMode != new.socketMode { keys.append("rpc.socketMode") }
        if old.socketGroup != new.socketGroup { keys.append("rpc.socketGroup") }
        if old.stateDirectory != new.stateDirectory { keys.append("stateDir") }
        if old.roles != new.roles { keys.append("roles") }
        if old.maxLineBytes != new.maxLineBytes { keys.append("rpc.maxLineBytes") }
        if old.maxConnections != new.maxConnections { keys.append("rpc.maxConnections") }
        if old.maxConnectionsPerUid != new.maxConnectionsPerUid { keys.append("rpc.maxConnectionsPerUid") }
        if old.idleTimeoutSeconds != new.idleTimeoutSeconds { keys.append("rpc.idleTimeoutSeconds") }
        if old.maxInFlightPerConnection != new.maxInFlightPerConnection { keys.append("rpc.maxInFlightPerConnection") }
        if old.eventBufferPerSubscriber != new.eventBufferPerSubscriber { keys.append("rpc.eventBufferPerSubscriber") }
        if old.eventJournalCapacity != new.eventJournalCapacity { keys.append("rpc.eventJournalCapacity") }
        if old.hteLimits != new.hteLimits { keys.append("producer.hte") }
        if old.metricsListen != new.metricsListen { keys.append("metrics.listen") }
        return keys
    }

    static func keepingRestartOnly(new: DaemonConfiguration, old: DaemonConfiguration) -> DaemonConfiguration {
        var merged = old
        merged.deviceName = new.deviceName
        merged.deviceDescription = new.deviceDescription
        merged.logLevel = new.logLevel
        merged.shutdownTimeoutSeconds = new.shutdownTimeoutSeconds
        merged.spending = new.spending
        return merged
    }
}

extension RPCMethod {
    /// The same method (name, params, schema, errors) answering -32003 for a role this Thing does not run.
    /// A role's methods list -32003 among their errors whatever the roles, so `rpc.discover` is the same on
    /// every Thing.
    func disabled(role: String) -> RPCMethod {
        var method = self
        if !method.errors.contains(.roleDisabled) { method.errors.append(.roleDisabled) }
        method.handler = { _, _ in throw DiscoveryHub.roleDisabled(role) }
        method.syncHandler = { _, _ in throw DiscoveryHub.roleDisabled(role) }
        return method
    }
}
