// `FaultProxy`: launches and drives `wpw-fault-proxy` (Tests/wpw-fault-proxy, docs/testing.md).
//
//     let proxy = try await FaultProxy.launch(upstreamPort: sandboxPort)
//     try await proxy.setRules([.init("POST", "/orders", times: 1, .forwardThenStatus(502))])
//     // point the producer at proxy.url …
//     let held = try await proxy.waitForHeld(method: "POST", path: "/orders")
//     kill(producerPid, SIGKILL)          // exactly while the charge is held
//     try await proxy.release(held, .deliver)
//     #expect(try await proxy.log().forwarded("POST", "/orders") == 1)

import Foundation
import WPWithinCore
#if canImport(Glibc)
import Glibc
#endif

/// A running `wpw-fault-proxy` on 127.0.0.1.
public final class FaultProxy: Sendable {
    /// The proxy's port: point the client at ``url``.
    public let port: Int
    /// The control API's port.
    public let controlPort: Int
    private let process: LaunchedProcess

    /// `http://127.0.0.1:<port>`.
    public var url: String { "http://127.0.0.1:\(port)" }
    public var processIdentifier: Int32 { process.processIdentifier }

    private init(port: Int, controlPort: Int, process: LaunchedProcess) {
        self.port = port
        self.controlPort = controlPort
        self.process = process
    }

    /// Starts a proxy in front of `127.0.0.1:upstreamPort`.
    /// - Parameters:
    ///   - rules: rules to start with (set through the control API before this returns).
    ///   - rulesFile: a JSON file of rules given to the proxy as `--rules FILE`.
    ///   - port: the proxy's port; 0 picks one (a fixed one lets a restarted client keep its URL).
    ///   - logFile: also append one JSON line per finished request here.
    ///   - stderrPath: the proxy's stderr (discarded when nil).
    public static func launch(
        upstreamPort: Int, rules: [Rule] = [], rulesFile: String? = nil, port: Int = 0, logFile: String? = nil,
        stderrPath: String? = nil
    ) async throws -> FaultProxy {
        var arguments = ["--upstream", "http://127.0.0.1:\(upstreamPort)", "--port", String(port)]
        if let logFile { arguments += ["--log", logFile] }
        if let rulesFile { arguments += ["--rules", rulesFile] }
        let process = try LaunchedProcess.launch(BuiltExecutable.url(named: "wpw-fault-proxy"), arguments: arguments, stderrPath: stderrPath)
        let line: String
        do {
            line = try await process.nextLine()
        } catch {
            await process.terminate()
            throw TestSupportError("wpw-fault-proxy did not start: \(error)")
        }
        guard let announcement = try? JSONValue.parse(line), let proxyPort = announcement["port"]?.int64Value,
            let controlPort = announcement["controlPort"]?.int64Value
        else {
            await process.terminate()
            throw TestSupportError("wpw-fault-proxy said \(line)")
        }
        let proxy = FaultProxy(port: Int(proxyPort), controlPort: Int(controlPort), process: process)
        if !rules.isEmpty { try await proxy.setRules(rules) }
        return proxy
    }

    /// Stops the proxy (SIGTERM, then SIGKILL) and waits until it is gone.
    public func stop() async { await process.terminate() }

    // MARK: Rules

    /// Replaces the rules (tried in order; the first live match applies; no match = `pass`).
    public func setRules(_ rules: [Rule]) async throws { _ = try await control("PUT", "/rules", .array(rules.map(\.json))) }
    /// Appends rules after the current ones.
    public func addRules(_ rules: [Rule]) async throws { _ = try await control("POST", "/rules", .array(rules.map(\.json))) }
    public func clearRules() async throws { _ = try await control("DELETE", "/rules") }
    /// Sends later requests to `127.0.0.1:port` instead (a failover to another upstream).
    public func setUpstream(port: Int) async throws { _ = try await control("PUT", "/upstream", ["port": .int(Int64(port))]) }
    /// The rules as the proxy holds them, each with `remaining` (null = unlimited) and `hits`.
    public func rules() async throws -> [JSONValue] { try await control("GET", "/rules")["rules"]?.arrayValue ?? [] }

