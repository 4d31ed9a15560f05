import WPWithinCore

/// The OpenRPC 1.x description of the daemon's methods, generated from the method table itself.
public enum OpenRPC {
    public static let specVersion = "1.2.6"

    public struct Info: Sendable {
        public var title: String
        public var version: String
        public var description: String

        public init(title: String, version: String, description: String) {
            self.title = title
            self.version = version
            self.description = description
        }
    }

    public static func document(info: Info, methods: [RPCMethod]) -> JSONValue {
        [
            "openrpc": .string(specVersion),
            "info": ["title": .string(info.title), "version": .string(info.version), "description": .string(info.description)],
            "methods": .array(methods.map(describe)),
        ]
    }

    static func describe(_ method: RPCMethod) -> JSONValue {
        var object: [String: JSONValue] = [
            "name": .string(method.name),
            "summary": .string(method.summary),
            "paramStructure": "by-name",
            "params": .array(method.params.map { param in
                ["name": .string(param.name), "summary": .string(param.summary), "required": .bool(param.required), "schema": param.schema]
            }),
            "result": ["name": .string(method.resultName), "schema": method.resultSchema],
        ]
        if !method.errors.isEmpty {
            object["errors"] = .array(method.errors.map { code in
                ["code": .int(Int64(code.rawValue)), "message": .string(ErrorCatalog.name(of: code))]
            })
        }
        return .object(object)
    }

    /// `rpc.discover`: the document for `methods` plus itself.
    static func discoverMethod(info: Info, methods: [RPCMethod]) -> RPCMethod {
        let placeholder = RPCMethod(
            "rpc.discover",
            summary: "Returns the OpenRPC document describing every method this daemon serves.",
            result: "openrpcDocument",
            ["$ref": "https://raw.githubusercontent.com/open-rpc/meta-schema/master/schema.json"],
            handler: { _, _ in .null }
        )
        let document = Self.document(info: info, methods: [placeholder] + methods)
        var method = placeholder
        method.handler = { _, _ in document }
        method.syncHandler = { _, _ in document }
        return method
    }
}

/// Stable names of the error codes (published in OpenRPC and docs/rpc.md).
public enum ErrorCatalog {
    public static let names: [WPWError.Code: String] = [
        .parseError: "parseError", .invalidRequest: "invalidRequest", .methodNotFound: "methodNotFound",
        .invalidParams: "invalidParams", .internalError: "internalError",
        .unavailable: "unavailable", .messageTooLarge: "messageTooLarge", .overloaded: "overloaded",
        .roleDisabled: "roleDisabled", .storageLow: "storageLow",
        .notFound: "notFound", .conflict: "conflict", .expired: "expired", .insufficientUnits: "insufficientUnits",
        .outOfStock: "outOfStock", .invalidToken: "invalidToken", .alreadyExists: "alreadyExists",
        .paymentDeclined: "paymentDeclined", .invalidCard: "invalidCard", .gatewayUnavailable: "gatewayUnavailable",
        .gatewayTimeout: "gatewayTimeout", .gatewayProtocol: "gatewayProtocol", .gatewayRejected: "gatewayRejected",
        .unsupportedCurrency: "unsupportedCurrency", .amountInvalid: "amountInvalid",
        .paymentOutcomeUnknown: "paymentOutcomeUnknown", .credentials: "credentials",
        .peerUnreachable: "peerUnreachable", .peerRejected: "peerRejected", .peerProtocol: "peerProtocol",
        .discoveryTimeout: "discoveryTimeout",
    ]

    public static func name(of code: WPWError.Code) -> String {
        names[code] ?? "error\(code.rawValue)"
    }
}
