#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import WPWithinCore

/// What the proxy did with one request: the log's entry, updated as the request goes on.
final class LogEntry {
    let seq: Int
    let method: String
    let uri: String
    let path: String
    let rule: String?
    let action: String
    /// The whole request was written to the upstream.
    var forwarded = false
    var upstreamStatus: Int?
    var upstreamError: String?
    /// The status the client was answered, if it was.
    var status: Int?
    /// `inFlight`, `answered`, `closed` (closed without an answer), `blackholed`, `clientGone`.
    var outcome = "inFlight"
    /// The client connection closed before the proxy was done with the request.
    var clientGone = false
    /// How a hold was released (`deliver`, `cut`, `status`).
    var released: String?
    /// Nothing more will happen to this request.
    var done = false

    init(seq: Int, method: String, uri: String, rule: String?, action: String) {
        self.seq = seq
        self.method = method
        self.uri = uri
        self.path = String(uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        self.rule = rule
        self.action = action
    }

    var json: JSONValue {
        [
            "seq": .int(Int64(seq)), "method": .string(method), "uri": .string(uri), "path": .string(path),
            "rule": rule.map(JSONValue.string) ?? .null, "action": .string(action), "forwarded": .bool(forwarded),
            "upstreamStatus": upstreamStatus.map { .int(Int64($0)) } ?? .null,
            "upstreamError": upstreamError.map(JSONValue.string) ?? .null,
            "status": status.map { .int(Int64($0)) } ?? .null, "outcome": .string(outcome),
            "clientGone": .bool(clientGone), "released": released.map(JSONValue.string) ?? .null, "done": .bool(done),
        ]
    }
}

/// A request (stage `request`) or an upstream answer (stage `response`) waiting for a release.
final class HeldExchange {
    let id: Int
    let entry: LogEntry
    let stage: String
    let release: (Release) -> Void

    init(id: Int, entry: LogEntry, stage: String, release: @escaping (Release) -> Void) {
        self.id = id
        self.entry = entry
        self.stage = stage
        self.release = release
    }

    var json: JSONValue {
        [
            "id": .int(Int64(id)), "seq": .int(Int64(entry.seq)), "method": .string(entry.method), "path": .string(entry.path),
            "uri": .string(entry.uri), "rule": entry.rule.map(JSONValue.string) ?? .null, "stage": .string(stage),
            "upstreamStatus": entry.upstreamStatus.map { .int(Int64($0)) } ?? .null, "clientGone": .bool(entry.clientGone),
        ]
    }
}

/// Which held exchanges a `POST /held/wait` wants.
struct HeldFilter {
    var pattern: RequestPattern
    var rule: String?
    var stage: String?
    /// Only holds with a larger id.
    var after: Int

    init(object: [String: JSONValue]) throws(ProxyError) {
        pattern = try RequestPattern(object: object, pathRequired: false)
        rule = object["rule"]?.stringValue
        stage = object["stage"]?.stringValue
        if let stage, stage != "request", stage != "response" { throw ProxyError("stage must be request or response") }
        after = Int(object["after"]?.int64Value ?? 0)
    }

    func matches(_ held: HeldExchange) -> Bool {
        held.id > after && pattern.matches(method: held.entry.method, path: held.entry.path)
            && (rule == nil || rule == held.entry.rule) && (stage == nil || stage == held.stage)
    }
}

/// Everything the proxy knows: rules, log, holds. Lives on the proxy's one event loop; every handler reaches it
/// there, so it needs no lock.
final class ProxyState {
    let loop: any EventLoop
    let upstreamHost: String
    /// Where requests go; `PUT /upstream` moves it (a load balancer failing over to another fleet member).
    var upstreamPort: Int
    private(set) var rules: [ProxyRule] = []
    private(set) var entries: [LogEntry] = []
    private var nextSeq = 1
    private var nextHeldID = 1
    private(set) var held: [HeldExchange] = []
    private var waiters: [(id: Int, filter: HeldFilter, promise: EventLoopPromise<JSONValue>)] = []
    private var nextWaiterID = 1
    private let logFile: Int32?

