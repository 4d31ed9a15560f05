import WPWithinCore

/// A control or rule request that cannot be accepted; answered 400 (or `status`) with `{"error": message}`.
struct ProxyError: Error {
    var status: Int
    var message: String
    init(_ message: String, status: Int = 400) {
        self.status = status
        self.message = message
    }
}

/// A method and path pattern: `*` matches one path segment; `prefix` also matches longer paths.
struct RequestPattern {
    /// Upper-case method, nil for any.
    var method: String?
    var segments: [String]
    var prefix: Bool

    init(method: String?, path: String, prefix: Bool) {
        self.method = method.map { $0.uppercased() }.flatMap { $0 == "*" ? nil : $0 }
        self.segments = RequestPattern.segments(of: path)
        self.prefix = prefix
    }

    /// Reads `method`, `path` and `match` ("exact" or "prefix") of a JSON object; a missing path matches all.
    init(object: [String: JSONValue], pathRequired: Bool) throws(ProxyError) {
        let method = object["method"]?.stringValue
        if object["method"] != nil, method == nil { throw ProxyError("method must be a string") }
        let path = object["path"]?.stringValue
        if path == nil, pathRequired || object["path"] != nil { throw ProxyError("path is required and must be a string") }
        if let path, !path.hasPrefix("/") { throw ProxyError("path must start with /") }
        let prefix: Bool
        switch object["match"]?.stringValue ?? (object["match"] == nil ? "exact" : "") {
        case "exact": prefix = path == nil
        case "prefix": prefix = true
        default: throw ProxyError("match must be exact or prefix")
        }
        self.init(method: method, path: path ?? "/", prefix: prefix)
    }

    func matches(method: String, path: String) -> Bool {
        if let own = self.method, own != method { return false }
        let actual = RequestPattern.segments(of: path)
        guard prefix ? actual.count >= segments.count : actual.count == segments.count else { return false }
        return zip(segments, actual).allSatisfy { $0 == "*" || $0 == $1 }
    }

    var json: [String: JSONValue] {
        [
            "method": method.map(JSONValue.string) ?? .null,
            "path": .string("/" + segments.joined(separator: "/")),
            "match": prefix ? "prefix" : "exact",
        ]
    }

    /// Path segments without the query and without empty segments.
    static func segments(of path: String) -> [String] {
        let bare = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return bare.split(separator: "/").map(String.init)
    }
}

/// A response the proxy makes up (for `status`, `fabricate`, `forwardThenStatus` and a release with a status).
struct CannedResponse {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    /// Reads `status` (default `defaultStatus`), `body` (a string is sent as it is, other JSON serialised) and
    /// `headers` (an object of strings).
    init(object: [String: JSONValue], defaultStatus: Int?) throws(ProxyError) {
        let status: Int64
        if let value = object["status"] {
            guard let given = value.int64Value, (100...599).contains(given) else { throw ProxyError("status must be an integer in 100…599") }
            status = given
        } else if let defaultStatus {
            status = Int64(defaultStatus)
        } else {
            throw ProxyError("status is required")
        }
        self.status = Int(status)
        var headers: [(String, String)] = []
        var contentType: String?
        switch object["body"] {
        case .none, .null?:
            body = []
        case .string(let text)?:
            body = Array(text.utf8)
            contentType = "text/plain"
        case let value?:
            body = value.serialized()
            contentType = "application/json"
        }
        if let given = object["headers"] {
            guard let fields = given.objectValue else { throw ProxyError("headers must be an object of strings") }
            for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
                guard let text = value.stringValue else { throw ProxyError("header \(name) must be a string") }
                headers.append((name, text))
            }
        }
        if let contentType, !headers.contains(where: { $0.0.lowercased() == "content-type" }) {
            headers.append(("Content-Type", contentType))
        }
        self.headers = headers
    }

    init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// What a rule does to a matching request.
enum RuleAction {
    case pass
    case delay(milliseconds: Int64)
    case delayResponse(milliseconds: Int64)
    case drop
    case blackhole
    case status(CannedResponse)
    case forwardThenStatus(CannedResponse)
    case forwardThenCut
    case fabricate(CannedResponse)
    case hold
    case holdResponse

