import Foundation
import NIOCore
import NIOExtras
import NIOFoundationCompat
import NIOPosix
import WPWithinCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A tiny newline-delimited JSON-RPC server on a Unix socket in a fresh temp dir, scripted per test.
///
/// Each connection's lines are handed, in order, to `handler` together with the connection so that the
/// script can answer (or not), answer later, send notifications, send garbage or close.
final class FakeDaemon: Sendable {
    typealias Handler = @Sendable (FakeConnection, JSONValue) async throws -> Void

    let directory: String
    let socketPath: String
    /// Every request received, in order, across connections.
    let received: Recorder<JSONValue>
    /// One entry per connection that ended (the client hung up or a script closed it).
    let disconnections: Recorder<Int>
    private let task: Task<Void, Never>
    private let listener: any Channel
    private let accepted: AcceptedChannels

    private init(
        directory: String, socketPath: String, received: Recorder<JSONValue>, disconnections: Recorder<Int>,
        task: Task<Void, Never>, listener: any Channel, accepted: AcceptedChannels
    ) {
        self.directory = directory
        self.socketPath = socketPath
        self.received = received
        self.disconnections = disconnections
        self.task = task
        self.listener = listener
        self.accepted = accepted
    }

    /// Accepted connections are plain channels (not reading yet) until the accept loop serves them: only then is
    /// each wrapped in a `NIOAsyncChannel`, on its event loop, and run with `executeThenClose` at once. A connection
    /// that is accepted but never served (the listener closed or the task was cancelled first) has no outbound
    /// writer that could be dropped unfinished (NIO traps on that: apple/swift-nio#2637); `stop()` closes it.
    static func start(_ handler: @escaping Handler = FakeDaemon.standard) async throws -> FakeDaemon {
        let directory = try makeTemporaryDirectory()
        let socketPath = directory + "/rpc.sock"
        let accepted = AcceptedChannels()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelOption(.autoRead, value: false)
            .bind(unixDomainSocketPath: socketPath) { child in
                child.eventLoop.makeCompletedFuture {
                    accepted.insert(child)
                    try child.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineBasedFrameDecoder()))
                    return child
                }
            }
        let received = Recorder<JSONValue>()
        let disconnections = Recorder<Int>()
        let task = Task {
            _ = try? await server.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await child in inbound {
                        group.addTask {
                            if let connection = try? await wrap(child) {
                                _ = try? await connection.executeThenClose { input, output in
                                    let peer = FakeConnection(outbound: output, channel: connection.channel)
                                    for try await line in input {
                                        let request = try JSONDecoder().decode(JSONValue.self, from: line)
                                        await received.append(request)
                                        try await handler(peer, request)
                                    }
                                }
                            }
                            await disconnections.append(1)
                        }
                    }
                }
            }
        }
        return FakeDaemon(
            directory: directory, socketPath: socketPath, received: received, disconnections: disconnections, task: task,
            listener: server.channel, accepted: accepted
        )
    }

    /// Wraps an accepted connection for serving and starts reading it, or closes it and returns nil when it is
    /// already closed. Nothing that can fail comes after the wrapper is created (adding its handler to a closed
    /// channel's pipeline would throw and drop its writer unfinished), so a returned wrapper always gets served.
    private static func wrap(_ child: any Channel) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer>? {
        let connection = try await child.eventLoop.submit { () throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer>? in
            guard child.isActive, let options = child.syncOptions else { return nil }
            try options.setOption(.autoRead, value: true)  // reads start once this tick ends, into the wrapper
            return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: child)
        }.get()
        if connection == nil { try? await child.close() }
        return connection
    }

    /// Stops listening, drops every connection and removes the temp dir.
    func stop() async {
        try? await listener.close()
        task.cancel()
        await task.value
        for child in accepted.all() { try? await child.close() }
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: Scripts

    static let device: JSONValue = [
        "serverId": "0f8fad5b-d9cb-469f-a165-70867728950e", "name": "fake", "description": "A fake daemon",
        "version": "0.0.1-test", "roles": ["producer", "consumer"],
    ]

    static func status(socketPath: String) -> JSONValue {
        [
            "version": "0.0.1-test", "uptimeSeconds": 12.5, "connections": 1, "socketPath": .string(socketPath),
            "stateDir": "/tmp/state", "ready": true, "roles": ["producer", "consumer"], "pid": 4242,
            "metricsURL": nil,
            "payments": ["card": nil, "gatewayEndpoint": "https://127.0.0.1:1/v1", "merchantClientKey": nil],
            "health": [
                "ok": true, "producerStore": nil,
                "discovery": ["broadcaster": nil, "scanner": nil],
                "gateway": ["reachable": nil, "secondsSinceLastCall": nil],
                "store": ["freeBytes": 1_000_000, "lastCommitFailed": false, "writable": true],
            ],
        ]
    }

    static let notFound = WPWError(.notFound, "no such service", data: ["serviceId": 7])

    /// The methods most tests need:
    /// `getDevice`, `getStatus`, `echo` (result = params), `fail` (-32010 with data), `hang` (never answered),
    /// `drop` (closes the connection), `subscribe` (answers, then sends events seq 1…3 of the requested first
    /// type, or "test", after `resumeFrom`), `unsubscribe`; anything else -32601.
    static let standard: Handler = { peer, request in
        try await standardAnswer(peer, request, closeAfterEvents: false)
    }

    /// Like `standard`, but closes the connection after sending the events (so an events follower ends).
    static let closingAfterEvents: Handler = { peer, request in
        try await standardAnswer(peer, request, closeAfterEvents: true)
    }

    static func standardAnswer(_ peer: FakeConnection, _ request: JSONValue, closeAfterEvents: Bool) async throws {
        let id = request["id"] ?? .null
        let params = request["params"] ?? [:]
        switch request["method"]?.stringValue ?? "" {
        case "getDevice":
            try await peer.send(JSONRPC.response(id: .init(json: id)!, result: device))
        case "getStatus":
            try await peer.send(JSONRPC.response(id: .init(json: id)!, result: status(socketPath: peer.localPath)))
        case "echo":
            try await peer.send(JSONRPC.response(id: .init(json: id)!, result: params))
        case "fail":
            try await peer.send(JSONRPC.response(id: .init(json: id)!, error: notFound))
        case "hang":
            break
        case "drop":
            await peer.close()
        case "subscribe":
            try await peer.send(JSONRPC.response(id: .init(json: id)!, result: ["subscribed": true, "lastSeq": 3]))
            let type = params["types"]?.arrayValue?.first?.stringValue ?? "test"
            let from = params["resumeFrom"]?.int64Value ?? 0
            for seq in (from + 1)...(from + 3) {
                try await peer.send(event(seq: seq, type: type, extra: ["n": .int(seq)]))
            }
            if closeAfterEvents { await peer.close() }
        case "unsubscribe":
            try await peer.send(JSONRPC.response(id: .init(json: id)!, result: ["subscribed": false]))
        default:
            try await peer.send(
                JSONRPC.response(id: .init(json: id)!, error: WPWError(.methodNotFound, "method not found"))
            )
        }
    }

    static func event(seq: Int64, type: String, extra: [String: JSONValue] = [:]) -> JSONValue {
        var params: [String: JSONValue] = ["seq": .int(seq), "type": .string(type), "time": "2026-11-25T04:00:00.250Z"]
        params.merge(extra) { _, new in new }
        return JSONRPC.notification(method: "event", params: .object(params))
    }
}

