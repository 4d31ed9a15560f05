import Foundation
import NIOCore
import Testing
import WPWithinCore
import WPWithinWire

@testable import WPWithinDiscovery

@Suite("Discovery on loopback")
struct DiscoveryTests {
    @Test("a broadcaster to 127.255.255.255 from 127.0.0.1 and a scanner discover each other")
    func discover() async throws {
        let (scanner, port) = try await Loopback.scanner(recentWindow: .seconds(600))
        let message = Loopback.message()
        let broadcaster = Loopback.broadcaster(message, port: port)
        try await broadcaster.start()

        let found = try await scanner.search(matching: .serverID(message.serverID), timeout: .seconds(30))
        #expect(found.message == message)
        #expect(found.sourceHost == "127.0.0.1")
        #expect(found.sourcePort != port)
        #expect(found.baseURL == "http://127.0.0.1:64521")
        #expect(found.sourceBaseURL == "http://127.0.0.1:64521")

        let devices = try await scanner.devices(within: .milliseconds(300))
        let ours = devices.filter { $0.serverID == message.serverID }
        #expect(ours.count == 1)
        #expect(Set(devices.map(\.serverID)).count == devices.count)
        #expect(try #require(ours.first).datagrams >= 1)

        await broadcaster.stop()
        await scanner.shutdown()
        #expect(await scanner.isListening == false)
        #expect(await broadcaster.isBroadcasting == false)
    }

    @Test("several scanners on one port all receive each broadcast")
    func sharedPort() async throws {
        let (first, port) = try await Loopback.scanner()
        let (second, secondPort) = try await Loopback.scanner(port: port)
        #expect(secondPort == port)
        // A third bound to the wildcard address, as the daemon does by default, shares the port too.
        let wildcard = DiscoveryScanner(configuration: .init(bindHost: "0.0.0.0", port: port), logger: Loopback.logger)
        try await wildcard.start()

        let message = Loopback.message()
        let broadcaster = Loopback.broadcaster(message, port: port)
        try await broadcaster.start()
        for scanner in [first, second, wildcard] {
            let found = try await scanner.search(matching: .serverID(message.serverID), timeout: .seconds(30))
            #expect(found.message == message)
        }
        await broadcaster.stop()
        for scanner in [first, second, wildcard] { await scanner.shutdown() }
    }

    @Test("search returns as soon as a match arrives, not at its timeout")
    func searchReturnsOnFirstMatch() async throws {
        let (scanner, port) = try await Loopback.scanner(recentWindow: .seconds(600))
        let message = Loopback.message(name: "early-bird")
        let broadcaster = Loopback.broadcaster(message, port: port, interval: .seconds(60))

        // The search is waiting before the device exists; a 30 s timeout would fail the suite's pace if it waited.
        async let searched = scanner.search(matching: .deviceName("early-bird"), timeout: .seconds(30))
        try await Task.sleep(for: .milliseconds(200))
        try await broadcaster.start()  // one datagram now, the next in a minute
        let found = try await searched
        #expect(found.serverID == message.serverID)
        #expect(found.datagrams == 1)

        // Already seen recently: answered from the table at once, matching on either field.
        let again = try await scanner.search(matching: .serverIDOrDeviceName(message.serverID), timeout: .seconds(30))
        #expect(again.serverID == message.serverID)

        await broadcaster.stop()
        await scanner.shutdown()
    }

