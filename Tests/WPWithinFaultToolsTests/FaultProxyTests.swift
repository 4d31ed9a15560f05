import Foundation
import Testing
import WPWithinCore
import WPWithinTestSupport

/// `wpw-fault-proxy` in front of a real sandbox gateway: each action once, holds, the log, robustness.
///
/// `POST /v1/tokens` is the probe request: the sandbox answers 200 with a token and writes `token.created` to its
/// audit log, so the audit tells whether a request reached the upstream independently of the proxy's own log.
@Suite struct FaultProxyTests {
    /// A sandbox (in memory, no control API) and a proxy in front of it.
    func withProxy<T>(
        rules: [FaultProxy.Rule] = [], logFile: Bool = false, _ body: (FaultProxy, SandboxGatewayProcess, TemporaryDirectory) async throws -> T
    ) async throws -> T {
        try await withSandbox(stateFile: false, control: false) { sandbox, directory in
            let proxy = try await FaultProxy.launch(
                upstreamPort: sandbox.port, rules: rules, logFile: logFile ? directory.path("proxy.jsonl") : nil,
                stderrPath: directory.path("proxy.log")
            )
            do {
                let result = try await body(proxy, sandbox, directory)
                await proxy.stop()
                return result
            } catch {
                await proxy.stop()
                throw error
            }
        }
    }

    func tokenRequest(_ proxy: FaultProxy) async throws -> LoopbackHTTPOutcome {
        try await LoopbackHTTP.exchange(
            port: proxy.port, method: "POST", path: "/v1/tokens", headers: ["Content-Type": "application/json"], body: tokenBody().serialized()
        )
    }

    /// An open connection with the probe request sent (no answer read yet).
    func sendToken(_ proxy: FaultProxy) async throws -> LoopbackConnection {
        let connection = try await LoopbackConnection.open(port: proxy.port)
        try await connection.send(method: "POST", path: "/v1/tokens", headers: ["Content-Type": "application/json"], body: tokenBody().serialized())
        return connection
    }

    func tokensCreated(_ sandbox: SandboxGatewayProcess) -> Int { sandbox.audit.events("token.created").count }

    // MARK: Actions

    @Test func passForwardsAndLogs() async throws {
        try await withProxy(logFile: true) { proxy, sandbox, directory in
            let answer = try #require(try await tokenRequest(proxy).response)
            #expect(answer.status == 200)
            #expect(answer.json?["token"]?.stringValue?.hasPrefix("TEST_SU_") == true)
            #expect(tokensCreated(sandbox) == 1)
            let log = try await proxy.log()
            #expect(log.count == 1)
            let entry = try #require(log.first)
            #expect(entry.method == "POST")
            #expect(entry.path == "/v1/tokens")
            #expect(entry.rule == nil)
            #expect(entry.action == "pass")
            #expect(entry.forwarded)
            #expect(entry.upstreamStatus == 200)
            #expect(entry.status == 200)
            #expect(entry.outcome == "answered")
            #expect(entry.done)
            #expect(log.forwarded("POST", "/v1/tokens") == 1)
            let lines = directory.lines(of: "proxy.jsonl")
            #expect(lines.count == 1)
            #expect(try JSONValue.parse(lines[0])["seq"] == 1)
        }
    }

    @Test func statusAnswersWithoutForwarding() async throws {
        try await withProxy(rules: [.init("POST", "/v1/tokens", .status(503, body: .json(["error": "busy"])))]) { proxy, sandbox, _ in
            let answer = try #require(try await tokenRequest(proxy).response)
            #expect(answer.status == 503)
            #expect(answer.json?["error"] == "busy")
            #expect(answer.headers["content-type"] == "application/json")
            #expect(tokensCreated(sandbox) == 0)
            let entry = try #require(try await proxy.log().first)
            #expect(!entry.forwarded)
            #expect(entry.rule == "#0")
            #expect(entry.status == 503)
        }
    }

    @Test func fabricateAnswers200WithTheBodyWithoutForwarding() async throws {
        let fake: JSONValue = ["orderCode": "Test_code", "customerOrderCode": "", "amount": 0, "paymentStatus": "SUCCESS"]
        try await withProxy(rules: [.init("POST", "/v1/tokens", name: "fake", .fabricate(.json(fake)))]) { proxy, sandbox, _ in
            let answer = try #require(try await tokenRequest(proxy).response)
            #expect(answer.status == 200)
            #expect(answer.json == fake)
            #expect(tokensCreated(sandbox) == 0)
            #expect(try await proxy.log().first?.rule == "fake")
        }
    }

