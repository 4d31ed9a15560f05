#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOConcurrencyHelpers
import WPWithinCore
import WPWithinDiscovery
import WPWithinRPC
import WPWithinWire

/// Discovery on this Thing: the producer's broadcaster and the consumer's scanner, and their RPC methods.
final class DiscoveryHub: Sendable {
    let broadcaster: DiscoveryBroadcaster?
    let scanner: DiscoveryScanner?
    let bus: EventBus
    let logger: Logger
    /// The broadcast's `hostname`, chosen once at start (logged then).
    let advertisedHost: String
    private let forwarding = NIOLockedValueBox<Task<Void, Never>?>(nil)

    init(configuration: DaemonConfiguration, identity: DeviceIdentity, bus: EventBus, logger: Logger) {
        self.bus = bus
        self.logger = logger
        if configuration.roles.contains(.producer) {
            advertisedHost = Self.chooseAdvertisedHost(configuration: configuration, logger: logger)
            let source: BroadcasterConfiguration.Source = configuration.broadcastSource.map { .address($0) } ?? .any
            broadcaster = DiscoveryBroadcaster(
                message: Self.message(
                    configuration: configuration, identity: identity, hostname: advertisedHost, port: configuration.htePort,
                    serviceTypes: []),
                configuration: BroadcasterConfiguration(
                    destinationHost: configuration.broadcastAddress,
                    destinationPort: configuration.discoveryPort,
                    source: source,
                    interval: .milliseconds(configuration.broadcastIntervalMs)
                ),
                logger: logger
            )
        } else {
            advertisedHost = configuration.advertisedHost ?? configuration.hteHost
            broadcaster = nil
        }
        if configuration.roles.contains(.consumer) {
            var scannerConfiguration = ScannerConfiguration()
            scannerConfiguration.bindHost = configuration.scanBindAddress
            scannerConfiguration.port = configuration.discoveryPort
            scanner = DiscoveryScanner(configuration: scannerConfiguration, logger: logger)
        } else {
            scanner = nil
        }
    }

    /// Go's datagram for this Thing.
    static func message(
        configuration: DaemonConfiguration, identity: DeviceIdentity, hostname: String, port: Int, serviceTypes: [String]
    ) -> BroadcastMessage {
        BroadcastMessage(
            deviceDescription: configuration.deviceDescription,
            hostname: hostname,
            portNumber: port,
            serverID: identity.serverId,
            urlPrefix: configuration.hteURLPrefix,
            deviceName: configuration.deviceName,
            serviceTypes: serviceTypes
        )
    }

    /// Picks the advertised host (see ``AdvertisedHost``) and says so in the log: how it was chosen, a
    /// warning when the interfaces could not be listed, and a warning when consumers beyond this host would
    /// be handed a loopback address.
    static func chooseAdvertisedHost(configuration: DaemonConfiguration, logger: Logger) -> String {
        let lookup = AdvertisedHost.lookUp(
            configured: configuration.advertisedHost, hteHost: configuration.hteHost,
            broadcastAddress: configuration.broadcastAddress, port: configuration.discoveryPort)
        if let code = lookup.interfacesError {
            logger.warning("Cannot list the network interfaces; asking the route toward the broadcast address instead", metadata: [
                "errno": "\(code)", "error": "\(String(cString: strerror(code)))",
                "discovery.broadcast_address": "\(configuration.broadcastAddress)",
            ])
        }
        let choice = lookup.choice
        var metadata: Logger.Metadata = [
            "discovery.advertised_host": "\(choice.host)",
            "discovery.advertised_host_source": "\(choice.source.rawValue)",
            "discovery.broadcast_address": "\(configuration.broadcastAddress)",
        ]
        if let interface = choice.interface { metadata["discovery.interface"] = "\(interface)" }
        logger.info("Advertised address chosen", metadata: metadata)
        if AdvertisedHost.isUnreachableFromBroadcast(host: choice.host, broadcastAddress: configuration.broadcastAddress) {
            logger.warning(
                "Advertising a loopback address while broadcasting beyond this host: consumers elsewhere cannot reach it; set producer.hte.advertisedHost",
                metadata: metadata)
        }
        return choice.host
    }

