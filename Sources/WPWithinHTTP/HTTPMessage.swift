/// Header fields of a request or response: ordered, names compared case-insensitively.
public struct HTTPHeaderFields: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    public private(set) var fields: [Field]

    public struct Field: Sendable, Hashable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public init() { self.fields = [] }
    public init(_ fields: [(String, String)]) { self.fields = fields.map { Field(name: $0.0, value: $0.1) } }
    public init(dictionaryLiteral elements: (String, String)...) { self.init(elements) }

    /// The first value of `name` (case-insensitive), or nil.
    public subscript(name: String) -> String? {
        get { fields.first { $0.name.caseInsensitiveEquals(name) }?.value }
        set {
            fields.removeAll { $0.name.caseInsensitiveEquals(name) }
            if let newValue { fields.append(Field(name: name, value: newValue)) }
        }
    }

    /// Appends a field, keeping any existing fields of the same name.
    public mutating func add(name: String, value: String) { fields.append(Field(name: name, value: value)) }

    public func contains(_ name: String) -> Bool { self[name] != nil }

    public func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }
}

extension String {
    func caseInsensitiveEquals(_ other: String) -> Bool {
        self.utf8.count == other.utf8.count && self.lowercased() == other.lowercased()
    }
}

/// A complete HTTP request as the server hands it to its handler.
public struct HTTPRequest: Sendable {
    /// Upper-case method (`GET`, `POST`).
    public var method: String
    /// The request target as received (`/v1/orders?x=1`).
    public var uri: String
    /// The path part of the target, without the query (`/v1/orders`), not percent-decoded.
    public var path: String
    /// Query parameters, percent-decoded (`+` is a space); the first value wins on repeats.
    public var query: [String: String]
    public var headers: HTTPHeaderFields
    public var body: [UInt8]

    public init(method: String, uri: String, headers: HTTPHeaderFields = [:], body: [UInt8] = []) {
        self.method = method.uppercased()
        self.uri = uri
        let (path, query) = HTTPRequest.split(uri)
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// Path segments without empty ones: `/v1/orders/abc` → `["v1", "orders", "abc"]`.
    public var pathSegments: [Substring] { path.split(separator: "/") }

    static func split(_ uri: String) -> (String, [String: String]) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri, [:]) }
        let path = String(uri[..<mark])
        var query: [String: String] = [:]
        for pair in uri[uri.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = percentDecode(parts[0])
            let value = parts.count > 1 ? percentDecode(parts[1]) : ""
            if query[name] == nil { query[name] = value }
        }
        return (path, query)
    }

    static func percentDecode(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                if let high = iterator.next(), let low = iterator.next(), let h = hexValue(high), let l = hexValue(low) {
                    bytes.append(h << 4 | l)
                } else {
                    bytes.append(byte)
                }
            default: bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// A complete HTTP response. The server sets `Content-Length` (and `Connection` when needed) itself.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaderFields
    public var body: [UInt8]

    public init(status: Int, headers: HTTPHeaderFields = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A response with `Content-Type: application/json` and the given (already encoded) body.
    public static func json(status: Int, body: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: body)
    }

    /// A response with `Content-Type: application/json` and the given (already encoded) body.
    public static func json(status: Int, _ text: String) -> HTTPResponse {
        json(status: status, body: Array(text.utf8))
    }
}

/// What the server calls for every complete request. It must not throw: failures are responses.
public typealias HTTPHandler = @Sendable (HTTPRequest) async -> HTTPResponse
