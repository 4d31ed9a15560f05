import Foundation
import Testing
import WPWithinClient
import WPWithinCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs `body` with a fake daemon and a client connected to it, then tears both down.
func withFakeDaemon(
    maxLineLength: Int = WPWithinClient.defaultMaxLineLength,
    eventBufferLimit: Int = WPWithinClient.defaultEventBufferLimit,
    timeout: Duration? = WPWithinClient.defaultTimeout,
    _ handler: @escaping FakeDaemon.Handler = FakeDaemon.standard,
    _ body: (FakeDaemon, WPWithinClient) async throws -> Void
) async throws {
    let daemon = try await FakeDaemon.start(handler)
    let client = WPWithinClient(maxLineLength: maxLineLength, eventBufferLimit: eventBufferLimit, timeout: timeout)
    do {
        try await client.connect(socketPath: daemon.socketPath)
        try await body(daemon, client)
    } catch {
        await client.close()
        await daemon.stop()
        throw error
    }
    await client.close()
    await daemon.stop()
}

@Suite(.timeLimit(.minutes(1)))
struct WPWithinClientCallTests {
    @Test func typedGetDeviceAndGetStatus() async throws {
        try await withFakeDaemon { daemon, client in
            let device = try await client.getDevice()
            #expect(device.serverId == "0f8fad5b-d9cb-469f-a165-70867728950e")
            #expect(device.roles == ["producer", "consumer"])
            #expect(device.description == "A fake daemon")
            let status = try await client.getStatus()
            #expect(status.ready)
            #expect(status.pid == 4242)
            #expect(status.uptimeSeconds == 12.5)
            #expect(status.connections == 1)
            #expect(await client.socketPath == daemon.socketPath)
        }
    }

    @Test func requestsAreJSONRPC2WithNamedParams() async throws {
        try await withFakeDaemon { daemon, client in
            let result = try await client.call("echo", params: ["big": .int(9_007_199_254_740_993), "s": "x/y"])
            #expect(result == ["big": .int(9_007_199_254_740_993), "s": "x/y"])
            _ = try await client.call("getStatus")
            let requests = await daemon.received.waitForCount(2)
            #expect(requests[0]["jsonrpc"] == "2.0")
            #expect(requests[0]["method"] == "echo")
            #expect(requests[0]["id"]?.int64Value != nil)
            #expect(requests[1]["params"] == nil, "params are omitted when nil")
            #expect(requests[0]["id"] != requests[1]["id"])
        }
    }

    @Test func pipelinedCallsAnsweredOutOfOrderAreMatchedById() async throws {
        let count = 5
        let held = Recorder<JSONValue>()
        // Holds every request until all have arrived, then answers them newest first.
        let handler: FakeDaemon.Handler = { peer, request in
            await held.append(request)
            let all = await held.values
            guard all.count == count else { return }
            for request in all.reversed() {
                let n = request["params"]?["n"]?.int64Value ?? -1
                try await peer.send(JSONRPC.response(id: .init(json: request["id"]!)!, result: ["n": .int(n * 10)]))
            }
        }
        try await withFakeDaemon(handler) { _, client in
            let results = try await withThrowingTaskGroup(of: (Int64, JSONValue).self) { group in
                for n in 1...Int64(count) {
                    group.addTask { (n, try await client.call("slow", params: ["n": .int(n)])) }
                }
                var results: [Int64: JSONValue] = [:]
                for try await (n, result) in group { results[n] = result }
                return results
            }
            #expect(results.count == count)
            for n in 1...Int64(count) {
                #expect(results[n] == ["n": .int(n * 10)])
            }
        }
    }

    @Test func errorObjectsAreThrownAsWPWError() async throws {
        try await withFakeDaemon { _, client in
            let error = await #expect(throws: WPWError.self) { try await client.call("fail") }
            #expect(error?.code == .notFound)
            #expect(error?.message == "no such service")
            #expect(error?.data == ["serviceId": 7])
            let missing = await #expect(throws: WPWError.self) { try await client.call("noSuchMethod") }
            #expect(missing?.code == .methodNotFound)
            // The connection is still usable after error answers.
            let echoed = try await client.call("echo", params: ["ok": true])
            #expect(echoed == ["ok": true])
        }
    }

