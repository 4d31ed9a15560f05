import NIOCore
import WPWithinWire

/// Discovery constants shared with the Go SDK (PROTOCOL.md §1.1).
public enum Discovery {
    /// UDP port of the presence broadcast, both directions.
    public static let defaultPort = 8980
    /// IPv4 limited broadcast: what Go producers send to.
    public static let defaultBroadcastHost = "255.255.255.255"
    /// Go's `BroadcastStepSleep`: the pause between two datagrams.
    public static let defaultInterval: Duration = .milliseconds(500)
    /// Datagrams longer than a Go scanner's buffer are never valid (Go truncates them and fails to parse).
    public static let maxDatagramBytes = BroadcastMessage.maxDatagramBytes
}

/// Where the broadcaster sends from and to, and how often.
public struct BroadcasterConfiguration: Sendable, Hashable {
    /// The local address datagrams leave from.
    public enum Source: Sendable, Hashable {
        /// The wildcard address: the kernel picks the interface from the route to the destination.
        case any
        /// A literal local IPv4 address, e.g. `"192.168.1.10"` or `"127.0.0.1"`.
        case address(String)
        /// The first IPv4 address of a named interface, e.g. `"eth0"` or `"lo"`.
        case interface(String)
    }

    /// Destination host: an IPv4 literal (a broadcast address in normal use).
    public var destinationHost: String
    /// Destination UDP port.
    public var destinationPort: Int
    /// Source address; the source port is ephemeral unless `sourcePort` is set.
    public var source: Source
    public var sourcePort: Int
    /// Pause between two datagrams; the first goes out at once.
    public var interval: Duration

    public init(
        destinationHost: String = Discovery.defaultBroadcastHost,
        destinationPort: Int = Discovery.defaultPort,
        source: Source = .any,
        sourcePort: Int = 0,
        interval: Duration = Discovery.defaultInterval
    ) {
        self.destinationHost = destinationHost
        self.destinationPort = destinationPort
        self.source = source
        self.sourcePort = sourcePort
        self.interval = interval
    }

    /// Loopback only (the project's network rule for tests, demos and benchmarks):
    /// `127.0.0.1:ephemeral` to `127.255.255.255:port`.
    public static func loopback(port: Int, interval: Duration = Discovery.defaultInterval) -> Self {
        .init(destinationHost: "127.255.255.255", destinationPort: port, source: .address("127.0.0.1"), interval: interval)
    }
}

/// Where the scanner listens and how it keeps its table.
public struct ScannerConfiguration: Sendable, Hashable {
    /// Bind address. `0.0.0.0` receives broadcasts on every interface. A socket bound to a unicast
    /// address such as `127.0.0.1` does NOT receive broadcasts on Linux; bind the broadcast address
    /// itself (e.g. `127.255.255.255`) to hear only that subnet's broadcasts.
    public var bindHost: String
    public var port: Int
    /// `SO_REUSEPORT` in addition to `SO_REUSEADDR` (always set). Linux shares a UDP port between
    /// `SO_REUSEADDR` sockets (as Go's scanner does), so it is off there by default; BSD and macOS need it.
    public var reusePort: Bool
    /// A device heard within this window counts as present: `search` answers from the table at once,
    /// `devices(within:)` includes it, and a device silent for longer is announced again when it returns.
    public var recentWindow: Duration
    /// Table bound: when full, the device heard least recently is dropped.
    public var maxDevices: Int
    /// Buffer of each `discoveries()` stream; the oldest undelivered events are dropped beyond it.
    public var eventBufferSize: Int

    public init(
        bindHost: String = "0.0.0.0",
        port: Int = Discovery.defaultPort,
        reusePort: Bool = ScannerConfiguration.reusePortByDefault,
        recentWindow: Duration = .seconds(2),
        maxDevices: Int = 1024,
        eventBufferSize: Int = 64
    ) {
        self.bindHost = bindHost
        self.port = port
        self.reusePort = reusePort
        self.recentWindow = recentWindow
        self.maxDevices = maxDevices
        self.eventBufferSize = eventBufferSize
    }

    #if os(Linux)
    public static let reusePortByDefault = false
    #else
    public static let reusePortByDefault = true
    #endif

    /// Loopback broadcasts only: binds `127.255.255.255:port`.
    public static func loopback(port: Int) -> Self { .init(bindHost: "127.255.255.255", port: port) }
}