    /// Starts forwarding newly seen devices as `consumer.deviceDiscovered` events (once).
    func startForwardingDiscoveries() async {
        guard let scanner, forwarding.withLockedValue({ $0 == nil }) else { return }
        guard let stream = try? await scanner.discoveries() else { return }
        let bus = self.bus
        let task = Task {
            // Up to 64 publications at once: their journal appends share commits (group commit), so a burst
            // of new devices does not outrun the stream's buffer one fsync at a time.
            await withTaskGroup(of: Void.self) { group in
                var inFlight = 0
                for await device in stream {
                    if inFlight >= 64 {
                        await group.next()
                        inFlight -= 1
                    }
                    let payload = DiscoveryHub.json(device).objectValue ?? [:]
                    group.addTask { _ = try? await bus.publish("consumer.deviceDiscovered", payload) }
                    inFlight += 1
                }
            }
        }
        let previous = forwarding.withLockedValue { current -> Task<Void, Never>? in
            if current != nil { return task }
            current = task
            return nil
        }
        previous?.cancel()
    }

    func stopForwarding() {
        forwarding.withLockedValue { $0?.cancel() }
    }

    static func json(_ device: DiscoveredDevice) -> JSONValue {
        [
            "serverId": .string(device.serverID),
            "deviceName": .string(device.deviceName),
            "deviceDescription": .string(device.message.deviceDescription),
            "hostname": .string(device.message.hostname),
            "portNumber": .int(Int64(device.message.portNumber)),
            "urlPrefix": .string(device.message.urlPrefix),
            "scheme": .string(device.message.scheme),
            "url": .string(device.baseURL),
            "sourceAddress": .string(device.sourceHost),
            "serviceTypes": .array(device.message.serviceTypes.map { .string($0) }),
        ]
    }

    static let deviceSchema = Schema.ref("DiscoveredDevice")

    func methods() -> [RPCMethod] {
        let timeout = RPCParam("timeoutMs", ["type": "integer", "minimum": 0, "maximum": 600_000], summary: "Milliseconds.")
        return [
            RPCMethod(
                "startServiceBroadcast",
                summary: "Broadcasts this producer on the LAN every interval, for timeoutMs (0: until stopped).",
                params: [timeout],
                result: "broadcast", Schema.record(["broadcasting": Schema.constant(true)]),
                errors: [.roleDisabled],
                handler: { params, _ in
                    guard let broadcaster = self.broadcaster else { throw DiscoveryHub.roleDisabled("producer") }
                    let ms = try params.optionalInt("timeoutMs") ?? 0
                    try await broadcaster.start(timeout: .milliseconds(ms))
                    return ["broadcasting": true]
                }
            ),
            RPCMethod(
                "stopServiceBroadcast",
                summary: "Stops broadcasting.",
                result: "broadcast", Schema.record(["broadcasting": Schema.constant(false)]),
                errors: [.roleDisabled],
                handler: { _, _ in
                    guard let broadcaster = self.broadcaster else { throw DiscoveryHub.roleDisabled("producer") }
                    await broadcaster.stop()
                    return ["broadcasting": false]
                }
            ),
            RPCMethod(
                "deviceDiscovery",
                summary: "Listens for producers for timeoutMs and returns each one seen (one per serverId).",
                params: [timeout],
                result: "devices", Schema.array(of: Self.deviceSchema),
                errors: [.roleDisabled, .unavailable],
                handler: { params, _ in
                    guard let scanner = self.scanner else { throw DiscoveryHub.roleDisabled("consumer") }
                    await self.startForwardingDiscoveries()
                    let ms = try params.optionalInt("timeoutMs") ?? 2000
                    let devices = try await scanner.devices(within: .milliseconds(ms))
                    return .array(devices.sorted { $0.serverID < $1.serverID }.map(DiscoveryHub.json))
                }
            ),
            RPCMethod(
                "searchForDevice",
                summary: "Returns the first producer matching serverId or name as soon as it is heard, or discoveryTimeout.",
                params: [
                    RPCParam("serverId", Schema.string, summary: "The producer's serverId."),
                    RPCParam("name", Schema.string, summary: "The producer's device name."),
                    timeout,
                ],
                result: "device", Self.deviceSchema,
                errors: [.roleDisabled, .discoveryTimeout],
                handler: { params, _ in
                    guard let scanner = self.scanner else { throw DiscoveryHub.roleDisabled("consumer") }
                    let serverId = try params.optionalString("serverId")
                    let name = try params.optionalString("name")
                    let match: DeviceMatch
                    switch (serverId, name) {
                    case (let id?, nil): match = .serverID(id.lowercased())
                    case (nil, let name?): match = .deviceName(name)
                    default: throw WPWError.invalidParams(field: "serverId", "give exactly one of serverId or name")
                    }
                    await self.startForwardingDiscoveries()
                    let ms = try params.optionalInt("timeoutMs") ?? 5000
                    return DiscoveryHub.json(try await scanner.search(matching: match, timeout: .milliseconds(ms)))
                }
            ),
        ]
    }

    static func roleDisabled(_ role: String) -> WPWError {
        WPWError(.roleDisabled, "this Thing does not run the \(role) role", data: ["role": .string(role)])
    }
}