    var name: String {
        switch self {
        case .pass: "pass"
        case .delay: "delay"
        case .delayResponse: "delayResponse"
        case .drop: "drop"
        case .blackhole: "blackhole"
        case .status: "status"
        case .forwardThenStatus: "forwardThenStatus"
        case .forwardThenCut: "forwardThenCut"
        case .fabricate: "fabricate"
        case .hold: "hold"
        case .holdResponse: "holdResponse"
        }
    }
}

/// One rule: which requests (method, path, how many times) and what to do with them.
struct ProxyRule {
    var name: String?
    var pattern: RequestPattern
    var action: RuleAction
    /// Requests left; nil = unlimited.
    var remaining: Int?
    var hits = 0
    /// The rule as it was given (listed back by `GET /rules`).
    var source: [String: JSONValue]

    static let keys: Set<String> = ["name", "method", "path", "match", "times", "action", "ms", "status", "body", "headers"]

    init(parsing value: JSONValue) throws(ProxyError) {
        guard let object = value.objectValue else { throw ProxyError("a rule must be a JSON object") }
        if let unknown = object.keys.sorted().first(where: { !Self.keys.contains($0) }) {
            throw ProxyError("unknown rule key \(unknown) (known: \(Self.keys.sorted().joined(separator: ", ")))")
        }
        source = object
        if let given = object["name"] {
            guard let text = given.stringValue else { throw ProxyError("name must be a string") }
            name = text
        }
        pattern = try RequestPattern(object: object, pathRequired: true)
        if let given = object["times"] {
            guard let times = given.int64Value, times >= 1 else { throw ProxyError("times must be an integer ≥ 1") }
            remaining = Int(times)
        }
        func milliseconds() throws(ProxyError) -> Int64 {
            guard let ms = object["ms"]?.int64Value, (0...3_600_000).contains(ms) else {
                throw ProxyError("ms (0…3600000) is required for \(object["action"]?.stringValue ?? "")")
            }
            return ms
        }
        switch object["action"]?.stringValue {
        case "pass": action = .pass
        case "delay": action = .delay(milliseconds: try milliseconds())
        case "delayResponse": action = .delayResponse(milliseconds: try milliseconds())
        case "drop": action = .drop
        case "blackhole": action = .blackhole
        case "status": action = .status(try CannedResponse(object: object, defaultStatus: nil))
        case "forwardThenStatus": action = .forwardThenStatus(try CannedResponse(object: object, defaultStatus: nil))
        case "forwardThenCut": action = .forwardThenCut
        case "fabricate": action = .fabricate(try CannedResponse(object: object, defaultStatus: 200))
        case "hold": action = .hold
        case "holdResponse": action = .holdResponse
        default:
            throw ProxyError(
                "action must be one of pass, delay, delayResponse, drop, blackhole, status, forwardThenStatus, forwardThenCut, fabricate, hold, holdResponse"
            )
        }
    }

    var listing: JSONValue {
        var object = source
        object["remaining"] = remaining.map { .int(Int64($0)) } ?? .null
        object["hits"] = .int(Int64(hits))
        return .object(object)
    }

    /// Rules from a body: a list, `{"rules":[…]}`, or one rule.
    static func parseList(_ value: JSONValue) throws(ProxyError) -> [ProxyRule] {
        let list = value.arrayValue ?? value["rules"]?.arrayValue ?? [value]
        var rules: [ProxyRule] = []
        for item in list { rules.append(try ProxyRule(parsing: item)) }
        return rules
    }
}

/// How a held request (or held answer) is let go.
enum Release {
    /// Request held: forward it and answer what the upstream answers. Answer held: send it.
    case deliver
    /// Close the client connection without answering (a held request is then never forwarded).
    case cut
    /// Answer this instead (a held request is then never forwarded).
    case status(CannedResponse)

    init(parsing value: JSONValue?) throws(ProxyError) {
        let object = value?.objectValue ?? [:]
        switch object["action"]?.stringValue ?? "deliver" {
        case "deliver": self = .deliver
        case "cut": self = .cut
        case "status": self = .status(try CannedResponse(object: object, defaultStatus: nil))
        default: throw ProxyError("release action must be deliver, cut or status")
        }
    }

    var name: String {
        switch self {
        case .deliver: "deliver"
        case .cut: "cut"
        case .status: "status"
        }
    }
}