    // MARK: Holds

    /// Blocks until a request (or answer) matching the filters is held, and returns it; throws after `timeout`.
    /// Nil filters match anything; `after` skips holds with that id or lower (to wait for the next one).
    public func waitForHeld(
        method: String? = nil, path: String? = nil, match: Match = .exact, rule: String? = nil, stage: Held.Stage? = nil,
        after: Int = 0, timeout: Duration = .seconds(30)
    ) async throws -> Held {
        var filter: [String: JSONValue] = ["match": .string(match.rawValue), "after": .int(Int64(after)), "timeoutMs": .int(timeout.milliseconds)]
        if let method { filter["method"] = .string(method) }
        if let path { filter["path"] = .string(path) }
        if let rule { filter["rule"] = .string(rule) }
        if let stage { filter["stage"] = .string(stage.rawValue) }
        let response = try await controlResponse("POST", "/held/wait", .object(filter), limit: timeout + .seconds(30))
        guard response.status == 200, let json = response.json, let held = Held(json: json) else {
            throw TestSupportError("no held request matched \(JSONValue.object(filter).jsonString): \(response.text)")
        }
        return held
    }

    /// What is held now.
    public func held() async throws -> [Held] {
        try await control("GET", "/held")["held"]?.arrayValue?.compactMap(Held.init(json:)) ?? []
    }

    /// Lets a held request (or answer) go.
    public func release(_ held: Held, _ how: Release = .deliver) async throws { try await release(id: held.id, how) }

    public func release(id: Int, _ how: Release = .deliver) async throws {
        _ = try await control("POST", "/held/\(id)/release", how.json)
    }

    /// Lets everything held go; returns how many.
    @discardableResult
    public func releaseAll(_ how: Release = .deliver) async throws -> Int {
        Int(try await control("POST", "/held/release", how.json)["released"]?.int64Value ?? 0)
    }

    // MARK: Log

    /// Every request the proxy has seen since the start (or ``clearLog()``), oldest first.
    public func log() async throws -> [LogEntry] {
        try await control("GET", "/log")["requests"]?.arrayValue?.compactMap(LogEntry.init(json:)) ?? []
    }

    public func clearLog() async throws { _ = try await control("DELETE", "/log") }