    @Test func dropClosesTheConnectionWithoutForwarding() async throws {
        try await withProxy(rules: [.init("POST", "/v1/tokens", .drop)]) { proxy, sandbox, _ in
            #expect(try await tokenRequest(proxy).isClosedWithoutResponse)
            #expect(tokensCreated(sandbox) == 0)
            let entry = try #require(try await proxy.log().first)
            #expect(entry.outcome == "closed")
            #expect(!entry.forwarded)
        }
    }

    @Test func forwardThenStatusReachesTheUpstreamAndAnswersTheStatus() async throws {
        try await withProxy(rules: [.init("POST", "/v1/tokens", .forwardThenStatus(502, body: .text("<html>502</html>")))]) { proxy, sandbox, _ in
            let answer = try #require(try await tokenRequest(proxy).response)
            #expect(answer.status == 502)
            #expect(answer.text == "<html>502</html>")
            #expect(tokensCreated(sandbox) == 1)
            let entry = try #require(try await proxy.log().first)
            #expect(entry.forwarded)
            #expect(entry.upstreamStatus == 200)
            #expect(entry.status == 502)
        }
    }

    @Test func forwardThenCutReachesTheUpstreamAndClosesWithoutAnswer() async throws {
        try await withProxy(rules: [.init("POST", "/v1/tokens", .forwardThenCut)]) { proxy, sandbox, _ in
            #expect(try await tokenRequest(proxy).isClosedWithoutResponse)
            #expect(tokensCreated(sandbox) == 1)
            let entry = try #require(try await proxy.log().first)
            #expect(entry.upstreamStatus == 200)
            #expect(entry.outcome == "closed")
        }
    }

    @Test func blackholeNeitherForwardsNorAnswersNorCloses() async throws {
        try await withProxy(rules: [.init("POST", "/v1/tokens", times: 1, .blackhole)]) { proxy, sandbox, _ in
            let connection = try await sendToken(proxy)
            try await proxy.waitForLog { $0.first?.outcome == "blackholed" }
            #expect(connection.state() == .open)
            #expect(tokensCreated(sandbox) == 0)
            connection.close()
            // The proxy is unharmed: the next request passes.
            #expect(try await tokenRequest(proxy).response?.status == 200)
            let log = try await proxy.waitForLog { $0.first?.clientGone == true && $0.count == 2 }
            #expect(!log[0].forwarded)
        }
    }

    @Test func delayWaitsBeforeForwarding() async throws {
        let rule = FaultProxy.Rule("POST", "/v1/tokens", .delay(.milliseconds(600)))
        try await withProxy(rules: [rule]) { proxy, sandbox, _ async throws in
            let clock = ContinuousClock()
            let start = clock.now
            #expect(try await tokenRequest(proxy).response?.status == 200)
            // Lower bounds only: load can stretch them, never shorten them.
            #expect(clock.now - start >= .milliseconds(600))
            #expect(tokensCreated(sandbox) == 1)
            #expect(try await proxy.log().first?.action == "delay")
        }
    }

    @Test func delayResponseForwardsAtOnceAndAnswersLate() async throws {
        try await withProxy(rules: [.init("POST", "/v1/tokens", .delayResponse(.milliseconds(600)))]) { proxy, sandbox, _ in
            let clock = ContinuousClock()
            let start = clock.now
            let answer = try #require(try await tokenRequest(proxy).response)
            #expect(clock.now - start >= .milliseconds(600))
            #expect(answer.status == 200)
            let token = try #require(answer.json?["token"]?.stringValue)
            #expect(sandbox.audit.events("token.created").first?["token"]?.stringValue == token)
        }
    }

    // MARK: Holds

    @Test func holdForwardsNothingUntilReleasedThenDelivers() async throws {
        try await withProxy(rules: [.init("POST", "/v1/tokens", name: "charge", .hold)]) { proxy, sandbox, _ in
            let connection = try await sendToken(proxy)
            let held = try await proxy.waitForHeld(method: "POST", path: "/v1/tokens")
            #expect(held.stage == .request)
            #expect(held.rule == "charge")
            #expect(held.upstreamStatus == nil)
            // Held: not forwarded, not answered.
            #expect(tokensCreated(sandbox) == 0)
            #expect(connection.state() == .open)
            #expect(try await proxy.held().map(\.id) == [held.id])
            try await proxy.release(held, .deliver)
            let answer = try #require(try await connection.readResponse().response)
            #expect(answer.status == 200)
            #expect(tokensCreated(sandbox) == 1)
            #expect(try await proxy.held().isEmpty)
            let entry = try #require(try await proxy.log().first)
            #expect(entry.released == "deliver")
            #expect(entry.forwarded)
            connection.close()
        }
    }

