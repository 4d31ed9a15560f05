import Foundation
import NIOCore
import Testing
import WPWithinCore
import WPWithinWire

@testable import WPWithinDiscovery

@Suite("Discovery start/stop")
struct DiscoveryLifecycleTests {
    @Test("broadcaster start/stop is idempotent, also from concurrent callers")
    func broadcasterIdempotent() async throws {
        let (scanner, port) = try await Loopback.scanner()
        let message = Loopback.message()
        let broadcaster = Loopback.broadcaster(message, port: port)

        await broadcaster.stop()  // stop before start: no-op
        try await broadcaster.start()
        try await broadcaster.start()
        #expect(await broadcaster.isBroadcasting)
        await broadcaster.stop()
        await broadcaster.stop()
        #expect(await broadcaster.isBroadcasting == false)

        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<20 {
                group.addTask {
                    if i % 2 == 0 { try await broadcaster.start() } else { await broadcaster.stop() }
                }
            }
            try await group.waitForAll()
        }
        try await broadcaster.start()
        #expect(try await scanner.search(matching: .serverID(message.serverID), timeout: .seconds(30)).message == message)
        await broadcaster.stop()
        #expect(await broadcaster.isBroadcasting == false)
        await scanner.shutdown()
    }

    @Test("a broadcast with a timeout ends by itself; the message can change while running")
    func broadcasterTimeout() async throws {
        // A long window: the search below looks for a device that has stopped broadcasting, which a
        // loaded machine may reach seconds later.
        let (scanner, port) = try await Loopback.scanner(recentWindow: .seconds(600))
        var message = Loopback.message()
        let broadcaster = Loopback.broadcaster(message, port: port, interval: .milliseconds(50))

        // Ends by itself. Poll (bounded) rather than assume a pace: the machine may be loaded.
        try await broadcaster.start(timeout: .milliseconds(300))
        for _ in 0..<400 where await broadcaster.isBroadcasting { try await Task.sleep(for: .milliseconds(50)) }
        #expect(await broadcaster.isBroadcasting == false)
        #expect(await broadcaster.datagramsSent >= 1)
        #expect(try await scanner.search(matching: .serverID(message.serverID), timeout: .seconds(30)).message == message)

        // Starts again after ending by itself; an updated message goes out from the next datagram.
        try await broadcaster.start()
        message.serviceTypes = ["wash", "dry"]
        try await broadcaster.update(message: message)
        var seen: BroadcastMessage?
        for _ in 0..<400 {
            seen = await scanner.device(serverID: message.serverID)?.message
            if seen == message { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(seen == message)
        await broadcaster.stop()
        await scanner.shutdown()
    }

    @Test("scanner start/stop is idempotent and rebinds the same port")
    func scannerIdempotent() async throws {
        // `holder` keeps the kernel-chosen port reserved; `scanner` is configured with that fixed port.
        let (holder, port) = try await Loopback.scanner()
        let (scanner, _) = try await Loopback.scanner(port: port)
        try await scanner.start()
        #expect(await scanner.localAddress?.port == port)
        await scanner.stop()
        await scanner.stop()
        #expect(await scanner.isListening == false)

        let message = Loopback.message()
        let broadcaster = Loopback.broadcaster(message, port: port)
        try await broadcaster.start()
        // A query binds again.
        #expect(try await scanner.search(matching: .serverID(message.serverID), timeout: .seconds(30)).serverID == message.serverID)
        #expect(await scanner.localAddress?.port == port)
        await broadcaster.stop()
        await scanner.shutdown()
        await scanner.shutdown()
        await holder.shutdown()
    }

    @Test("after shutdown both refuse to start; run() ends on cancellation with nothing left running")
    func shutdown() async throws {
        let (scanner, port) = try await Loopback.scanner()
        let broadcaster = Loopback.broadcaster(Loopback.message(), port: port)
        try await broadcaster.start()

        let runs = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await broadcaster.run() }
                group.addTask { try await scanner.run() }
                try await group.waitForAll()
            }
        }
        // A pending search ends when the scanner shuts down.
        let pending = Task { try await scanner.search(matching: .serverID("nobody"), timeout: .seconds(30)) }
        let listening = Task { try await scanner.devices(within: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(200))
        runs.cancel()
        try await runs.value

        #expect(await broadcaster.isBroadcasting == false)
        #expect(await scanner.isListening == false)
        let pendingError = await #expect(throws: WPWError.self) { try await pending.value }
        #expect(pendingError?.code == .unavailable)
        // A discovery window cut short is an error, not an empty list that looks like the whole answer.
        let listeningError = await #expect(throws: WPWError.self) { try await listening.value }
        #expect(listeningError?.code == .unavailable)
        let startError = await #expect(throws: WPWError.self) { try await broadcaster.start() }
        #expect(startError?.code == .unavailable)
        let scanError = await #expect(throws: WPWError.self) { try await scanner.devices(within: .zero) }
        #expect(scanError?.code == .unavailable)
    }

    @Test("bad configuration is reported, not crashed on")
    func badConfiguration() async throws {
        let broadcaster = DiscoveryBroadcaster(
            message: Loopback.message(), configuration: .init(destinationHost: "not-an-ip", destinationPort: 1, source: .address("127.0.0.1")),
            logger: Loopback.logger)
        let error = await #expect(throws: WPWError.self) { try await broadcaster.start() }
        #expect(error?.code == .invalidParams)
        #expect(await broadcaster.isBroadcasting == false)

        let scanner = DiscoveryScanner(configuration: .init(bindHost: "127.0.0.1", port: 70000), logger: Loopback.logger)
        let scanError = await #expect(throws: WPWError.self) { try await scanner.start() }
        #expect(scanError?.code == .invalidParams)

        let tooBig = BroadcastMessage(
            deviceDescription: String(repeating: "z", count: 3000), hostname: "127.0.0.1", serverID: "x", deviceName: "x", serviceTypes: [])
        let big = Loopback.broadcaster(tooBig, port: 1)
        let bigError = await #expect(throws: WPWError.self) { try await big.start() }
        #expect(bigError?.code == .invalidParams)
    }
}
