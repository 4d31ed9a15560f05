#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WPWithinCore
import WPWithinTestSupport

/// The RPC socket's connection limits on a real daemon: the per-uid share, the total, refusals and the idle
/// timeout.
@Suite struct RPCConnectionLimitsTests {
    func errorCode(_ response: JSONValue) -> Int64? { response["error"]?["code"]?.int64Value }

    /// Opens `count` connections as `uid` from a helper process (python3, which drops root with setuid before
    /// connecting, so SO_PEERCRED shows that uid), asks each for `getDevice`, and keeps them open until killed.
    /// Each connection's first line (the reply, or the refusal) goes to the helper's log, one JSON per line.
    final class OtherUidClient: @unchecked Sendable {
        let pid: pid_t
        let logPath: String

        static let script = """
        import json, os, socket, sys, time
        path, count, uid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        os.setgroups([]); os.setgid(uid); os.setuid(uid)
        held = []
        for i in range(count):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            try:
                s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"getDevice"}\\n')
            except OSError:
                pass
            f = s.makefile('rb')
            line = f.readline()
            sys.stderr.write(line.decode() if line.endswith(b'\\n') else '{"closed":true}\\n')
            sys.stderr.flush()
            held.append((s, f))
        time.sleep(3600)
        """

        init(socketPath: String, count: Int, uid: UInt32, dir: TempDir) throws {
            logPath = dir.file("uid-\(uid)-\(UUID().uuidString.prefix(6)).log")
            pid = try spawn(
                "/usr/bin/python3", arguments: ["-c", Self.script, socketPath, String(count), String(uid)],
                environment: ProcessInfo.processInfo.environment, stderrPath: logPath)
        }