    @Test func holdReleasedWithCutOrStatusIsNeverForwarded() async throws {
        try await withProxy(rules: [.init("POST", "/v1/tokens", times: 2, .hold)]) { proxy, sandbox, _ in
            let first = try await sendToken(proxy)
            let firstHeld = try await proxy.waitForHeld(path: "/v1/tokens")
            let second = try await sendToken(proxy)
            // `after` skips the hold already seen.
            let secondHeld = try await proxy.waitForHeld(path: "/v1/tokens", after: firstHeld.id)
            #expect(secondHeld.id > firstHeld.id)
            try await proxy.release(firstHeld, .cut)
            #expect(try await first.readResponse().isClosedWithoutResponse)
            try await proxy.release(secondHeld, .status(503, body: .text("try later")))
            let answer = try #require(try await second.readResponse().response)
            #expect(answer.status == 503)
            #expect(answer.text == "try later")
            #expect(tokensCreated(sandbox) == 0)
            #expect(try await proxy.log().forwarded("POST", "/v1/tokens") == 0)
            // times: 2 — the third passes.
            #expect(try await tokenRequest(proxy).response?.status == 200)
        }
    }

    @Test func holdResponseHoldsTheUpstreamsAnswer() async throws {
        try await withProxy(rules: [.init("POST", "/v1/tokens", times: 2, .holdResponse)]) { proxy, sandbox, _ in
            let connection = try await sendToken(proxy)
            let held = try await proxy.waitForHeld(stage: .response)
            #expect(held.upstreamStatus == 200)
            // The upstream did the work; the client has heard nothing.
            #expect(tokensCreated(sandbox) == 1)
            #expect(connection.state() == .open)
            try await proxy.release(held)
            let answer = try #require(try await connection.readResponse().response)
            #expect(answer.status == 200)
            #expect(answer.json?["token"]?.stringValue == sandbox.audit.events("token.created").first?["token"]?.stringValue)

            let other = try await sendToken(proxy)
            let next = try await proxy.waitForHeld(stage: .response, after: held.id)
            try await proxy.release(next, .status(502))
            #expect(try await other.readResponse().response?.status == 502)
            #expect(tokensCreated(sandbox) == 2)
        }
    }

    @Test func aHeldRequestIsStillForwardedAfterItsClientGaveUp() async throws {
        try await withProxy(rules: [.init("POST", "/v1/tokens", .hold)]) { proxy, sandbox, _ in
            let connection = try await sendToken(proxy)
            let held = try await proxy.waitForHeld()
            connection.close()
            try await waitUntil { try await proxy.held().first?.clientGone == true }
            // The late request: it reaches the upstream after the client has gone.
            try await proxy.release(held)
            let log = try await proxy.waitForLog { $0.first?.done == true }
            #expect(log[0].forwarded)
            #expect(log[0].upstreamStatus == 200)
            #expect(log[0].outcome == "clientGone")
            #expect(tokensCreated(sandbox) == 1)
        }
    }

    @Test func waitForHeldTimesOutWhenNothingIsHeld() async throws {
        try await withProxy { proxy, _, _ in
            await #expect(throws: TestSupportError.self) { try await proxy.waitForHeld(timeout: .milliseconds(200)) }
            // A release of an unknown hold is refused.
            await #expect(throws: TestSupportError.self) { try await proxy.release(id: 42) }
        }
    }

    // MARK: Matching, keep-alive, robustness

    @Test func methodPathPrefixWildcardAndTimesSelectTheRule() async throws {
        let rules: [FaultProxy.Rule] = [
            .init("POST", "/v1/tokens", times: 1, .status(503)),
            .init("POST", "/v1/orders/*/refund", .status(418)),
            .init("GET", "/v1/orders", match: .prefix, .status(451)),
        ]
        try await withProxy(rules: rules) { proxy, sandbox, _ in
            #expect(try await tokenRequest(proxy).response?.status == 503)
            #expect(try await tokenRequest(proxy).response?.status == 200)
            func status(_ method: String, _ path: String) async throws -> Int? {
                try await LoopbackHTTP.exchange(port: proxy.port, method: method, path: path).response?.status
            }
            #expect(try await status("POST", "/v1/orders/abc/refund") == 418)
            #expect(try await status("GET", "/v1/orders/abc") == 451)
            #expect(try await status("GET", "/v1/orders?customerOrderCode=x") == 451)
            // No rule: the sandbox's own 401 (no service key).
            #expect(try await status("POST", "/v1/orders") == 401)
            #expect(try await status("GET", "/v1/ordersX") == 404)
            let listed = try await proxy.rules()
            #expect(listed.map { $0["hits"] } == [1, 1, 2])
            #expect(listed[0]["remaining"] == 0)
            #expect(listed[1]["remaining"] == .null)
            #expect(tokensCreated(sandbox) == 1)
        }
    }