    init(loop: any EventLoop, upstreamHost: String, upstreamPort: Int, logPath: String?) throws {
        self.loop = loop
        self.upstreamHost = upstreamHost
        self.upstreamPort = upstreamPort
        if let logPath {
            let fd = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw ProxyError("cannot open log file \(logPath)") }
            logFile = fd
        } else {
            logFile = nil
        }
    }

    // MARK: Rules

    func replaceRules(_ rules: [ProxyRule]) { self.rules = rules }
    func appendRules(_ rules: [ProxyRule]) { self.rules += rules }
    var rulesListing: JSONValue { ["rules": .array(rules.map(\.listing))] }

    /// Logs a new request and returns its entry and the action of the first live matching rule (counted as used).
    func admit(method: String, uri: String) -> (LogEntry, RuleAction) {
        var action = RuleAction.pass
        var name: String?
        if let index = rules.firstIndex(where: { ($0.remaining ?? 1) > 0 && $0.pattern.matches(method: method, path: uri) }) {
            rules[index].hits += 1
            if let remaining = rules[index].remaining { rules[index].remaining = remaining - 1 }
            action = rules[index].action
            name = rules[index].name ?? "#\(index)"
        }
        let entry = LogEntry(seq: nextSeq, method: method, uri: uri, rule: name, action: action.name)
        nextSeq += 1
        entries.append(entry)
        return (entry, action)
    }

    // MARK: Log

    var logListing: JSONValue { ["requests": .array(entries.map(\.json))] }
    func clearLog() { entries.removeAll() }

    /// Marks `entry` done and appends it to the log file.
    func finish(_ entry: LogEntry) {
        guard !entry.done else { return }
        entry.done = true
        guard let logFile else { return }
        var line = entry.json.serialized()
        line.append(UInt8(ascii: "\n"))
        _ = line.withUnsafeBytes { write(logFile, $0.baseAddress, $0.count) }
    }

    // MARK: Holds

    var heldListing: JSONValue { ["held": .array(held.map(\.json))] }

    /// Parks an exchange until `release(id:_:)`; wakes waiters that want it.
    func hold(_ entry: LogEntry, stage: String, release: @escaping (Release) -> Void) {
        let exchange = HeldExchange(id: nextHeldID, entry: entry, stage: stage, release: release)
        nextHeldID += 1
        held.append(exchange)
        let (woken, waiting) = waiters.reduce(into: ([EventLoopPromise<JSONValue>](), [(id: Int, filter: HeldFilter, promise: EventLoopPromise<JSONValue>)]())) {
            if $1.filter.matches(exchange) { $0.0.append($1.promise) } else { $0.1.append($1) }
        }
        waiters = waiting
        for promise in woken { promise.succeed(exchange.json) }
    }

    /// Lets a held exchange go; false when no exchange has this id.
    func release(id: Int, _ how: Release) -> Bool {
        guard let index = held.firstIndex(where: { $0.id == id }) else { return false }
        let exchange = held.remove(at: index)
        exchange.entry.released = how.name
        exchange.release(how)
        return true
    }

    func releaseAll(_ how: Release) -> Int {
        let ids = held.map(\.id)
        for id in ids { _ = release(id: id, how) }
        return ids.count
    }

    /// The first held exchange matching `filter`, now or when it comes; fails with 408 after `timeout`.
    func waitForHeld(_ filter: HeldFilter, timeout: TimeAmount) -> EventLoopFuture<JSONValue> {
        if let exchange = held.first(where: filter.matches) { return loop.makeSucceededFuture(exchange.json) }
        let promise = loop.makePromise(of: JSONValue.self)
        let id = nextWaiterID
        nextWaiterID += 1
        waiters.append((id, filter, promise))
        loop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
            waiters.remove(at: index).promise.fail(ProxyError("no held request matched within the timeout", status: 408))
        }
        return promise.futureResult
    }
}
