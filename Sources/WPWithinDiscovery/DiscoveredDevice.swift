import WPWithinCore
import WPWithinWire

/// One producer heard on the discovery port: the last datagram it sent and where it came from.
public struct DiscoveredDevice: Sendable, Hashable {
    /// The last datagram received from this serverID, as parsed.
    public var message: BroadcastMessage
    /// The IPv4 address the datagram came from. Go consumers use `message.hostname` instead; both are kept.
    public var sourceHost: String
    /// The UDP source port of that datagram (ephemeral on Go producers).
    public var sourcePort: Int
    /// Wall-clock time the device was first and last heard.
    public var firstSeen: Instant
    public var lastSeen: Instant
    /// Monotonic time it was last heard (for freshness; not comparable across processes).
    public var lastSeenMonotonic: ContinuousClock.Instant
    /// Datagrams received from this serverID.
    public var datagrams: Int

    public init(
        message: BroadcastMessage, sourceHost: String, sourcePort: Int, firstSeen: Instant, lastSeen: Instant,
        lastSeenMonotonic: ContinuousClock.Instant, datagrams: Int
    ) {
        self.message = message
        self.sourceHost = sourceHost
        self.sourcePort = sourcePort
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.lastSeenMonotonic = lastSeenMonotonic
        self.datagrams = datagrams
    }

    public var serverID: String { message.serverID }
    public var deviceName: String { message.deviceName }
    /// The HTE base URL exactly as a Go consumer builds it (from the datagram's hostname).
    public var baseURL: String { message.baseURL }
    /// The HTE base URL built from the address the datagram actually came from.
    public var sourceBaseURL: String { "\(message.scheme)\(sourceHost):\(message.portNumber)\(message.urlPrefix)" }
}

/// What `DiscoveryScanner.search` looks for. Matching is exact and case-sensitive, as in Go.
public enum DeviceMatch: Sendable, Hashable, CustomStringConvertible {
    case serverID(String)
    /// Go's `SearchForDevice` matches on the device name.
    case deviceName(String)
    /// Either the serverID or the device name equals the string.
    case serverIDOrDeviceName(String)

    public func matches(_ message: BroadcastMessage) -> Bool {
        switch self {
        case .serverID(let id): return message.serverID == id
        case .deviceName(let name): return message.deviceName == name
        case .serverIDOrDeviceName(let s): return message.serverID == s || message.deviceName == s
        }
    }

    public var description: String {
        switch self {
        case .serverID(let id): return "serverID=\(id)"
        case .deviceName(let name): return "deviceName=\(name)"
        case .serverIDOrDeviceName(let s): return "serverID or deviceName=\(s)"
        }
    }
}