    @Test("search for an absent serverID throws discoveryTimeout")
    func searchTimesOut() async throws {
        let (scanner, port) = try await Loopback.scanner()
        let broadcaster = Loopback.broadcaster(Loopback.message(), port: port)
        try await broadcaster.start()
        let absent = UUID().uuidString.lowercased()
        let error = await #expect(throws: WPWError.self) {
            try await scanner.search(matching: .serverID(absent), timeout: .milliseconds(300))
        }
        #expect(error?.code == .discoveryTimeout)
        #expect(error?.data?["timeoutMs"] == .int(300))
        await broadcaster.stop()
        await scanner.shutdown()
    }

    @Test("malformed datagrams are ignored and the scanner keeps working")
    func malformedDatagrams() async throws {
        let (scanner, port) = try await Loopback.scanner()
        let wrongTypes = "wrong-types-\(UUID().uuidString)"
        let huge = "huge-\(UUID().uuidString)"
        let garbage: [[UInt8]] = [
            Array("not json at all".utf8),
            [0xff, 0xfe, 0x00, 0x01, 0x80],
            [],
            Array("{}".utf8),
            Array("[]".utf8),
            Array("null".utf8),
            Array(#"{"serverID":42}"#.utf8),
            Array(#"{"serverID":"\#(wrongTypes)","portNumber":"64521"}"#.utf8),
            Array(#"{"serverID":"\#(wrongTypes)","serviceTypes":"wash"}"#.utf8),
            Array(String(repeating: "[", count: 1500).utf8),
            // Valid JSON but over Go's 2048-byte buffer, and one far over our receive buffer.
            Array(#"{"serverID":"\#(huge)","deviceDescription":"\#(String(repeating: "x", count: 3000))"}"#.utf8),
            Array(#"{"serverID":"\#(huge)","deviceDescription":"\#(String(repeating: "y", count: 60000))"}"#.utf8),
        ]
        try await Loopback.sendRaw(garbage, port: port)

        let good = Loopback.message()
        try await Loopback.sendRaw([try good.datagram()], port: port)
        let found = try await scanner.search(matching: .serverID(good.serverID), timeout: .seconds(30))
        #expect(found.message == good)
        #expect(await scanner.device(serverID: wrongTypes) == nil)
        #expect(await scanner.device(serverID: huge) == nil)
        #expect(await scanner.device(serverID: "") == nil)
        #expect(await scanner.isListening)

        // And still afterwards.
        try await Loopback.sendRaw(garbage, port: port)
        let later = Loopback.message()
        try await Loopback.sendRaw([try later.datagram()], port: port)
        #expect(try await scanner.search(matching: .serverID(later.serverID), timeout: .seconds(30)).message == later)
        await scanner.shutdown()
    }

    @Test("the datagram on the wire is Go's: same bytes as the capture for the same fields")
    func datagramMatchesGoCapture() async throws {
        let capture = try Fixtures.bytes("broadcast-datagram.json")
        let captured = try BroadcastMessage.parse(datagram: capture)
        #expect(captured.scheme == "http://")

        let (scanner, port) = try await Loopback.scanner()  // holds a kernel-chosen port for this test
        let broadcaster = Loopback.broadcaster(captured, port: port)
        let envelope = try await Loopback.receiveRaw(port: port) { try await broadcaster.start() }
        await broadcaster.stop()
        await scanner.shutdown()

        let sent = Array(envelope.data.readableBytesView)
        #expect(sent == capture)
        #expect(sent.last == UInt8(ascii: "}"))  // no newline, no framing
        #expect(try BroadcastMessage.parse(datagram: sent) == captured)
        let keys = try Self.topLevelKeys(sent)
        #expect(keys == ["deviceDescription", "hostname", "portNumber", "serverID", "urlPrefix", "scheme", "deviceName", "serviceTypes"])
        #expect(envelope.remoteAddress.ipAddress == "127.0.0.1")
    }

    @Test("the device-discovered stream announces a device once")
    func discoveriesStream() async throws {
        // A long window: a pause of the loaded machine between two datagrams must not count as the
        // device going away and coming back (which would rightly announce it twice).
        let (scanner, port) = try await Loopback.scanner(recentWindow: .seconds(600))
        let stream = try await scanner.discoveries()
        let message = Loopback.message()
        let broadcaster = Loopback.broadcaster(message, port: port, interval: .milliseconds(50))
        try await broadcaster.start()
        _ = try await scanner.search(matching: .serverID(message.serverID), timeout: .seconds(30))
        try await Task.sleep(for: .milliseconds(300))  // several more datagrams from the same device
        await broadcaster.stop()
        await scanner.shutdown()  // ends the stream

        var announced: [String] = []
        for await device in stream { announced.append(device.serverID) }
        #expect(announced.filter { $0 == message.serverID }.count == 1)
    }

    /// Top-level keys of a flat JSON object, in order (enough for the datagram: string keys, no nesting
    /// except a string array).
    static func topLevelKeys(_ bytes: [UInt8]) throws -> [String] {
        let text = try #require(String(bytes: bytes, encoding: .utf8))
        var keys: [String] = []
        var depth = 0
        var index = text.startIndex
        var expectKey = false
        while index < text.endIndex {
            let c = text[index]
            switch c {
            case "{", "[": depth += 1; expectKey = depth == 1 && c == "{"
            case "}", "]": depth -= 1
            case ",": expectKey = depth == 1
            case "\"":
                var end = text.index(after: index)
                while text[end] != "\"" { end = text[end] == "\\" ? text.index(end, offsetBy: 2) : text.index(after: end) }
                if expectKey { keys.append(String(text[text.index(after: index)..<end])); expectKey = false }
                index = end
            default: break
            }
            index = text.index(after: index)
        }
        return keys
    }
}
