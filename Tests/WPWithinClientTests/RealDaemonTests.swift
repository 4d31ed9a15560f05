import Foundation
import Testing
import WPWithinClient
import WPWithinCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs `body` with a freshly started real `wpwithind` (with `environment`) and a client connected to it;
/// then closes the client and stops the daemon, the one `body` left (it may restart it).
func withRealDaemon(
    environment: [String: String] = [:], _ body: (inout RealDaemon, WPWithinClient) async throws -> Void
) async throws {
    var daemon = try await RealDaemon.start(environment: environment)
    let client = WPWithinClient()
    do {
        try await client.connect(socketPath: daemon.socketPath)
        try await body(&daemon, client)
    } catch {
        await client.close()
        await daemon.stop()
        throw error
    }
    await client.close()
    #expect(await daemon.stop() == 0)
}

/// The client and wpwctl against the real daemon built from this package.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct RealDaemonTests {
    /// The shells' completion scripts ask `wpwctl ---completion …` for method names and event types; wpwctl
    /// asks the running daemon (`rpc.discover`), so the lists are the daemon's own.
    @Test func completionListsTheDaemonsMethodsAndEventTypes() async throws {
        let wpwctl = try builtExecutable("wpwctl")
        try await withRealDaemon { daemon, _ in
            // As the bash script calls it: the argument, the word index, the cursor in it, then the words.
            let methods = try await runProcess(
                wpwctl, ["---completion", "call", "--", "positional@0", "4", "3", "wpwctl", "--socket", daemon.socketPath, "call", "get"])
            #expect(methods.status == 0, "\(methods.stderr)")
            #expect(methods.stdoutLines.contains("getDevice") && methods.stdoutLines.contains("getStatus"), "\(methods.stdout)")
            #expect(methods.stdoutLines.allSatisfy { $0.hasPrefix("get") })
            let types = try await runProcess(
                wpwctl, ["---completion", "events", "--", "--type", "5", "10", "wpwctl", "--socket", daemon.socketPath, "events", "--type", "producer.p"])
            #expect(types.status == 0, "\(types.stderr)")
            #expect(types.stdoutLines.contains("producer.paymentSucceeded"), "\(types.stdout)")
            #expect(types.stdoutLines.allSatisfy { $0.hasPrefix("producer.p") })
        }
        // No daemon: nothing to offer, and no error in the shell.
        let none = try await runProcess(
            wpwctl, ["---completion", "call", "--", "positional@0", "4", "0", "wpwctl", "--socket", "/nonexistent/x.sock", "call", ""])
        #expect(none.status == 0 && none.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(none.stdout)")
    }

    @Test func theEventTypesInWpwctlsExamplesExist() async throws {
        let help = try await runProcess(try builtExecutable("wpwctl"), ["call", "--help"])
        #expect(help.status == 0)
        // Every quoted dotted name in the examples' params.
        let examples = help.stdout.components(separatedBy: "Examples:").last ?? ""
        let named = examples.components(separatedBy: "\"").filter { $0.contains(".") && !$0.contains(" ") && !$0.contains("{") }
        #expect(!named.isEmpty, "\(help.stdout)")
        try await withRealDaemon { _, client in
            let discover: JSONValue = try await client.call("rpc.discover")
            let subscribe = discover["methods"]?.arrayValue?.first { $0["name"] == "subscribe" }
            let known = subscribe?["params"]?.arrayValue?.first { $0["name"] == "types" }?["schema"]?["items"]?["enum"]?.arrayValue?
                .compactMap(\.stringValue) ?? []
            for name in named { #expect(known.contains(name), "\(name) is not an event type") }
        }
    }

    @Test func deviceAndStatus() async throws {
        try await withRealDaemon { daemon, client in
            let device = try await client.getDevice()
            #expect(UUID(uuidString: device.serverId) != nil)
            #expect(device.serverId == device.serverId.lowercased())
            #expect(!device.version.isEmpty)
            #expect(!device.roles.isEmpty)
            let status = try await client.getStatus()
            #expect(status.socketPath == daemon.socketPath)
            #expect(status.stateDir == daemon.stateDir)
            #expect(status.pid == daemon.pid)
            #expect(status.ready)
            #expect(status.connections >= 1)
            #expect(status.uptimeSeconds >= 0)
            #expect(status.version == device.version)
        }
    }

    @Test func discoverListsTheMethods() async throws {
        try await withRealDaemon { _, client in
            let document = try await client.discover()
            #expect(document["openrpc"]?.stringValue?.hasPrefix("1.") == true)
            let names = Set(document["methods"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
            #expect(names.isSuperset(of: ["getDevice", "getStatus", "subscribe", "unsubscribe"]))
            // The client is true to the daemon: a method added to one and not the other fails here.
            #expect(names == WPWithinClient.methods, "daemon only: \(names.subtracting(WPWithinClient.methods)); client only: \(WPWithinClient.methods.subtracting(names))")
            // And each typed method reaches the daemon under its name (a role this Thing lacks answers -32003,
            // never -32601).
            let calls: [(String, () async throws -> any Sendable)] = [
                ("listServices", { try await client.listServices() }),
                ("listPurchases", { try await client.listPurchases() }),
                ("stopServiceBroadcast", { try await client.stopServiceBroadcast() }),
                ("requestServices", { try await client.requestServices(.url("http://127.0.0.1:9")) }),
                ("removeService", { try await client.removeService(serviceId: 999) }),
                ("beginServiceDelivery", { try await client.beginServiceDelivery(purchaseId: 999, units: 1) }),
                ("endServiceDelivery", { try await client.endServiceDelivery(purchaseId: 999, unitsReceived: 1) }),
                ("makePayment", { try await client.makePayment(paymentReferenceId: "none") }),
            ]
            for (name, call) in calls {
                do {
                    _ = try await call()
                } catch let error as WPWError {
                    #expect(error.code != .methodNotFound && error.code != .invalidParams, "\(name): \(error)")
                }
            }
        }
    }

    @Test func manyPipelinedCallsOnOneConnection() async throws {
        try await withRealDaemon { daemon, client in
            let methods = ["getStatus", "getDevice", "rpc.discover"]
            let results = try await withThrowingTaskGroup(of: (String, JSONValue).self) { group in
                for index in 0..<60 {
                    let method = methods[index % methods.count]
                    group.addTask { (method, try await client.call(method)) }
                }
                var results: [(String, JSONValue)] = []
                for try await result in group { results.append(result) }
                return results
            }
            #expect(results.count == 60)
            for (method, result) in results {
                switch method {
                case "getStatus": #expect(result["socketPath"]?.stringValue == daemon.socketPath)
                case "getDevice": #expect(result["serverId"] != nil)
                default: #expect(result["openrpc"] != nil)
                }
            }
        }
    }

    @Test func errorsAreWPWErrors() async throws {
        try await withRealDaemon { _, client in
            let missing = await #expect(throws: WPWError.self) { try await client.call("noSuchMethod") }
            #expect(missing?.code == .methodNotFound)
            let badParams = await #expect(throws: WPWError.self) {
                try await client.call("subscribe", params: ["types": 5])
            }
            #expect(badParams?.code == .invalidParams)
            #expect(badParams?.data?["field"] == "types")
            // Still connected and usable.
            _ = try await client.getStatus()
        }
    }

    @Test func eventsFromTheDaemon() async throws {
        try await withRealDaemon { daemon, client in
            let stream = try await client.events(resumeFrom: 0)
            let subscription = try #require(await client.lastSubscription)
            #expect(subscription.subscribed)
            var iterator = stream.makeAsyncIterator()
            let started = try #require(try await iterator.next())
            #expect(started.type == "daemon.started")
            #expect(started.date != nil)
            // Subscribed (the call returned), so a reload now is delivered live.
            daemon.signal(SIGHUP)
            var reloaded: WPWithinClient.Event?
            while let event = try await iterator.next() {
                if event.type == "daemon.reloaded" {
                    reloaded = event
                    break
                }
            }
            #expect(reloaded != nil)
            #expect(reloaded!.seq > started.seq)
        }
    }

    @Test func daemonStoppingEndsTheEventStreamAndLaterCalls() async throws {
        let daemon = try await RealDaemon.start()
        let client = try await WPWithinClient.connected(socketPath: daemon.socketPath)
        let stream = try await client.events(types: ["daemon.stopping"])
        #expect(await daemon.stop() == 0)
        var types: [String] = []
        let error = await #expect(throws: WPWithinClientError.self) {
            for try await event in stream { types.append(event.type) }
        }
        #expect(error?.code == .connectionClosed)
        #expect(types.allSatisfy { $0 == "daemon.stopping" })
        // The next call tries to reconnect: nobody is there.
        let later = await #expect(throws: WPWithinClientError.self) { try await client.getStatus() }
        #expect(later?.isConnectFailure == true, "\(String(describing: later))")
        await client.close()
    }

    @Test func wpwctlAgainstTheDaemon() async throws {
        let wpwctl = try builtExecutable("wpwctl")
        let daemon = try await RealDaemon.start()
        defer { Task { await daemon.stop() } }

        let status = try await runProcess(wpwctl, ["status", "--socket", daemon.socketPath])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdoutLines.first == "ready          true")
        #expect(status.stdout.contains("socketPath     \(daemon.socketPath)"))

        let device = try await runProcess(wpwctl, ["device", "--json"], environment: ["WPWITHIN_SOCKET": daemon.socketPath])
        #expect(device.status == 0, "\(device.stderr)")
        #expect(device.stdoutLines.count == 1)
        let parsed = try JSONDecoder().decode(JSONValue.self, from: Data(device.stdout.utf8))
        #expect(parsed["serverId"]?.stringValue.flatMap { UUID(uuidString: $0) } != nil)

        let discover = try await runProcess(wpwctl, ["--json", "call", "rpc.discover", "--socket", daemon.socketPath])
        #expect(discover.status == 0, "\(discover.stderr)")
        #expect(discover.stdoutLines.count == 1)
        #expect(discover.stdout.contains(#""openrpc":"1."#))

        let unknown = try await runProcess(wpwctl, ["call", "noSuchMethod", "--socket", daemon.socketPath])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("-32601"))

        let badParams = try await runProcess(wpwctl, ["call", "subscribe", #"{"types":5}"#, "--socket", daemon.socketPath])
        #expect(badParams.status == 1)
        #expect(badParams.stderr.contains("-32602"))

        let stopped = try await runProcess(wpwctl, ["status", "--socket", daemon.directory + "/gone.sock"])
        #expect(stopped.status == 3)
        #expect(stopped.stderr.contains(daemon.directory + "/gone.sock"))
    }

    @Test func wpwctlEventsFollowsUntilTheDaemonStops() async throws {
        let wpwctl = try builtExecutable("wpwctl")
        let daemon = try await RealDaemon.start()
        let follower = try LineProcess(wpwctl, ["events", "--json", "--resume-from", "0", "--socket", daemon.socketPath])
        // The first line is the replayed daemon.started: wpwctl is subscribed from then on.
        let first = try #require(await follower.nextLine())
        let started = try JSONDecoder().decode(JSONValue.self, from: Data(first.utf8))
        #expect(started["type"] == "daemon.started")
        #expect(await daemon.stop() == 0)
        var rest: [String] = []
        while let line = await follower.nextLine() { rest.append(line) }
        let status = await follower.waitForExit()
        #expect(status == 3, "the daemon went away")
        let types = try rest.map { try JSONDecoder().decode(JSONValue.self, from: Data($0.utf8))["type"]?.stringValue }
        #expect(types.contains("daemon.stopping"))
    }
}

