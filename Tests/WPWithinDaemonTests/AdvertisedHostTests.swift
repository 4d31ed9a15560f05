#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WPWithinDaemon

/// How a producer picks the host it advertises: a pure choice over a list of interfaces, the system's own
/// lookups on loopback, and the start-up log of a real daemon.
@Suite struct AdvertisedHostTests {
    static let lo = AdvertisedHost.Interface(name: "lo", address: IPv4("127.0.0.1")!, netmask: IPv4("255.0.0.0")!)
    static let eth0 = AdvertisedHost.Interface(name: "eth0", address: IPv4("192.168.1.20")!, netmask: IPv4("255.255.255.0")!)
    static let wlan0 = AdvertisedHost.Interface(name: "wlan0", address: IPv4("10.4.0.7")!, netmask: IPv4("255.255.0.0")!)

    func choose(
        configured: String? = nil, hteHost: String = "0.0.0.0", broadcast: String = "255.255.255.255",
        interfaces: [AdvertisedHost.Interface]?, route: String? = nil
    ) -> AdvertisedHost {
        AdvertisedHost.choose(
            configured: configured, hteHost: hteHost, broadcastAddress: broadcast, interfaces: interfaces, routeSource: { route })
    }

    @Test func theConfiguredHostAndASpecificHTEHostWin() {
        #expect(choose(configured: "wash.local", interfaces: [Self.eth0]) == AdvertisedHost(host: "wash.local", source: .configured))
        #expect(choose(hteHost: "10.4.0.7", interfaces: [Self.eth0]) == AdvertisedHost(host: "10.4.0.7", source: .hteHost))
    }

    @Test func aWildcardTakesTheInterfaceWhoseSubnetHoldsTheBroadcast() {
        #expect(choose(broadcast: "10.4.255.255", interfaces: [Self.lo, Self.eth0, Self.wlan0])
            == AdvertisedHost(host: "10.4.0.7", source: .interface, interface: "wlan0"))
        #expect(choose(broadcast: "192.168.1.255", interfaces: [Self.lo, Self.wlan0, Self.eth0])
            == AdvertisedHost(host: "192.168.1.20", source: .interface, interface: "eth0"))
        // A loopback broadcast reaches only this host: loopback is then the right address.
        #expect(choose(broadcast: "127.255.255.255", interfaces: [Self.eth0, Self.lo])
            == AdvertisedHost(host: "127.0.0.1", source: .interface, interface: "lo"))
    }

    @Test func theLimitedBroadcastTakesTheFirstUpNonLoopbackInterface() {
        var down = Self.eth0
        down.isUp = false
        #expect(choose(interfaces: [Self.lo, down, Self.wlan0]) == AdvertisedHost(host: "10.4.0.7", source: .interface, interface: "wlan0"))
        // A broadcast in no interface's subnet: the same.
        #expect(choose(broadcast: "172.16.255.255", interfaces: [Self.lo, Self.eth0]).host == "192.168.1.20")
    }

    @Test func withoutTheInterfacesTheRouteTowardTheBroadcastIsAsked() {
        // getifaddrs failed (nil), e.g. with the netlink socket forbidden.
        #expect(choose(interfaces: nil, route: "192.168.1.20") == AdvertisedHost(host: "192.168.1.20", source: .route))
        // Only loopback listed: the route is asked too.
        #expect(choose(interfaces: [Self.lo], route: "10.4.0.7") == AdvertisedHost(host: "10.4.0.7", source: .route))
        // Nothing at all: loopback, as a last resort (and the daemon warns).
        #expect(choose(interfaces: nil, route: nil) == AdvertisedHost(host: "127.0.0.1", source: .loopbackFallback))
        #expect(choose(interfaces: nil, route: "0.0.0.0") == AdvertisedHost(host: "127.0.0.1", source: .loopbackFallback))
    }

    @Test func aLoopbackHostIsWarnedAboutOnlyWhenTheBroadcastLeavesThisHost() {
        #expect(AdvertisedHost.isUnreachableFromBroadcast(host: "127.0.0.1", broadcastAddress: "255.255.255.255"))
        #expect(AdvertisedHost.isUnreachableFromBroadcast(host: "localhost", broadcastAddress: "192.168.1.255"))
        #expect(AdvertisedHost.isUnreachableFromBroadcast(host: "127.0.1.1", broadcastAddress: "10.4.255.255"))
        #expect(!AdvertisedHost.isUnreachableFromBroadcast(host: "127.0.0.1", broadcastAddress: "127.255.255.255"))
        #expect(!AdvertisedHost.isUnreachableFromBroadcast(host: "192.168.1.20", broadcastAddress: "127.255.255.255"))
        #expect(!AdvertisedHost.isUnreachableFromBroadcast(host: "192.168.1.20", broadcastAddress: "255.255.255.255"))
    }

    @Test func ipv4Literals() {
        #expect(IPv4("192.168.1.20")?.description == "192.168.1.20")
        #expect(IPv4("255.255.255.255") == .limitedBroadcast)
        #expect(IPv4("wash.local") == nil)
        #expect(IPv4("127.3.2.1")?.isLoopback == true)
        #expect(Self.eth0.contains(IPv4("192.168.1.255")!))
        #expect(!Self.eth0.contains(IPv4("192.168.2.255")!))
    }

    /// The real lookups, on loopback only: getifaddrs lists lo, and the route toward 127.255.255.255 (a
    /// connected UDP socket: nothing is sent) comes from 127.0.0.1.
    @Test func theSystemLookupsOnLoopback() throws {
        let interfaces = try AdvertisedHost.systemInterfaces().get()
        #expect(interfaces.contains { $0.isLoopback && $0.address == IPv4("127.0.0.1") })
        #expect(AdvertisedHost.routeSource(toward: "127.255.255.255", port: 9) == "127.0.0.1")
        let lookup = AdvertisedHost.lookUp(configured: nil, hteHost: "0.0.0.0", broadcastAddress: "127.255.255.255", port: 9)
        #expect(lookup.interfacesError == nil)
        #expect(lookup.choice.host == "127.0.0.1")
        #expect(lookup.choice.source == .interface)
    }

    @Test func aProducerLogsTheAddressItAdvertisesAndHow() async throws {
        let dir = try TempDir()
        var environment = loopbackDiscovery(port: try freeUDPPort(), roles: "producer")
        environment["WPWITHIND_ADVERTISED_HOST"] = nil  // chosen from producer.hte.host (127.0.0.1)
        let daemon = try DaemonProcess(dir: dir, environment: environment)
        try await daemon.waitUntilListening()
        let line = try #require(daemon.log.split(separator: "\n").first { $0.contains("Advertised address chosen") })
        #expect(line.contains("discovery.advertised_host=127.0.0.1"), "\(line)")
        #expect(line.contains("discovery.advertised_host_source=hteHost"), "\(line)")
        #expect(line.contains("discovery.broadcast_address=127.255.255.255"), "\(line)")
        // Loopback to a loopback broadcast: no warning.
        #expect(!daemon.log.contains("Advertising a loopback address"))
        #expect(try await daemon.stop() == 0)
    }
}
