#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The host a producer puts in its broadcast (`hostname`: where consumers reach its HTE server), and how it
/// was chosen. ``choose(configured:hteHost:broadcastAddress:interfaces:routeSource:)`` is the whole choice,
/// as a pure function; ``lookUp(configured:hteHost:broadcastAddress:port:)`` feeds it the system's view.
public struct AdvertisedHost: Sendable, Equatable {
    public enum Source: String, Sendable, Equatable {
        /// `producer.hte.advertisedHost`.
        case configured
        /// `producer.hte.host`, a specific address.
        case hteHost
        /// An address of a network interface (`interface` names it).
        case interface
        /// The source address the kernel would use toward the broadcast address (a connected UDP socket:
        /// `connect` sends nothing), used when the interfaces cannot be listed or none fits.
        case route
        /// Nothing better was found.
        case loopbackFallback
    }

    /// One IPv4 address of a network interface, as `getifaddrs` lists it.
    public struct Interface: Sendable, Equatable {
        public var name: String
        public var address: IPv4
        public var netmask: IPv4?
        public var isUp: Bool
        public var isLoopback: Bool

        public init(name: String, address: IPv4, netmask: IPv4?, isUp: Bool = true, isLoopback: Bool? = nil) {
            self.name = name
            self.address = address
            self.netmask = netmask
            self.isUp = isUp
            self.isLoopback = isLoopback ?? address.isLoopback
        }

        /// Whether `address` lies in this interface's subnet.
        public func contains(_ other: IPv4) -> Bool {
            guard let netmask, netmask != .any else { return false }
            return address.masked(by: netmask) == other.masked(by: netmask)
        }
    }

    public var host: String
    public var source: Source
    public var interface: String?

    public init(host: String, source: Source, interface: String? = nil) {
        self.host = host
        self.source = source
        self.interface = interface
    }

    /// True for a loopback address (127.0.0.0/8, `::1`, `localhost`): only this host can reach it.
    public static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        return IPv4(host)?.isLoopback ?? false
    }

    /// Whether to warn: the advertised host is loopback while the broadcast goes beyond this host, so the
    /// consumers that hear it are handed an address they cannot reach. (The other way round is fine.)
    public static func isUnreachableFromBroadcast(host: String, broadcastAddress: String) -> Bool {
        isLoopback(host) && !isLoopback(broadcastAddress)
    }

    /// The choice, in order: the configured host; a specific HTE host; for a wildcard HTE host, an up
    /// interface whose subnet holds the broadcast address (loopback included: a broadcast to 127.255.255.255
    /// only reaches this host, so 127.0.0.1 is then right), else the first up non-loopback interface; when
    /// `interfaces` is nil (they could not be listed) or none fits, `routeSource()`; last, 127.0.0.1.
    public static func choose(
        configured: String?, hteHost: String, broadcastAddress: String, interfaces: [Interface]?,
        routeSource: () -> String?
    ) -> AdvertisedHost {
        if let configured { return AdvertisedHost(host: configured, source: .configured) }
        guard hteHost == "0.0.0.0" || hteHost == "::" || hteHost.isEmpty else { return AdvertisedHost(host: hteHost, source: .hteHost) }
        let up = (interfaces ?? []).filter(\.isUp)
        if let broadcast = IPv4(broadcastAddress), broadcast != .limitedBroadcast,
           let match = up.first(where: { $0.contains(broadcast) }) {
            return AdvertisedHost(host: match.address.description, source: .interface, interface: match.name)
        }
        if let first = up.first(where: { !$0.isLoopback }) {
            return AdvertisedHost(host: first.address.description, source: .interface, interface: first.name)
        }
        if let routed = routeSource(), IPv4(routed) != IPv4.any {
            return AdvertisedHost(host: routed, source: .route)
        }
        return AdvertisedHost(host: "127.0.0.1", source: .loopbackFallback)
    }

    /// What the lookup saw, for the start-up log.
    public struct Lookup: Sendable, Equatable {
        public var choice: AdvertisedHost
        /// errno of a failed `getifaddrs` (e.g. EAFNOSUPPORT when the netlink socket is not allowed).
        public var interfacesError: Int32?
    }

    /// ``choose(configured:hteHost:broadcastAddress:interfaces:routeSource:)`` over this host's interfaces.
    public static func lookUp(configured: String?, hteHost: String, broadcastAddress: String, port: Int) -> Lookup {
        let needsInterfaces = configured == nil && (hteHost == "0.0.0.0" || hteHost == "::" || hteHost.isEmpty)
        var interfaces: [Interface]?
        var error: Int32?
        if needsInterfaces {
            switch systemInterfaces() {
            case .success(let list): interfaces = list
            case .failure(let code): error = code.value
            }
        }
        let choice = choose(
            configured: configured, hteHost: hteHost, broadcastAddress: broadcastAddress, interfaces: interfaces,
            routeSource: { routeSource(toward: broadcastAddress, port: port) })
        return Lookup(choice: choice, interfacesError: error)
    }

    public struct Errno: Error, Equatable {
        public var value: Int32
    }

    /// The IPv4 addresses of every interface (`getifaddrs`, which needs a netlink socket on Linux).
    public static func systemInterfaces() -> Result<[Interface], Errno> {
        var addresses: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&addresses) == 0 else { return .failure(Errno(value: errno)) }
        defer { freeifaddrs(addresses) }
        var result: [Interface] = []
        var cursor = addresses
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET) else { continue }
            let flags = entry.pointee.ifa_flags
            result.append(Interface(
                name: String(cString: entry.pointee.ifa_name),
                address: IPv4(address),
                netmask: entry.pointee.ifa_netmask.map { IPv4($0) },
                isUp: flags & UInt32(IFF_UP) != 0,
                isLoopback: flags & UInt32(IFF_LOOPBACK) != 0))
        }
        return .success(result)
    }

    /// The local address of a UDP socket connected to `host:port`: the source the kernel picks for that
    /// route. `connect` on a datagram socket only sets the default destination; no packet is sent.
    public static func routeSource(toward host: String, port: Int) -> String? {
        guard let destination = IPv4(host), (1...65535).contains(port) else { return nil }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // Connecting to a broadcast address needs SO_BROADCAST (EACCES otherwise).
        var on: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &on, socklen_t(MemoryLayout<Int32>.size))
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = in_port_t(UInt16(port).bigEndian)
        remote.sin_addr = in_addr(s_addr: destination.value.bigEndian)
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return nil }
        var local = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { return nil }
        let address = IPv4(value: UInt32(bigEndian: local.sin_addr.s_addr))
        return address == .any ? nil : address.description
    }
}

/// An IPv4 address in host byte order.
public struct IPv4: Sendable, Hashable, CustomStringConvertible {
    public var value: UInt32

    public static let any = IPv4(value: 0)
    public static let limitedBroadcast = IPv4(value: 0xFFFF_FFFF)

    public init(value: UInt32) { self.value = value }

    /// A dotted-quad literal (`inet_pton`); nil for anything else.
    public init?(_ text: String) {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
        value = UInt32(bigEndian: address.s_addr)
    }

    init(_ address: UnsafeMutablePointer<sockaddr>) {
        let v4 = UnsafeRawPointer(address).loadUnaligned(as: sockaddr_in.self)
        value = UInt32(bigEndian: v4.sin_addr.s_addr)
    }

    public var isLoopback: Bool { value >> 24 == 127 }

    public func masked(by mask: IPv4) -> IPv4 { IPv4(value: value & mask.value) }

    public var description: String {
        "\(value >> 24).\((value >> 16) & 0xFF).\((value >> 8) & 0xFF).\(value & 0xFF)"
    }
}