/// A child process whose stdout is read line by line as it comes (stderr goes to /dev/null).
final class LineProcess: @unchecked Sendable {
    private let process: Process
    private let lines: AsyncStream<String>
    private let iteratorBox: IteratorBox

    private final class IteratorBox: @unchecked Sendable {
        var iterator: AsyncStream<String>.Iterator
        init(_ iterator: AsyncStream<String>.Iterator) { self.iterator = iterator }
    }

    init(_ path: String, _ arguments: [String]) throws {
        let pipe = Pipe()
        let process = childProcess(path, arguments)
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let (lines, continuation) = AsyncStream<String>.makeStream()
        let reader = pipe.fileHandleForReading
        try process.run()
        try pipe.fileHandleForWriting.close()
        Thread.detachNewThread {
            var buffer = Data()
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                while let newline = buffer.firstIndex(of: 0x0A) {
                    continuation.yield(String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self))
                    buffer.removeSubrange(buffer.startIndex...newline)
                }
            }
            continuation.finish()
        }
        self.process = process
        self.lines = lines
        self.iteratorBox = IteratorBox(lines.makeAsyncIterator())
    }

    /// The next line, or nil once the process closed its stdout. Call from one task at a time.
    func nextLine() async -> String? {
        await iteratorBox.iterator.next()
    }

    /// Sends SIGINT, as Ctrl-C in a terminal would.
    func interrupt() { process.interrupt() }

    func waitForExit() async -> Int32 {
        let process = self.process
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                process.waitUntilExit()
                continuation.resume(returning: process.terminationStatus)
            }
        }
    }
}
