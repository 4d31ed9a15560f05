#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WPWithinCore

/// A free UDP port on loopback (bound then released).
func freeUDPPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
            guard bind(fd, pointer, length) == 0 else { return -1 }
            return getsockname(fd, pointer, &length)
        }
    }
    guard bound == 0 else { throw HarnessError("cannot find a free UDP port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Loopback-only discovery settings for a test daemon (network rule: 127.255.255.255 from 127.0.0.1).
func loopbackDiscovery(port: Int, roles: String) -> [String: String] {
    [
        "WPWITHIND_ROLES": roles,
        "WPWITHIND_BROADCAST_ADDRESS": "127.255.255.255",
        "WPWITHIND_BROADCAST_SOURCE": "127.0.0.1",
        "WPWITHIND_DISCOVERY_PORT": String(port),
        "WPWITHIND_SCAN_BIND_ADDRESS": "127.255.255.255",
        "WPWITHIND_ADVERTISED_HOST": "127.0.0.1",
        "WPWITHIND_HTE_HOST": "127.0.0.1",
    ]
}

@Suite struct DaemonDiscoveryTests {
    @Test func aConsumerFindsABroadcastingProducer() async throws {
        let port = try freeUDPPort()
        let producerDir = try TempDir()
        let consumerDir = try TempDir()
        let producer = try DaemonProcess(dir: producerDir, environment: loopbackDiscovery(port: port, roles: "producer"))
        let consumer = try DaemonProcess(dir: consumerDir, environment: loopbackDiscovery(port: port, roles: "consumer"))
        try await producer.waitUntilListening()
        try await consumer.waitUntilListening()
        let producerClient = try RawClient(path: producer.socketPath)
        let consumerClient = try RawClient(path: consumer.socketPath)
        let serverId = try await #require(try producerClient.result("getDevice")["serverId"]?.stringValue)

        // Roles are enforced.
        #expect(try await consumerClient.call("startServiceBroadcast")["error"]?["code"] == -32003)
        #expect(try await producerClient.call("deviceDiscovery", ["timeoutMs": 10])["error"]?["code"] == -32003)

        let events = try RawClient(path: consumer.socketPath)
        _ = try await events.result("subscribe", ["types": ["consumer.deviceDiscovered"]])
        #expect(try await producerClient.result("startServiceBroadcast", ["timeoutMs": 0])["broadcasting"] == true)
        // A 60 s timeout: the answer comes with the first datagram, long before.
        let found = try await consumerClient.result("searchForDevice", ["serverId": .string(serverId), "timeoutMs": 60_000])
        #expect(found["serverId"]?.stringValue == serverId)
        #expect(found["hostname"] == "127.0.0.1")
        #expect(found["url"]?.stringValue?.hasPrefix("http://127.0.0.1:") == true)

        let devices = try await #require(try consumerClient.result("deviceDiscovery", ["timeoutMs": 600]).arrayValue)
        #expect(devices.filter { $0["serverId"]?.stringValue == serverId }.count == 1)

        // The datagram lists the catalog's service types, kept current as services come and go.
        _ = try await producerClient.result("addService", ["service": [
            "id": 7, "name": "Vac", "description": "Vacuum", "serviceType": "vacuum",
            "prices": [["id": 1, "description": "minute", "amount": 20, "currencyCode": "GBP", "unitId": 1, "unitDescription": "minute"]],
        ]])
        var types: JSONValue?
        for _ in 0..<50 where types != ["vacuum"] {
            let seen = try await consumerClient.result("deviceDiscovery", ["timeoutMs": 600]).arrayValue ?? []
            types = seen.first { $0["serverId"]?.stringValue == serverId }?["serviceTypes"]
        }
        #expect(types == ["vacuum"])
        let event = try await events.readJSON()
        #expect(event["params"]?["type"] == "consumer.deviceDiscovered")
        #expect(event["params"]?["serverId"]?.stringValue == serverId)

        #expect(try await producerClient.result("stopServiceBroadcast")["broadcasting"] == false)
        let missing = try await consumerClient.call("searchForDevice", ["serverId": "00000000-0000-4000-8000-000000000000", "timeoutMs": 200])
        #expect(missing["error"]?["code"] == -32043)
        let both = try await consumerClient.call("searchForDevice", ["serverId": "x", "name": "y"])
        #expect(both["error"]?["code"] == -32602)
        #expect(try await producer.stop() == 0)
        #expect(try await consumer.stop() == 0)
    }
}