    /// Polls the log until `condition` holds (a condition wait with a generous deadline, not a timing check).
    @discardableResult
    public func waitForLog(timeout: Duration = .seconds(30), until condition: ([LogEntry]) -> Bool) async throws -> [LogEntry] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let entries = try await log()
            if condition(entries) { return entries }
            if ContinuousClock.now > deadline { throw TestSupportError("the proxy log never met the condition: \(entries)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    // MARK: Control

    private func control(_ method: String, _ path: String, _ body: JSONValue? = nil) async throws -> JSONValue {
        let response = try await controlResponse(method, path, body, limit: .seconds(60))
        guard response.status == 200, let json = response.json else {
            throw TestSupportError("wpw-fault-proxy \(method) \(path): \(response.status) \(response.text)")
        }
        return json
    }

    private func controlResponse(_ method: String, _ path: String, _ body: JSONValue?, limit: Duration) async throws -> LoopbackHTTPResponse {
        try await LoopbackHTTP.request(port: controlPort, method: method, path: path, json: body, limit: limit)
    }
}

extension FaultProxy {
    /// How a rule's path is compared with the request's (query ignored, `*` matches one segment).
    public enum Match: String, Sendable {
        /// Same segments.
        case exact
        /// The rule's segments start the request's (`/service` matches `/service/1/delivery/begin`).
        case prefix
    }

    /// A body the proxy answers with: JSON (sent as `application/json`) or text (`text/plain`).
    public enum Body: Sendable {
        case json(JSONValue)
        case text(String)

        var json: JSONValue {
            switch self {
            case .json(let value): value
            case .text(let text): .string(text)
            }
        }
    }

    /// What a rule does to a matching request.
    public enum Action: Sendable {
        /// Forward and answer what the upstream answers (the default for requests no rule matches).
        case pass
        /// Wait, then forward.
        case delay(Duration)
        /// Forward, wait once the upstream has answered, then answer.
        case delayResponse(Duration)
        /// Close the client connection without forwarding.
        case drop
        /// Never forward, never answer, keep the connection open until the client gives up.
        case blackhole
        /// Do not forward; answer this.
        case status(Int, body: Body? = nil, headers: [String: String] = [:])
        /// Forward, discard the upstream's answer, answer this (a load balancer's 502 after the upstream charged).
        case forwardThenStatus(Int, body: Body? = nil, headers: [String: String] = [:])
        /// Forward, read the upstream's answer, close the client connection without answering.
        case forwardThenCut
        /// Do not forward; answer `status` (200) with this body.
        case fabricate(Body, status: Int = 200, headers: [String: String] = [:])
        /// Forward nothing until released (``FaultProxy/release(_:_:)``).
        case hold
        /// Forward, then hold the upstream's answer until released.
        case holdResponse
    }

    /// One rule: requests with this method (nil: any) and path, the first `times` of them (nil: all), get `action`.
    public struct Rule: Sendable {
        public var name: String?
        public var method: String?
        public var path: String
        public var match: Match
        public var times: Int?
        public var action: Action

        public init(_ method: String?, _ path: String, match: Match = .exact, times: Int? = nil, name: String? = nil, _ action: Action) {
            self.name = name
            self.method = method
            self.path = path
            self.match = match
            self.times = times
            self.action = action
        }

        /// The rule as the control API takes it.
        public var json: JSONValue {
            var object: [String: JSONValue] = ["path": .string(path), "match": .string(match.rawValue)]
            if let name { object["name"] = .string(name) }
            if let method { object["method"] = .string(method) }
            if let times { object["times"] = .int(Int64(times)) }
            func canned(_ status: Int, _ body: Body?, _ headers: [String: String]) {
                object.merge(FaultProxy.answerFields(status, body, headers)) { _, new in new }
            }
            switch action {
            case .pass: object["action"] = "pass"
            case .delay(let duration):
                object["action"] = "delay"
                object["ms"] = .int(duration.milliseconds)
            case .delayResponse(let duration):
                object["action"] = "delayResponse"
                object["ms"] = .int(duration.milliseconds)
            case .drop: object["action"] = "drop"
            case .blackhole: object["action"] = "blackhole"
            case .status(let status, let body, let headers):
                object["action"] = "status"
                canned(status, body, headers)
            case .forwardThenStatus(let status, let body, let headers):
                object["action"] = "forwardThenStatus"
                canned(status, body, headers)
            case .forwardThenCut: object["action"] = "forwardThenCut"
            case .fabricate(let body, let status, let headers):
                object["action"] = "fabricate"
                canned(status, body, headers)
            case .hold: object["action"] = "hold"
            case .holdResponse: object["action"] = "holdResponse"
            }
            return .object(object)
        }
    }

    /// `status`, `body`, `headers` of an answer the proxy makes up, as the control API takes them.
    static func answerFields(_ status: Int, _ body: Body?, _ headers: [String: String]) -> [String: JSONValue] {
        var object: [String: JSONValue] = ["status": .int(Int64(status))]
        if let body { object["body"] = body.json }
        if !headers.isEmpty { object["headers"] = .object(headers.mapValues(JSONValue.string)) }
        return object
    }

    /// How to let a held exchange go.
    public enum Release: Sendable {
        /// A held request is forwarded and the upstream's answer passed on; a held answer is sent.
        case deliver
        /// Close the client connection without answering (a held request is never forwarded).
        case cut
        /// Answer this instead (a held request is never forwarded).
        case status(Int, body: Body? = nil, headers: [String: String] = [:])

        var json: JSONValue {
            switch self {
            case .deliver: return ["action": "deliver"]
            case .cut: return ["action": "cut"]
            case .status(let status, let body, let headers):
                var object = FaultProxy.answerFields(status, body, headers)
                object["action"] = "status"
                return .object(object)
            }
        }
    }

    /// A request (stage `request`: not forwarded yet) or an upstream answer (stage `response`) being held.
    public struct Held: Sendable, Hashable {
        public enum Stage: String, Sendable { case request, response }
        public var id: Int
        /// The log entry's `seq`.
        public var seq: Int
        public var method: String
        public var path: String
        public var uri: String
        /// The rule's name (`#index` when it has none).
        public var rule: String?
        public var stage: Stage
        public var upstreamStatus: Int?
        /// The client connection has closed meanwhile.
        public var clientGone: Bool

        init?(json: JSONValue) {
            guard let id = json["id"]?.int64Value, let seq = json["seq"]?.int64Value, let method = json["method"]?.stringValue,
                let path = json["path"]?.stringValue, let stage = json["stage"]?.stringValue.flatMap(Stage.init(rawValue:))
            else { return nil }
            self.id = Int(id)
            self.seq = Int(seq)
            self.method = method
            self.path = path
            self.uri = json["uri"]?.stringValue ?? path
            self.rule = json["rule"]?.stringValue
            self.stage = stage
            self.upstreamStatus = json["upstreamStatus"]?.int64Value.map(Int.init)
            self.clientGone = json["clientGone"]?.boolValue ?? false
        }
    }

    /// What the proxy did with one request.
    public struct LogEntry: Sendable, Hashable {
        public var seq: Int
        public var method: String
        /// The path without the query.
        public var path: String
        /// The request target as received.
        public var uri: String
        /// The rule applied (its name, or `#index`); nil: no rule matched (`pass`).
        public var rule: String?
        public var action: String
        /// The whole request reached the upstream.
        public var forwarded: Bool
        public var upstreamStatus: Int?
        public var upstreamError: String?
        /// The status the client was answered, if it was.
        public var status: Int?
        /// `inFlight`, `answered`, `closed` (closed without an answer), `blackholed`, `clientGone`.
        public var outcome: String
        public var clientGone: Bool
        /// How a hold was released: `deliver`, `cut`, `status`.
        public var released: String?
        /// Nothing more will happen to the request.
        public var done: Bool

        init?(json: JSONValue) {
            guard let seq = json["seq"]?.int64Value, let method = json["method"]?.stringValue, let path = json["path"]?.stringValue,
                let action = json["action"]?.stringValue, let outcome = json["outcome"]?.stringValue
            else { return nil }
            self.seq = Int(seq)
            self.method = method
            self.path = path
            self.uri = json["uri"]?.stringValue ?? path
            self.rule = json["rule"]?.stringValue
            self.action = action
            self.forwarded = json["forwarded"]?.boolValue ?? false
            self.upstreamStatus = json["upstreamStatus"]?.int64Value.map(Int.init)
            self.upstreamError = json["upstreamError"]?.stringValue
            self.status = json["status"]?.int64Value.map(Int.init)
            self.outcome = outcome
            self.clientGone = json["clientGone"]?.boolValue ?? false
            self.released = json["released"]?.stringValue
            self.done = json["done"]?.boolValue ?? false
        }
    }
}

extension Array where Element == FaultProxy.LogEntry {
    /// The entries for this method (nil: any) and exact path.
    public func matching(_ method: String?, _ path: String) -> [FaultProxy.LogEntry] {
        filter { (method == nil || $0.method == method) && $0.path == path }
    }

    /// How many of those reached the upstream ("exactly one POST /orders reached the gateway").
    public func forwarded(_ method: String?, _ path: String) -> Int {
        matching(method, path).filter(\.forwarded).count
    }
}

extension Duration {
    /// Whole milliseconds.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