    @Test func rulesActPerRequestOnAKeptAliveConnection() async throws {
        try await withProxy(rules: [.init("POST", "/v1/tokens", times: 1, .status(503))]) { proxy, sandbox, _ in
            let connection = try await LoopbackConnection.open(port: proxy.port)
            defer { connection.close() }
            for expected in [503, 200, 200] {
                try await connection.send(method: "POST", path: "/v1/tokens", headers: ["Content-Type": "application/json"], body: tokenBody().serialized())
                #expect(try await connection.readResponse().response?.status == expected)
            }
            #expect(tokensCreated(sandbox) == 2)
        }
    }

    @Test func clientsThatDisconnectMidRequestDoNotHurtTheProxy() async throws {
        try await withProxy { proxy, sandbox, _ in
            let halfHeader = try await LoopbackConnection.open(port: proxy.port)
            try await halfHeader.send(Array("POST /v1/tokens HTTP/1.1\r\nHost: 127".utf8))
            halfHeader.close()
            let halfBody = try await LoopbackConnection.open(port: proxy.port)
            try await halfBody.send(Array("POST /v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"reus".utf8))
            halfBody.close()
            let garbage = try await LoopbackConnection.open(port: proxy.port)
            try await garbage.send(Array("\u{1}\u{2} nonsense\r\n\r\n".utf8))
            _ = try await garbage.readResponse()
            garbage.close()
            #expect(try await tokenRequest(proxy).response?.status == 200)
            #expect(try await proxy.log().count == 1)
            #expect(tokensCreated(sandbox) == 1)
        }
    }

    @Test func anUnreachableUpstreamIsA502MarkedAsTheProxys() async throws {
        let directory = try TemporaryDirectory(prefix: "wpw-faulttools")
        defer { directory.remove() }
        let proxy = try await FaultProxy.launch(upstreamPort: try unusedLoopbackPort(), stderrPath: directory.path("proxy.log"))
        let answer = try await tokenRequest(proxy).response
        let entry = try await proxy.log().first
        await proxy.stop()
        #expect(answer?.status == 502)
        #expect(answer?.headers["x-fault-proxy"] == "upstream-error")
        #expect(entry?.forwarded == false)
        #expect(entry?.upstreamError != nil)
    }

    @Test func rulesFromAFileAtStartAndABadRuleChangesNothing() async throws {
        try await withSandbox(stateFile: false, control: false) { sandbox, directory in
            let rules = try directory.write(#"[{"name":"boot","method":"POST","path":"/v1/tokens","action":"status","status":503}]"#, to: "rules.json")
            let proxy = try await FaultProxy.launch(upstreamPort: sandbox.port, rulesFile: rules, stderrPath: directory.path("proxy.log"))
            do {
                try await checkRulesFile(proxy)
                await proxy.stop()
            } catch {
                await proxy.stop()
                throw error
            }
        }
    }

    func checkRulesFile(_ proxy: FaultProxy) async throws {
        do {
            #expect(try await tokenRequest(proxy).response?.status == 503)
            for bad: JSONValue in [
                [["path": "/v1/tokens", "action": "explode"]],
                [["path": "/v1/tokens", "action": "delay"]],
                [["path": "v1/tokens", "action": "pass"]],
                [["path": "/v1/tokens", "action": "pass", "tims": 1]],
                [["path": "/v1/tokens", "action": "status", "status": 1000]],
            ] {
                let answer = try await LoopbackHTTP.request(port: proxy.controlPort, method: "PUT", path: "/rules", json: bad)
                #expect(answer.status == 400, "\(bad.jsonString)")
                #expect(answer.json?["error"]?.stringValue != nil)
            }
            #expect(try await proxy.rules().map { $0["name"] } == ["boot"])
            try await proxy.clearRules()
            #expect(try await tokenRequest(proxy).response?.status == 200)
        }
    }
}

/// Polls `condition` until it holds (a generous deadline guards against hangs; no timing is asserted).
func waitUntil(timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        if ContinuousClock.now > deadline { throw TestSupportError("condition not met within \(timeout)") }
        try await Task.sleep(for: .milliseconds(20))
    }
}
