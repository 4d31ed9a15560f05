import WPWithinCore
import WPWithinHTTP

/// A fault rule set through the control API (`--control`): make one route answer a given status, or late.
///
/// ```json
/// {"route":"POST /orders","when":"after","status":502,"body":"<html>Bad gateway</html>","delayMs":0,"times":1}
/// ```
/// * `route`: method and path of the gateway API, `/v1` optional, `*` for one path segment, method `*` for
///   any: `POST /orders`, `GET /orders` (the `customerOrderCode` lookup), `GET /orders/*`,
///   `POST /orders/*/refund`, `POST /tokens`.
/// * `when`: `before` (alias `beforeCharge`, the default): the sandbox does nothing of the request: it waits
///   `delayMs`, then answers `status` (or, without `status`, handles the request as usual after the wait).
///   `after` (alias `afterCharge`): the sandbox handles the request first (the order is placed and charged,
///   the refund made, the state record and audit line written), then waits `delayMs`, then answers `status`
///   instead of its own answer (or, without `status`, its own answer, late).
/// * `status` (100…599) and `body` (a string is sent as `text/plain`, anything else as JSON; absent: empty).
/// * `times`: how many requests the rule applies to (absent: until the rules are cleared).
/// Rules are tried in order; the first live one that matches applies.
struct SandboxFaultRule: Sendable {
    enum When: String, Sendable {
        case before
        case after
    }

    var route: String
    var method: String
    var segments: [String]
    var when: When
    var status: Int?
    var body: JSONValue?
    var delayMilliseconds: Int
    /// Requests left; nil = unlimited.
    var remaining: Int?
    var hits = 0

    static let keys: Set<String> = ["route", "when", "status", "body", "delayMs", "times"]

    init(parsing value: JSONValue) throws(SandboxError) {
        guard let object = value.objectValue else { throw Self.bad("a rule must be a JSON object") }
        if let unknown = object.keys.sorted().first(where: { !Self.keys.contains($0) }) {
            throw Self.bad("unknown key \(unknown) (known: \(Self.keys.sorted().joined(separator: ", ")))")
        }
        guard let route = object["route"]?.stringValue else { throw Self.bad("route is required, e.g. \"POST /orders\"") }
        let parts = route.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2, parts[1].hasPrefix("/") else { throw Self.bad("route must be \"METHOD /path\", not \(route)") }
        self.route = route
        method = parts[0].uppercased()
        var segments = parts[1].split(separator: "/").map(String.init)
        if segments.first == "v1" { segments.removeFirst() }
        self.segments = segments
        switch object["when"]?.stringValue ?? (object["when"] == nil ? "before" : "") {
        case "before", "beforeCharge": when = .before
        case "after", "afterCharge": when = .after
        default: throw Self.bad("when must be before, after, beforeCharge or afterCharge")
        }
        if let value = object["status"], !value.isNull {
            guard let status = value.int64Value, (100...599).contains(status) else { throw Self.bad("status must be an integer in 100…599") }
            self.status = Int(status)
        }
        body = object["body"].flatMap { $0.isNull ? nil : $0 }
        if body != nil, status == nil { throw Self.bad("body needs a status") }
        if let value = object["delayMs"] {
            guard let delay = value.int64Value, (0...600_000).contains(delay) else { throw Self.bad("delayMs must be an integer in 0…600000") }
            delayMilliseconds = Int(delay)
        } else {
            delayMilliseconds = 0
        }
        if let value = object["times"], !value.isNull {
            guard let times = value.int64Value, times >= 1 else { throw Self.bad("times must be an integer ≥ 1") }
            remaining = Int(times)
        }
        guard status != nil || delayMilliseconds > 0 else { throw Self.bad("a rule needs a status or a delayMs") }
    }

    func matches(method: String, segments: [String]) -> Bool {
        guard self.method == "*" || self.method == method, self.segments.count == segments.count else { return false }
        return zip(self.segments, segments).allSatisfy { $0 == "*" || $0 == $1 }
    }

    /// The answer that replaces the sandbox's own.
    var response: HTTPResponse? {
        guard let status else { return nil }
        switch body {
        case .none: return HTTPResponse(status: status)
        case .string(let text)?: return HTTPResponse(status: status, headers: ["Content-Type": "text/plain"], body: Array(text.utf8))
        case let value?: return .json(status: status, value: value)
        }
    }

    var listing: JSONValue {
        var object: [String: JSONValue] = [
            "route": .string(route), "when": .string(when.rawValue), "delayMs": .int(Int64(delayMilliseconds)),
            "remaining": remaining.map { .int(Int64($0)) } ?? .null, "hits": .int(Int64(hits)),
        ]
        if let status { object["status"] = .int(Int64(status)) }
        if let body { object["body"] = body }
        return .object(object)
    }

    private static func bad(_ reason: String) -> SandboxError {
        SandboxError(400, "BAD_FAULT_RULE", "Invalid fault rule", reason)
    }

    /// Rules from a control request body: a list of rules, `{"rules":[…]}`, or one rule.
    static func parseList(_ body: [UInt8]) throws(SandboxError) -> [SandboxFaultRule] {
        guard let value = try? JSONValue.parse(body) else { throw bad("the body must be JSON: a list of rules") }
        let list: [JSONValue]
        if let array = value.arrayValue {
            list = array
        } else if let array = value["rules"]?.arrayValue {
            list = array
        } else {
            list = [value]
        }
        var rules: [SandboxFaultRule] = []
        for item in list { rules.append(try SandboxFaultRule(parsing: item)) }
        return rules
    }
}

/// The live fault rules (the control API's state).
actor SandboxFaults {
    private var rules: [SandboxFaultRule] = []

    func replace(with rules: [SandboxFaultRule]) { self.rules = rules }
    func append(_ rules: [SandboxFaultRule]) { self.rules += rules }

    var listing: JSONValue { ["rules": .array(rules.map(\.listing))] }

    /// The first live rule matching the request, counted as applied.
    func take(method: String, segments: [String]) -> SandboxFaultRule? {
        guard let index = rules.firstIndex(where: { ($0.remaining ?? 1) > 0 && $0.matches(method: method, segments: segments) }) else {
            return nil
        }
        rules[index].hits += 1
        if let remaining = rules[index].remaining { rules[index].remaining = remaining - 1 }
        return rules[index]
    }
}