/// One accepted connection, as seen by a script.
struct FakeConnection: Sendable {
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let channel: any Channel

    var localPath: String { channel.localAddress?.pathname ?? "" }

    func send(_ value: JSONValue) async throws {
        let data = try JSONEncoder().encode(value)
        try await sendRaw(String(decoding: data, as: UTF8.self) + "\n")
    }

    func sendRaw(_ text: String) async throws {
        try await outbound.write(ByteBuffer(string: text))
    }

    func close() async {
        try? await channel.close()
    }
}

/// Collects values from concurrent code and lets a test wait, without timing, until enough have arrived.
actor Recorder<Value: Sendable> {
    private(set) var values: [Value] = []
    private var waiters: [Int: (count: Int, continuation: CheckedContinuation<[Value], Never>)] = [:]
    private var nextWaiter = 0

    func append(_ value: Value) {
        values.append(value)
        for (key, waiter) in waiters where waiter.count <= values.count {
            waiters[key] = nil
            waiter.continuation.resume(returning: values)
        }
    }

    /// Returns once at least `count` values were recorded, or when the waiting task is cancelled (the test's
    /// time limit does that); then the caller's expectations on the values fail.
    func waitForCount(_ count: Int) async -> [Value] {
        if values.count >= count || Task.isCancelled { return values }
        let key = nextWaiter
        nextWaiter += 1
        return await withTaskCancellationHandler {
            await withCheckedContinuation { waiters[key] = (count, $0) }
        } onCancel: {
            Task { await self.cancelWaiter(key) }
        }
    }

    private func cancelWaiter(_ key: Int) {
        waiters.removeValue(forKey: key)?.continuation.resume(returning: values)
    }

    /// Returns once the recorded values satisfy `predicate` (or the task is cancelled).
    func waitUntil(_ predicate: @Sendable ([Value]) -> Bool) async -> [Value] {
        var count = values.count
        while true {
            let current = await waitForCount(count)
            if predicate(current) || Task.isCancelled { return current }
            count = current.count + 1
        }
    }
}

/// Every connection a fake daemon accepted, so that `stop()` can close those its accept loop never served.
private final class AcceptedChannels: @unchecked Sendable {
    private let lock = NSLock()
    private var channels: [any Channel] = []

    func insert(_ channel: any Channel) {
        lock.withLock { channels.append(channel) }
    }

    func all() -> [any Channel] {
        lock.withLock { channels }
    }
}

func makeTemporaryDirectory() throws -> String {
    var template = Array("/tmp/wpwc.XXXXXX".utf8CString)
    guard let result = mkdtemp(&template) else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
    return String(cString: result)
}
