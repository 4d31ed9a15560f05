/// Where the Worldpay Online API lives: `http://` or `https://`, a host (DNS name, IPv4 address or bracketed
/// IPv6 address), an optional port and a base path (`/v1`) to which `/tokens` and `/orders` are appended.
/// Parsed strictly, without Foundation: no user info, query, fragment or whitespace.
public struct GatewayEndpoint: Sendable, Hashable, CustomStringConvertible {
    public enum Scheme: String, Sendable, Hashable {
        case http
        case https

        public var defaultPort: Int { self == .https ? 443 : 80 }
    }

    public let scheme: Scheme
    /// A name or address, without brackets for IPv6.
    public let host: String
    public let port: Int
    /// Empty or `/segment…`, never ending with `/`.
    public let basePath: String

    /// The real Worldpay Online API.
    public static let worldpay = GatewayEndpoint(uncheckedScheme: .https, host: "api.worldpay.com", port: 443, basePath: "/v1")

    private init(uncheckedScheme scheme: Scheme, host: String, port: Int, basePath: String) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.basePath = basePath
    }

    /// Parses `scheme://host[:port][/base/path]`; a trailing `/` is dropped.
    public init(_ text: String) throws(GatewayEndpointError) {
        func bad(_ reason: String) -> GatewayEndpointError { GatewayEndpointError(endpoint: text, reason: reason) }
        guard text.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F }) else {
            throw bad("must be printable ASCII without spaces")
        }
        guard let separator = Self.firstRange(of: "://", in: text[...]) else { throw bad("must start with http:// or https://") }
        guard let scheme = Scheme(rawValue: text[..<separator.lowerBound].lowercased()) else {
            throw bad("the scheme must be http or https")
        }
        let rest = text[separator.upperBound...]
        guard !rest.contains(where: { $0 == "?" || $0 == "#" }) else { throw bad("must not have a query or fragment") }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard !authority.contains(where: { $0 == "@" }) else { throw bad("must not carry user information") }
        var host: Substring
        var portText: Substring?
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else { throw bad("unclosed IPv6 bracket") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { throw bad("invalid IPv6 address") }
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { throw bad("unexpected characters after the IPv6 address") }
                portText = after.dropFirst()
            }
        } else {
            if let colon = authority.firstIndex(of: ":") {
                host = authority[..<colon]
                portText = authority[authority.index(after: colon)...]
            } else {
                host = authority
            }
            guard !host.isEmpty else { throw bad("has no host") }
            guard host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_" }) else {
                throw bad("invalid host name")
            }
        }
        var port = scheme.defaultPort
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(portText),
                  (1...65535).contains(value)
            else { throw bad("invalid port") }
            port = value
        }
        var path = String(rest[authorityEnd...])
        while path.hasSuffix("/") { path.removeLast() }
        guard Self.firstRange(of: "//", in: path[...]) == nil else { throw bad("empty path segment") }
        self.init(uncheckedScheme: scheme, host: host.lowercased(), port: port, basePath: path)
    }

    /// Where `needle` first occurs in `text`. (Not `firstRange(of:)`/`contains(_:)` with a string: those live in
    /// _StringProcessing, which would link the regex engine, ≈ 0.8 MB of code, into the daemon.)
    static func firstRange(of needle: String, in text: Substring) -> Range<Substring.Index>? {
        var start = text.startIndex
        while start < text.endIndex {
            if text[start...].hasPrefix(needle) { return start..<text.index(start, offsetBy: needle.count) }
            start = text.index(after: start)
        }
        return nil
    }

    /// `https://api.worldpay.com/v1` (the port only when it is not the scheme's default).
    public var description: String {
        let bracketed = host.contains(where: { $0 == ":" }) ? "[\(host)]" : host
        let portPart = port == scheme.defaultPort ? "" : ":\(port)"
        return "\(scheme.rawValue)://\(bracketed)\(portPart)\(basePath)"
    }

    /// The absolute URL of `path` (relative, no leading slash) under the base path.
    public func url(_ path: String) -> String { description + "/" + path }
}

/// A gateway endpoint that cannot be used; ``description`` names it and says why.
public struct GatewayEndpointError: Error, Sendable, Hashable, CustomStringConvertible {
    public let endpoint: String
    public let reason: String
    public var description: String { "invalid gateway endpoint \(endpoint): \(reason)" }
}