    @Test func aResultOfTheWrongShapeIsAnInvalidResponse() async throws {
        try await withFakeDaemon { _, client in
            let error = await #expect(throws: WPWithinClientError.self) {
                try await client.call("echo", params: ["x": 1], as: WPWithinClient.Device.self)
            }
            #expect(error?.code == .invalidResponse)
        }
    }

    @Test func callsBeforeConnectOrAfterCloseFail() async throws {
        let client = WPWithinClient()
        let before = await #expect(throws: WPWithinClientError.self) { try await client.call("getStatus") }
        #expect(before?.code == .notConnected)
        try await withFakeDaemon { daemon, client in
            await client.close()
            let after = await #expect(throws: WPWithinClientError.self) { try await client.call("getStatus") }
            #expect(after?.code == .notConnected)
            let again = await #expect(throws: WPWithinClientError.self) { try await client.connect(socketPath: daemon.socketPath) }
            #expect(again?.code == .alreadyConnected)
        }
    }

    @Test func closeEndsWaitingCalls() async throws {
        try await withFakeDaemon { daemon, client in
            let waiting = Task { try await client.call("hang") }
            _ = await daemon.received.waitForCount(1)
            await client.close()
            let error = await #expect(throws: WPWithinClientError.self) { try await waiting.value }
            #expect(error?.code == .notConnected)
        }
    }

    @Test func closeAndDroppingTheClientHangUp() async throws {
        let daemon = try await FakeDaemon.start()
        let closed = try await WPWithinClient.connected(socketPath: daemon.socketPath)
        _ = try await closed.getStatus()
        await closed.close()
        await closed.close()  // twice is fine
        _ = await daemon.disconnections.waitForCount(1)
        do {
            let dropped = try await WPWithinClient.connected(socketPath: daemon.socketPath)
            _ = try await dropped.getStatus()
        }
        // The last reference is gone: the connection ends without close().
        let ended = await daemon.disconnections.waitForCount(2)
        #expect(ended.count == 2)
        await daemon.stop()
    }

    @Test func cancellingACallThrowsCancellationError() async throws {
        try await withFakeDaemon { daemon, client in
            let task = Task { try await client.call("hang") }
            _ = await daemon.received.waitForCount(1)
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            // The connection is still fine.
            let echoed = try await client.call("echo", params: ["a": 1])
            #expect(echoed == ["a": 1])
        }
    }
}

@Suite(.timeLimit(.minutes(1)))
struct WPWithinClientConnectionTests {
    @Test func daemonClosingMidCallEndsEveryWaitingCall() async throws {
        try await withFakeDaemon { daemon, client in
            let first = Task { try await client.call("hang") }
            _ = await daemon.received.waitForCount(1)
            let second = Task { try await client.call("drop") }
            let error1 = await #expect(throws: WPWithinClientError.self) { try await first.value }
            let error2 = await #expect(throws: WPWithinClientError.self) { try await second.value }
            #expect(error1?.code == .connectionClosed)
            #expect(error2?.code == .connectionClosed)
            #expect(error1?.socketPath == daemon.socketPath)
            // The client says it is not connected; the next call opens a new connection (nothing is retried).
            #expect(await client.isConnected == false)
            let later = try await client.getStatus()
            #expect(later.pid == 4242)
            #expect(await client.isConnected)
            let methods = await daemon.received.values.compactMap { $0["method"]?.stringValue }
            #expect(methods == ["hang", "drop", "getStatus"])
        }
    }

    @Test func daemonStoppingMidCallEndsTheCall() async throws {
        let daemon = try await FakeDaemon.start()
        let client = try await WPWithinClient.connected(socketPath: daemon.socketPath)
        let waiting = Task { try await client.call("hang") }
        _ = await daemon.received.waitForCount(1)
        await daemon.stop()
        let error = await #expect(throws: WPWithinClientError.self) { try await waiting.value }
        #expect(error?.code == .connectionClosed)
        await client.close()
    }

    @Test func aLineOverTheLimitIsAClearError() async throws {
        let handler: FakeDaemon.Handler = { peer, request in
            let id = JSONRPC.ID(json: request["id"] ?? .null)!
            if request["method"] == "big" {
                try await peer.send(JSONRPC.response(id: id, result: .string(String(repeating: "x", count: 8192))))
            } else {
                try await peer.send(JSONRPC.response(id: id, result: "small"))
            }
        }
        try await withFakeDaemon(maxLineLength: 1024, handler) { _, client in
            let echoed = try await client.call("small")
            #expect(echoed == "small")
            let error = await #expect(throws: WPWithinClientError.self) { try await client.call("big") }
            #expect(error?.code == .lineTooLong)
            #expect(error?.message.contains("1024") == true)
            // The next call reconnects.
            let later = try await client.call("small")
            #expect(later == "small")
        }
    }

    @Test func aLineThatIsNotJSONIsAnInvalidResponse() async throws {
        let handler: FakeDaemon.Handler = { peer, _ in try await peer.sendRaw("this is not json\n") }
        try await withFakeDaemon(handler) { _, client in
            let error = await #expect(throws: WPWithinClientError.self) { try await client.call("anything") }
            #expect(error?.code == .invalidResponse)
        }
    }