        /// The first `count` lines the helper logged (waits for them).
        func replies(_ count: Int, timeout: Duration = .seconds(30)) async throws -> [JSONValue] {
            let deadline = ContinuousClock.now + timeout
            while true {
                let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                let lines = text.split(separator: "\n").filter { $0.hasPrefix("{") }
                if lines.count >= count {
                    return try lines.prefix(count).map { try JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
                }
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid { throw HarnessError("helper exited early:\n\(text)") }
                guard ContinuousClock.now < deadline else { throw HarnessError("helper logged \(lines.count) of \(count) lines:\n\(text)") }
                try await Task.sleep(for: .milliseconds(20))
            }
        }

        deinit {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }

    /// Opens a connection and waits for its first answer: the reply to `getDevice`, or a refusal line.
    func firstAnswer(_ path: String) async throws -> (client: RawClient, answer: JSONValue) {
        let client = try RawClient(path: path)
        try? client.send("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getDevice\"}\n")
        return (client, try await client.readJSON())
    }

    /// A greedy uid gets its share and no more; another uid still gets in, until the total is reached. Runs
    /// as root (the suite does): the other uids are helper processes that setuid before connecting.
    @Test(.enabled(if: getuid() == 0, "needs root to connect as other uids"))
    func oneUidCannotLockOutAnother() async throws {
        let dir = try TempDir()
        chmod(dir.path, 0o755)  // the helpers (uid 65534, 65533) must reach the socket in it
        let daemon = try DaemonProcess(dir: dir, environment: [
            "WPWITHIND_MAX_CONNECTIONS": "7", "WPWITHIND_MAX_CONNECTIONS_PER_UID": "3", "WPWITHIND_SOCKET_MODE": "0666",
        ])
        try await daemon.waitUntilListening()

        // root: three connections, each served; the fourth refused with the per-uid reason, then closed.
        var greedy: [RawClient] = []
        for _ in 0..<3 {
            let (client, answer) = try await firstAnswer(daemon.socketPath)
            #expect(answer["result"]?["serverId"] != nil, "\(answer)")
            greedy.append(client)
        }
        let (refusedClient, refused) = try await firstAnswer(daemon.socketPath)
        #expect(errorCode(refused) == -32002)
        #expect(refused["id"] == .null)
        #expect(refused["error"]?["data"]?["reason"] == "maxConnectionsPerUid")
        #expect(refused["error"]?["data"]?["maxConnectionsPerUid"] == 3)
        #expect(refused["error"]?["data"]?["uid"] == 0)
        #expect(try await refusedClient.isClosed())

        // nobody (65534) is not locked out: its share is its own.
        let nobody = try OtherUidClient(socketPath: daemon.socketPath, count: 4, uid: 65534, dir: dir)
        let answers = try await nobody.replies(4)
        for answer in answers.prefix(3) { #expect(answer["result"]?["serverId"] != nil, "\(answer)") }
        #expect(errorCode(answers[3]) == -32002)
        #expect(answers[3]["error"]?["data"]?["reason"] == "maxConnectionsPerUid")
        #expect(answers[3]["error"]?["data"]?["uid"] == 65534)

        // Six are open now: a third uid gets the seventh slot, then meets the total.
        let third = try OtherUidClient(socketPath: daemon.socketPath, count: 2, uid: 65533, dir: dir)
        let thirdAnswers = try await third.replies(2)
        #expect(thirdAnswers[0]["result"]?["serverId"] != nil, "\(thirdAnswers[0])")
        #expect(errorCode(thirdAnswers[1]) == -32002)
        #expect(thirdAnswers[1]["error"]?["data"]?["reason"] == "maxConnections")
        #expect(thirdAnswers[1]["error"]?["data"]?["maxConnections"] == 7)

        // A closed connection gives its slot back to its uid.
        greedy.removeLast()
        let deadline = ContinuousClock.now + .seconds(30)
        var again: JSONValue = .null
        while ContinuousClock.now < deadline {
            again = try await firstAnswer(daemon.socketPath).answer
            if again["result"] != nil { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(again["result"]?["serverId"] != nil, "\(again)")
        #expect(daemon.log.contains("Connection refused: too many connections"))
        _ = greedy
    }

    /// A uid holding its whole share: each further connection of it is answered with the refusal and closed,
    /// and the refusals are logged at most once per 10 s, whatever their number.
    @Test func refusalsAreAnsweredAndTheirLogIsRateLimited() async throws {
        let dir = try TempDir()
        let daemon = try DaemonProcess(dir: dir, environment: ["WPWITHIND_MAX_CONNECTIONS": "4"])
        try await daemon.waitUntilListening()
        var held: [RawClient] = []
        for _ in 0..<2 {
            let (client, answer) = try await firstAnswer(daemon.socketPath)
            #expect(answer["result"] != nil)
            held.append(client)
        }
        let started = ContinuousClock.now
        for _ in 0..<50 {
            let (client, answer) = try await firstAnswer(daemon.socketPath)
            #expect(answer["error"]?["data"]?["reason"] == "maxConnectionsPerUid")
            #expect(try await client.isClosed())
        }
        let elapsed = ContinuousClock.now - started
        let logged = daemon.log.components(separatedBy: "Connection refused: too many connections").count - 1
        // One line per started 10 s interval at most (the burst usually fits in the first).
        #expect(logged >= 1)
        #expect(logged <= 1 + Int(elapsed.components.seconds / 10), "\(logged) lines in \(elapsed)")
        #expect(daemon.log.contains("rpc.refusals_not_logged"))
        _ = held
    }

    /// With `rpc.idleTimeoutSeconds` = 1: an idle connection is closed; one with a subscription, and one with
    /// a call in flight for longer than the timeout, are not. Timers fire in deadline order, so each check
    /// below holds however slow the machine is.
    @Test func idleConnectionsAreClosedButSubscribersAndCallsInFlightAreNot() async throws {
        let port = try freeUDPPort()
        let dir = try TempDir()
        var environment = loopbackDiscovery(port: port, roles: "consumer")
        environment["WPWITHIND_IDLE_TIMEOUT_SECONDS"] = "1"
        let daemon = try DaemonProcess(dir: dir, environment: environment)
        try await daemon.waitUntilListening()

        let subscriber = try RawClient(path: daemon.socketPath)
        #expect(try await subscriber.result("subscribe", ["types": ["daemon.reloaded"]])["subscribed"] == true)
        // A call that lasts 4 s, four times the idle timeout.
        let busy = try RawClient(path: daemon.socketPath)
        try busy.sendLine(["jsonrpc": "2.0", "id": 9, "method": "searchForDevice", "params": ["name": "no-such-thing", "timeoutMs": 4000]])
        // Opened last, so its timeout is due after the others' checks.
        let idle = try RawClient(path: daemon.socketPath)
        #expect(try await idle.result("getDevice")["serverId"] != nil)

        #expect(try await idle.isClosed(timeout: .seconds(60)), "the idle connection is closed")
        #expect(try await subscriber.result("getDevice")["serverId"] != nil, "the subscriber is still connected")
        let answer = try await busy.readJSON(timeout: .seconds(60))
        #expect(answer["id"] == 9)
        #expect(errorCode(answer) == -32043, "the long call was answered, not cut off: \(answer)")
        #expect(daemon.isRunning)
    }
}
