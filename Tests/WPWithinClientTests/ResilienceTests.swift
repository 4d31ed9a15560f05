import Foundation
import Testing
import WPWithinClient
import WPWithinCore
import WPWithinTestSupport

/// Waits until `condition` holds, checking every 20 ms, for at most `limit` (generous: a loaded machine is slow).
func waitUntil(_ what: String, limit: Duration = .seconds(60), _ condition: () async -> Bool) async throws {
    let deadline = ContinuousClock.now + limit
    while !(await condition()) {
        guard ContinuousClock.now < deadline else { throw TestSupportError("gave up waiting: \(what)") }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// The ids of the calls a fake daemon has not answered yet.
private actor HungCalls {
    private var ids: [JSONValue] = []
    func add(_ id: JSONValue) { ids.append(id) }
    func takeAll() -> [JSONValue] {
        defer { ids = [] }
        return ids
    }
}

/// Timeouts, reconnecting, parameter checks and the resumable event stream against a fake daemon.
@Suite(.timeLimit(.minutes(1)))
struct WPWithinClientResilienceTests {
    @Test func aCallWithoutAnAnswerTimesOutAndALateAnswerGoesToNobody() async throws {
        // `hang` is never answered in time; its answer comes just before the next call's, which must get its own.
        let hung = HungCalls()
        let handler: FakeDaemon.Handler = { peer, request in
            let id = request["id"] ?? .null
            switch request["method"]?.stringValue {
            case "hang":
                await hung.add(id)
            case "echo":
                for late in await hung.takeAll() {
                    try await peer.send(JSONRPC.response(id: .init(json: late)!, result: "late"))
                }
                try await peer.send(JSONRPC.response(id: .init(json: id)!, result: request["params"] ?? .null))
            default:
                try await FakeDaemon.standardAnswer(peer, request, closeAfterEvents: false)
            }
        }
        try await withFakeDaemon(timeout: .milliseconds(200), handler) { daemon, client in
            let error = await #expect(throws: WPWithinClientError.self) { try await client.call("hang") }
            #expect(error?.code == .timeout)
            #expect(error?.message.contains("hang") == true, "\(String(describing: error))")
            #expect(error?.socketPath == daemon.socketPath)
            // The same client, the same connection: the next call gets its own answer, not the late one.
            let echoed = try await client.call("echo", params: ["mine": true], timeout: .seconds(60))
            #expect(echoed == ["mine": true])
            #expect(await client.isConnected)
            #expect(await daemon.disconnections.values.isEmpty)
            // A typed method times out the same way.
            let typed = await #expect(throws: WPWithinClientError.self) { try await client.call("hang", as: WPWithinClient.Device.self) }
            #expect(typed?.code == .timeout)
        }
    }

    @Test func aPerCallTimeoutOverridesTheClients() async throws {
        try await withFakeDaemon { _, client in
            #expect(client.timeout == WPWithinClient.defaultTimeout)
            let error = await #expect(throws: WPWithinClientError.self) {
                try await client.call("hang", timeout: .milliseconds(100))
            }
            #expect(error?.code == .timeout)
            let after = try await client.call("echo", params: ["after": 1])
            #expect(after == ["after": 1])
        }
    }

    @Test func callsWithTimeoutMsGetThatPlusAMargin() {
        let base = Duration.seconds(60)
        #expect(WPWithinClient.callTimeout(base, params: nil) == base)
        #expect(WPWithinClient.callTimeout(base, params: ["timeoutMs": 2000]) == base)
        #expect(WPWithinClient.callTimeout(base, params: ["timeoutMs": 120_000]) == .seconds(130))
        #expect(WPWithinClient.callTimeout(.seconds(1), params: ["timeoutMs": 5000]) == .seconds(15))
        #expect(WPWithinClient.callTimeout(nil, params: ["timeoutMs": 5000]) == nil)
    }

    @Test func withoutReconnectADroppedConnectionStaysDropped() async throws {
        let daemon = try await FakeDaemon.start()
        let client = try await WPWithinClient.connected(socketPath: daemon.socketPath, reconnect: false)
        let dropped = await #expect(throws: WPWithinClientError.self) { try await client.call("drop") }
        #expect(dropped?.code == .connectionClosed)
        let later = await #expect(throws: WPWithinClientError.self) { try await client.call("getStatus") }
        #expect(later?.code == .connectionClosed)
        #expect(await daemon.received.values.count == 1)
        await client.close()
        await daemon.stop()
    }

    @Test func badParamsAreRefusedBeforeSending() async throws {
        try await withFakeDaemon { daemon, client in
            let refusals: [(String, () async throws -> any Sendable)] = [
                ("numberOfUnits", { try await client.selectService(.serverId("s"), serviceId: 1, priceId: 1, numberOfUnits: 0) }),
                ("numberOfUnits", {
                    try await client.selectService(.serverId("s"), serviceId: 1, priceId: 1, numberOfUnits: Int(Int32.max) + 1)
                }),
                ("units", { try await client.beginServiceDelivery(purchaseId: 1, units: 0) }),
                ("unitsReceived", { try await client.endServiceDelivery(purchaseId: 1, unitsReceived: -1) }),
                ("timeoutMs", { try await client.deviceDiscovery(timeoutMs: -1) }),
                ("timeoutMs", { try await client.searchForDevice(name: "x", timeoutMs: 600_001) }),
                ("timeoutMs", { try await client.startServiceBroadcast(timeoutMs: -5) }),
                ("service", { try await client.addService("not an object") }),
                ("service", { try await client.replaceService([1, 2]) }),
                ("resumeFrom", { try await client.events(resumeFrom: -1) }),
                ("resumeFrom", { try await client.resumableEvents(resumeFrom: -1) }),
                ("timeout", { try await client.call("echo", timeout: .zero) }),
            ]
            for (name, refused) in refusals {
                let error = await #expect(throws: WPWithinClientError.self) { _ = try await refused() }
                #expect(error?.code == .invalidParams, "\(name): \(String(describing: error))")
                #expect(error?.message.contains(name) == true, "\(String(describing: error))")
                #expect(error?.message.contains("nothing was sent") == true)
            }
            // The bounds themselves pass.
            _ = try await client.call("echo", params: ["last": true])
            let requests = await daemon.received.values
            #expect(requests.map { $0["method"] } == ["echo"], "nothing refused reached the daemon")
        }
    }

    @Test func aResumableStreamResubscribesAfterSubscriptionLostAndADropWithoutLossOrRepeats() async throws {
        // First subscribe: 1…3 then subscriptionLost. From 3: 3 (again) …6, then the connection drops.
        // From 6: 6 (again) …9, then the daemon waits.
        let handler: FakeDaemon.Handler = { peer, request in
            guard request["method"] == "subscribe" else {
                try await FakeDaemon.standardAnswer(peer, request, closeAfterEvents: false)
                return
            }
            let from = request["params"]?["resumeFrom"]?.int64Value ?? 0
            try await peer.send(JSONRPC.response(id: .init(json: request["id"]!)!, result: ["subscribed": true, "lastSeq": .int(from + 3)]))
            for seq in max(1, from)...(from + 3) { try await peer.send(FakeDaemon.event(seq: seq, type: "t")) }
            switch from {
            case 0:
                try await peer.send(JSONRPC.notification(method: "subscriptionLost", params: ["reason": "overflow", "lastDeliveredSeq": 3]))
            case 3:
                await peer.close()
            default:
                break
            }
        }
        try await withFakeDaemon(handler) { daemon, client in
            let stream = try await client.resumableEvents(types: ["t"])
            var seqs: [Int64] = []
            for try await event in stream {
                seqs.append(event.seq)
                if seqs.count == 9 { break }
            }
            #expect(seqs == Array(1...9))
            #expect(await stream.lastSeq == 9)
            #expect(await stream.resubscriptions == 2)
            let subscribes = await daemon.received.values.filter { $0["method"] == "subscribe" }
            #expect(subscribes.map { $0["params"]?["resumeFrom"] } == [nil, 3, 6])
            #expect(subscribes.allSatisfy { $0["params"]?["types"] == ["t"] })
            await stream.close()
            // The client's own connection was never involved.
            #expect(await client.isConnected)
        }
    }

    @Test func aResumableStreamEndsWhenClosed() async throws {
        try await withFakeDaemon { _, client in
            let stream = try await client.resumableEvents()
            var iterator = stream.makeAsyncIterator()
            #expect(try await iterator.next()?.seq == 1)
            await stream.close()
            #expect(try await iterator.next() == nil)
        }
    }

}

/// Restarts of a real `wpwithind`: the client reconnects, the resumable event stream loses and repeats nothing.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct WPWithinClientRestartTests {
    static let producer = ["WPWITHIND_ROLES": "producer"]

    static func service(_ id: Int64) -> JSONValue {
        [
            "id": .int(id), "name": .string("Wash \(id)"), "description": "A wash", "serviceType": "car-wash",
            "prices": [["id": 1, "description": "Wash", "amount": 500, "currencyCode": "GBP", "unitId": 1, "unitDescription": "Car"]],
        ]
    }

    @Test func theNextCallAfterADaemonRestartSucceedsOnANewConnection() async throws {
        try await withRealDaemon { daemon, client in
            let before = try await client.getStatus()
            #expect(before.pid == daemon.pid)
            daemon = try await daemon.restart()
            // The client notices the old connection end on its own (a call racing with that may fail with
            // connectionClosed: it is never retried, as it may have been delivered).
            try await waitUntil("the client sees the connection drop") { await !client.isConnected }
            let after = try await client.getStatus()
            #expect(after.pid == daemon.pid)
            #expect(after.pid != before.pid)
            #expect(after.socketPath == daemon.socketPath)
            #expect(await client.isConnected)
        }
    }

    @Test func aResumableStreamDeliversEveryEventOnceAcrossARestart() async throws {
        try await withRealDaemon(environment: Self.producer) { daemon, client in
            let stream = try await client.resumableEvents(types: ["producer.serviceAdded"])
            var iterator = stream.makeAsyncIterator()
            for id: Int64 in 1...3 { _ = try await client.addService(Self.service(id)) }
            // Only the first is read before the restart; 2 and 3 wait in the stream or the daemon's journal.
            var seen = [try #require(try await iterator.next())]

            daemon = try await daemon.restart(environment: Self.producer)
            try await waitUntil("the client sees the connection drop") { await !client.isConnected }
            for id: Int64 in 4...5 { _ = try await client.addService(Self.service(id)) }
            while seen.count < 5 { seen.append(try #require(try await iterator.next())) }

            #expect(seen.map { $0.params["serviceId"]?.int64Value } == [1, 2, 3, 4, 5])
            let seqs = seen.map(\.seq)
            #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count, "\(seqs)")
            #expect(await stream.resubscriptions >= 1)
            // Nothing repeated after them: the next event is the next service.
            _ = try await client.addService(Self.service(6))
            let sixth = try #require(try await iterator.next())
            #expect(sixth.params["serviceId"]?.int64Value == 6)
            #expect(sixth.seq > seqs.last!)
            await stream.close()
        }
    }

    @Test func aResumableStreamResumesAfterTheDaemonDropsItWithoutLossOrRepeats() async throws {
        let configDirectory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: configDirectory) }
        let config = configDirectory + "/wpwithind.json"
        try #"{"rpc": {"eventBufferPerSubscriber": 16}}"#.write(toFile: config, atomically: true, encoding: .utf8)
        try await withRealDaemon(environment: Self.producer.merging(["WPWITHIND_CONFIG": config]) { $1 }) { daemon, client in
            // A small buffer: the stream stops reading when 8 events wait, so the daemon's 16 fill up.
            let small = WPWithinClient(eventBufferLimit: 8)
            defer { Task { await small.close() } }
            try await small.connect(socketPath: daemon.socketPath)
            let stream = try await small.resumableEvents(types: ["producer.serviceAdded", "producer.serviceRemoved"])
            var iterator = stream.makeAsyncIterator()
            var last = try #require(await stream.lastSubscription?.lastSeq)
            // Nobody reads the stream while four tasks add and remove a service of their own; then every event
            // of the round is read, each once and in order. A round that happened not to overflow the
            // daemon's buffer is followed by another, so nothing here depends on the machine's pace.
            let workers = 4
            let pairs = 150
            for _ in 0..<5 {
                if await stream.resubscriptions > 0 { break }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for worker in 0..<workers {
                        group.addTask {
                            let id = Int64(100 + worker)
                            for _ in 0..<pairs {
                                _ = try await client.addService(Self.service(id))
                                _ = try await client.removeService(serviceId: Int(id))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                var added = 0
                var removed = 0
                for _ in 0..<(workers * pairs * 2) {
                    let event = try #require(try await iterator.next())
                    try #require(event.seq > last, "seq \(event.seq) after \(last): repeated or out of order")
                    last = event.seq
                    if event.type == "producer.serviceAdded" { added += 1 } else { removed += 1 }
                }
                #expect(added == workers * pairs && removed == workers * pairs)
            }
            #expect(await stream.resubscriptions >= 1, "five floods never made the daemon drop the stream: flood harder")
            // Nothing more than what was caused: the next event is the next one caused.
            _ = try await client.addService(Self.service(7))
            let next = try #require(try await iterator.next())
            #expect(next.type == "producer.serviceAdded" && next.params["serviceId"]?.int64Value == 7)
            #expect(next.seq > last)
            await stream.close()
        }
    }
}