    @Test func anUnmatchedErrorExplainsTheFollowingClose() async throws {
        let handler: FakeDaemon.Handler = { peer, _ in
            try await peer.send(JSONRPC.response(id: .null, error: WPWError(.messageTooLarge, "line too long")))
            await peer.close()
        }
        try await withFakeDaemon(handler) { _, client in
            let error = await #expect(throws: WPWithinClientError.self) { try await client.call("anything") }
            #expect(error?.code == .connectionClosed)
            #expect(error?.message.contains("-32001") == true)
        }
    }

    @Test func missingSocket() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/nobody.sock"
        let error = await #expect(throws: WPWithinClientError.self) { try await WPWithinClient.connected(socketPath: path) }
        #expect(error?.code == .noSuchSocket)
        #expect(error?.socketPath == path)
        #expect(error?.isConnectFailure == true)
        #expect(error?.description.contains(path) == true)
        #expect(error?.description.contains("no such socket") == true)
    }

    @Test func staleSocketFileWithNobodyListening() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/stale.sock"
        try bindAndCloseUnixSocket(path)
        let error = await #expect(throws: WPWithinClientError.self) { try await WPWithinClient.connected(socketPath: path) }
        #expect(error?.code == .connectionRefused)
        #expect(error?.message.contains("stale socket, daemon not running") == true)
    }

    @Test func aRegularFileIsNotASocket() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/file"
        #expect(FileManager.default.createFile(atPath: path, contents: Data("x".utf8)))
        let error = await #expect(throws: WPWithinClientError.self) { try await WPWithinClient.connected(socketPath: path) }
        #expect(error?.code == .notASocket)
    }

    @Test func aPathTooLongForSockaddrUn() async throws {
        let path = "/tmp/" + String(repeating: "p", count: 200) + ".sock"
        let error = await #expect(throws: WPWithinClientError.self) { try await WPWithinClient.connected(socketPath: path) }
        #expect(error?.code == .pathTooLong)
    }

    @Test(.disabled(if: geteuid() == 0, "root bypasses file permissions"))
    func permissionDenied() async throws {
        let daemon = try await FakeDaemon.start()
        defer { Task { await daemon.stop() } }
        #expect(chmod(daemon.socketPath, 0) == 0)
        let error = await #expect(throws: WPWithinClientError.self) {
            try await WPWithinClient.connected(socketPath: daemon.socketPath)
        }
        #expect(error?.code == .permissionDenied)
    }

    @Test func socketPathResolution() {
        #expect(WPWithinClient.resolveSocketPath("/a.sock", environment: ["WPWITHIN_SOCKET": "/b.sock"]) == "/a.sock")
        #expect(WPWithinClient.resolveSocketPath(nil, environment: ["WPWITHIN_SOCKET": "/b.sock"]) == "/b.sock")
        #expect(WPWithinClient.resolveSocketPath("", environment: ["WPWITHIN_SOCKET": ""]) == "/run/wpwithin.sock")
        #expect(WPWithinClient.resolveSocketPath(nil, environment: [:]) == "/run/wpwithin.sock")
    }
}

@Suite(.timeLimit(.minutes(1)))
struct WPWithinClientEventTests {
    @Test func eventsStreamSubscribesAndYieldsNotifications() async throws {
        try await withFakeDaemon { daemon, client in
            var events: [WPWithinClient.Event] = []
            do {
                // The stream is dropped at the end of this scope, which ends the subscription.
                let stream = try await client.events(types: ["payment"], resumeFrom: 10)
                for try await event in stream {
                    events.append(event)
                    if events.count == 3 { break }
                }
            }
            #expect(events.map(\.seq) == [11, 12, 13])
            #expect(events.allSatisfy { $0.type == "payment" })
            #expect(events[0].time == "2026-11-25T04:00:00.250Z")
            #expect(events[0].date != nil)
            #expect(events[0].params["n"] == 11)
            let requests = await daemon.received.waitForCount(1)
            #expect(requests[0]["method"] == "subscribe")
            #expect(requests[0]["params"] == ["types": ["payment"], "resumeFrom": 10])
            // Dropping the stream unsubscribes.
            let all = await daemon.received.waitUntil { $0.contains { $0["method"] == "unsubscribe" } }
            #expect(all.last?["method"] == "unsubscribe")
        }
    }

