import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
import WPWithinCore
import WPWithinWire

@testable import WPWithinDiscovery

/// Loopback-only helpers: every socket here is on 127.0.0.0/8, every broadcast goes to 127.255.255.255.
enum Loopback {
    static let broadcastHost = "127.255.255.255"
    static let logger = Logger(label: "discovery-tests", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A scanner on loopback broadcasts, on a port the kernel picks (unique, high, never 8980).
    /// `recentWindow`: how long a device heard counts as present (a test that relies on "heard a moment ago"
    /// gives it a long window, so a loaded machine's pauses cannot age the device out between two steps).
    static func scanner(port: Int = 0, recentWindow: Duration? = nil) async throws -> (DiscoveryScanner, Int) {
        var configuration = ScannerConfiguration.loopback(port: port)
        if let recentWindow { configuration.recentWindow = recentWindow }
        let scanner = DiscoveryScanner(configuration: configuration, logger: logger)
        try await scanner.start()
        let bound = try #require(await scanner.localAddress?.port)
        #expect(bound != Discovery.defaultPort)
        return (scanner, bound)
    }

    static func message(serverID: String = UUID().uuidString.lowercased(), name: String = "test-producer") -> BroadcastMessage {
        BroadcastMessage(
            deviceDescription: "Loopback test producer", hostname: "127.0.0.1", serverID: serverID, deviceName: name,
            serviceTypes: ["wash"])
    }

    static func broadcaster(_ message: BroadcastMessage, port: Int, interval: Duration = .milliseconds(100)) -> DiscoveryBroadcaster {
        DiscoveryBroadcaster(message: message, configuration: .loopback(port: port, interval: interval), logger: logger)
    }

    /// Sends raw datagrams as loopback broadcasts from 127.0.0.1.
    static func sendRaw(_ datagrams: [[UInt8]], port: Int) async throws {
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_broadcast), value: 1)
            .bind(host: "127.0.0.1", port: 0).get()
        let destination = try SocketAddress(ipAddress: broadcastHost, port: port)
        for bytes in datagrams {
            try await channel.writeAndFlush(AddressedEnvelope(remoteAddress: destination, data: ByteBuffer(bytes: bytes)))
        }
        try await channel.close()
    }

    /// Receives the first raw datagram on `127.255.255.255:port` (address reuse on, so it shares the port).
    static func receiveRaw(port: Int, after send: @Sendable () async throws -> Void) async throws -> AddressedEnvelope<ByteBuffer> {
        typealias Envelope = AddressedEnvelope<ByteBuffer>
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: broadcastHost, port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<Envelope, Never>(wrappingChannelSynchronously: channel) }
            }
        try await send()
        return try await channel.executeThenClose { inbound in
            var iterator = inbound.makeAsyncIterator()
            guard let first = try await iterator.next() else { throw CancellationError() }
            return first
        }
    }
}

enum Fixtures {
    static func bytes(_ name: String) throws -> [UInt8] {
        let url = try #require(
            Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil) ?? Bundle.module.url(forResource: name, withExtension: nil))
        return Array(try Data(contentsOf: url))
    }
}