    @Test func duplicateAndOlderSequenceNumbersAreDropped() async throws {
        let handler: FakeDaemon.Handler = { peer, request in
            guard request["method"] == "subscribe" else { return }
            try await peer.send(JSONRPC.response(id: .init(json: request["id"]!)!, result: ["subscribed": true, "lastSeq": 0]))
            for seq: Int64 in [1, 2, 2, 1, 3] { try await peer.send(FakeDaemon.event(seq: seq, type: "t")) }
            await peer.close()
        }
        try await withFakeDaemon(handler) { _, client in
            let stream = try await client.events()
            var seqs: [Int64] = []
            let error = await #expect(throws: WPWithinClientError.self) {
                for try await event in stream { seqs.append(event.seq) }
            }
            #expect(seqs == [1, 2, 3])
            #expect(error?.code == .connectionClosed)
        }
    }

    @Test func responsesAndEventsInterleave() async throws {
        try await withFakeDaemon { _, client in
            let stream = try await client.events()
            var iterator = stream.makeAsyncIterator()
            let first = try await iterator.next()
            #expect(first?.seq == 1)
            let echoed = try await client.call("echo", params: ["x": 1])
            #expect(echoed == ["x": 1])
            let second = try await iterator.next()
            #expect(second?.seq == 2)
        }
    }

    @Test func daemonClosingEndsTheStreamWithAnError() async throws {
        try await withFakeDaemon(FakeDaemon.closingAfterEvents) { _, client in
            let stream = try await client.events()
            var count = 0
            let error = await #expect(throws: WPWithinClientError.self) {
                for try await _ in stream { count += 1 }
            }
            #expect(count == 3)
            #expect(error?.code == .connectionClosed)
        }
    }

    @Test func closeFinishesTheStreamNormally() async throws {
        try await withFakeDaemon { _, client in
            let stream = try await client.events()
            var iterator = stream.makeAsyncIterator()
            _ = try await iterator.next()
            await client.close()
            // Buffered events may still come; then the stream ends without an error.
            while try await iterator.next() != nil {}
        }
    }

    @Test func unsubscribeFinishesTheStreamAndTellsTheDaemon() async throws {
        try await withFakeDaemon { daemon, client in
            let stream = try await client.events()
            var iterator = stream.makeAsyncIterator()
            _ = try await iterator.next()
            try await client.unsubscribe()
            while try await iterator.next() != nil {}
            let requests = await daemon.received.values
            #expect(requests.map { $0["method"] } == ["subscribe", "unsubscribe"])
        }
    }

    @Test func theDaemonDroppingTheSubscriptionEndsTheStream() async throws {
        let handler: FakeDaemon.Handler = { peer, request in
            guard request["method"] == "subscribe" else { return }
            try await peer.send(JSONRPC.response(id: .init(json: request["id"]!)!, result: ["subscribed": true, "lastSeq": 0]))
            try await peer.send(FakeDaemon.event(seq: 1, type: "t"))
            try await peer.send(JSONRPC.notification(method: "subscriptionLost", params: ["reason": "overflow", "lastDeliveredSeq": 1]))
        }
        try await withFakeDaemon(handler) { _, client in
            let stream = try await client.events()
            var seqs: [Int64] = []
            let error = await #expect(throws: WPWithinClientError.self) {
                for try await event in stream { seqs.append(event.seq) }
            }
            #expect(seqs == [1])
            #expect(error?.code == .subscriptionLost)
            #expect(error?.message.contains("resumeFrom: 1") == true)
            #expect(await client.isConnected)
        }
    }

    @Test func aConsumerFallingBehindTheBufferLimitLosesTheStream() async throws {
        try await withFakeDaemon(eventBufferLimit: 2) { _, client in
            let stream = try await client.events()
            #expect(await client.lastSubscription?.lastSeq == 3)
            // Answers come in line order: once echo is answered, all three events were received.
            _ = try await client.call("echo")
            var seqs: [Int64] = []
            let error = await #expect(throws: WPWithinClientError.self) {
                for try await event in stream { seqs.append(event.seq) }
            }
            #expect(seqs == [1, 2])
            #expect(error?.code == .subscriptionLost)
        }
    }

    @Test func aFailedSubscribeThrows() async throws {
        let handler: FakeDaemon.Handler = { peer, request in
            try await peer.send(
                JSONRPC.response(id: .init(json: request["id"]!)!, error: WPWError.invalidParams(field: "types", "unknown type"))
            )
        }
        try await withFakeDaemon(handler) { _, client in
            let error = await #expect(throws: WPWError.self) { try await client.events(types: ["nope"]) }
            #expect(error?.code == .invalidParams)
            #expect(error?.data == ["field": "types"])
            // A resumable stream's first subscribe throws the same way.
            let resumable = await #expect(throws: WPWError.self) { try await client.resumableEvents(types: ["nope"]) }
            #expect(resumable?.code == .invalidParams)
        }
    }
}

/// Leaves a socket file behind with nobody listening, like a daemon that crashed.
func bindAndCloseUnixSocket(_ path: String) throws {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EIO) }
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard result == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
}
