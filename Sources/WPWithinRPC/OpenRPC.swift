import WPWithinCore

/// The OpenRPC 1.x description of the daemon's methods, generated from the method table itself.
public enum OpenRPC {
    public static let specVersion = "1.2.6"

    public struct Info: Sendable {
        public var title: String
        public var version: String
        public var description: String
        /// Named schemas (`components/schemas`) the method schemas refer to with `$ref`; the error data
        /// schemas (``ErrorCatalog/dataSchemas``) are added to them.
        public var schemas: [String: JSONValue]
        /// Top-level `x-` members (e.g. `x-notifications`: what a subscriber receives).
        public var extensions: [String: JSONValue]

        public init(
            title: String, version: String, description: String, schemas: [String: JSONValue] = [:],
            extensions: [String: JSONValue] = [:]
        ) {
            self.title = title
            self.version = version
            self.description = description
            self.schemas = schemas
            self.extensions = extensions
        }
    }

    /// The errors any method may answer besides its own (`x-commonErrors`): framing, params, limits, state.
    public static let commonErrors: [WPWError.Code] = [
        .parseError, .invalidRequest, .methodNotFound, .invalidParams, .internalError, .unavailable, .messageTooLarge,
        .overloaded, .storageLow,
    ]

    public static func document(info: Info, methods: [RPCMethod]) -> JSONValue {
        var schemas = info.schemas
        for (code, schema) in ErrorCatalog.dataSchemas { schemas[ErrorCatalog.dataSchemaName(of: code)] = schema }
        schemas[ErrorCatalog.ledgerSchemaName] = ErrorCatalog.ledger
        var document: [String: JSONValue] = [
            "openrpc": .string(specVersion),
            "info": ["title": .string(info.title), "version": .string(info.version), "description": .string(info.description)],
            "methods": .array(methods.map(describe)),
            "components": ["schemas": .object(schemas)],
            "x-commonErrors": .array(commonErrors.map(describe)),
        ]
        document.merge(info.extensions) { $1 }
        return .object(document)
    }

    /// An error entry: its code, its stable name, and its `data` schema (`x-dataSchema`, a `$ref`).
    static func describe(_ code: WPWError.Code) -> JSONValue {
        [
            "code": .int(Int64(code.rawValue)), "message": .string(ErrorCatalog.name(of: code)),
            "x-dataSchema": Schema.ref(ErrorCatalog.dataSchemaName(of: code)),
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
            object["errors"] = .array(method.errors.map(describe))
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
        .spendingLimitExceeded: "spendingLimitExceeded", .producerNotAllowed: "producerNotAllowed",
        .serviceTypeNotAllowed: "serviceTypeNotAllowed", .currencyNotAllowed: "currencyNotAllowed",
        .refundNotOffered: "refundNotOffered", .nothingToRefund: "nothingToRefund", .unitsRefunded: "unitsRefunded",
    ]

    public static func name(of code: WPWError.Code) -> String {
        names[code] ?? "error\(code.rawValue)"
    }
}

extension ErrorCatalog {
    /// `components/schemas` name of a code's `data` schema: `ErrorData.notFound`.
    public static func dataSchemaName(of code: WPWError.Code) -> String { "ErrorData.\(name(of: code))" }

    /// A producer's unit ledger for one purchase, as errors carry it (`UnitLedger.json`).
    static let ledgerSchemaName = "UnitLedger"
    static let ledger = Schema.record(["purchased": Schema.count, "delivered": Schema.count, "inFlight": Schema.count])

    /// What a producer's refusal carries when a consumer passes it on (`HTEClient.rejection`): the HTTP
    /// status, the producer's code and message, the route, and its unit ledger or order state when it sent them.
    static let peer: [String: JSONValue] = [
        "httpStatus": Schema.integer(minimum: 100, maximum: 599), "errorCode": Schema.integer, "message": Schema.string,
        "route": Schema.string,
        "ledger": Schema.ref(ledgerSchemaName), "state": Schema.string,
    ]
    /// What a gateway error carries (`WorldpayOnlineGateway`).
    static let gateway: [String: JSONValue] = [
        "operation": Schema.string, "httpStatusCode": Schema.integer, "customCode": Schema.string, "message": Schema.string,
        "description": Schema.string, "reason": Schema.string, "tls": Schema.string, "maxResponseBytes": Schema.count,
    ]
    /// The transport failure of a call to a producer (`HTEClient.transportError`).
    static let transport: [String: JSONValue] = [
        "route": Schema.string, "reason": Schema.string, "requestMayHaveReachedPeer": Schema.boolean,
    ]
    /// The unsettled delivery a consumer call left (`ConsumerEngine`).
    static let unsettled: [String: JSONValue] = [
        "purchaseId": Schema.integer(minimum: 1), "unsettled": Schema.oneOf(["begin", "end"]), "units": Schema.count,
    ]
    /// The producer's ledger after a consumer's record was brought into line with it.
    static let synced: [String: JSONValue] = [
        "purchaseId": Schema.integer(minimum: 1), "unitsDelivered": Schema.count, "unitsInFlight": Schema.count,
        "unitsRemaining": Schema.count,
    ]

    /// What every refusal of the consumer's spending policy carries (`SpendingRefusal`).
    static let spending: [String: JSONValue] = ["paymentReferenceId": Schema.string, "currencyCode": Schema.string]

    /// The schema of each code's `data` (absent when the error has none). Members differ by where the error
    /// arose, so every member is optional and others may appear (data is diagnostic; the code is the API);
    /// the members listed are typed.
    public static let dataSchemas: [WPWError.Code: JSONValue] = {
        func data(_ parts: [String: JSONValue]...) -> JSONValue {
            Schema.open(parts.reduce(into: [:]) { $0.merge($1) { first, _ in first } })
        }
        let order: [String: JSONValue] = ["paymentReferenceId": Schema.string, "customerOrderCode": Schema.string, "orderCode": Schema.string]
        return [
            .parseError: ["type": "null", "description": "A parse error carries no data."],
            .invalidRequest: data(["member": Schema.string]),
            .methodNotFound: data(["method": Schema.string]),
            .invalidParams: data(
                ["field": Schema.string, "route": Schema.string], synced,
                ["ledger": Schema.ref(ledgerSchemaName)]),
            .internalError: data(["errorId": Schema.integer(minimum: 1), "sqliteCode": Schema.integer, "sqlState": Schema.string]),
            .unavailable: data(["devicesHeard": Schema.count, "sqlState": Schema.string]),
            .messageTooLarge: data(["maxLineBytes": Schema.integer(minimum: 1)]),
            .overloaded: data([
                "reason": Schema.oneOf(["maxConnections", "maxConnectionsPerUid"]), "maxConnections": Schema.count,
                "maxConnectionsPerUid": Schema.count, "uid": Schema.count,
            ]),
            .roleDisabled: [
                "type": "object", "properties": ["role": Schema.oneOf(["producer", "consumer"])], "required": ["role"],
            ],
            .storageLow: data(["freeBytes": Schema.count, "minimumFreeBytes": Schema.count, "reserveInPlace": Schema.boolean], peer),
            .notFound: data(["serverId": Schema.string, "field": Schema.string], order, peer),
            .conflict: data(unsettled, synced, peer),
            .expired: data(
                ["paymentReferenceId": Schema.string, "state": Schema.oneOf(["abandoned", "refundPending", "refunded"]),
                 "refund": Schema.oneOf(["pending", "issued"])], peer),
            .insufficientUnits: data(["remaining": Schema.count], peer),
            .outOfStock: data(["available": Schema.count], peer),
            .invalidToken: data(peer),
            .alreadyExists: data(["sqlState": Schema.string], peer),
            .paymentDeclined: data(order, ["paymentStatus": Schema.string], gateway, peer),
            .invalidCard: data(gateway, peer),
            .gatewayUnavailable: data(gateway, peer),
            .gatewayTimeout: data(gateway, peer),
            .gatewayProtocol: data(gateway, peer),
            .gatewayRejected: data(gateway, peer),
            .unsupportedCurrency: data(["currencyCode": Schema.string, "field": Schema.string], peer),
            .amountInvalid: data(["amount": Schema.integer, "field": Schema.string], peer),
            .paymentOutcomeUnknown: data(
                order, ["httpStatusCode": Schema.integer, "customCode": Schema.string, "answeredCustomerOrderCode": Schema.string], peer),
            .credentials: data(["path": Schema.string, "mode": Schema.string, "field": Schema.string], peer),
            .peerUnreachable: data(transport, unsettled),
            .peerRejected: data(peer),
            .peerProtocol: data(transport, peer),
            .discoveryTimeout: data(["match": Schema.string, "timeoutMs": Schema.count]),
            .spendingLimitExceeded: data(spending, [
                "limit": Schema.oneOf(["maxTotal", "maxUnitPrice", "maxUnits", "dailyBudget", "monthlyBudget"]),
                "limitAmount": Schema.count, "requested": Schema.count, "exceededBy": Schema.integer(minimum: 1),
                "spent": Schema.count, "pending": Schema.count, "remaining": Schema.count, "windowSeconds": Schema.integer(minimum: 1),
            ]),
            .producerNotAllowed: data(spending, [
                "rule": Schema.oneOf(["allowProducers", "denyProducers"]), "serverId": Schema.nullable(Schema.string),
            ]),
            .serviceTypeNotAllowed: data(spending, [
                "rule": Schema.oneOf(["allowServiceTypes", "denyServiceTypes"]), "serviceType": Schema.nullable(Schema.string),
            ]),
            .currencyNotAllowed: data(spending, ["rule": Schema.oneOf(["allowCurrencies"])]),
            .refundNotOffered: data(
                ["purchaseId": Schema.integer(minimum: 1), "serverId": Schema.string, "paymentReferenceId": Schema.string,
                 "reason": Schema.oneOf(["noRoute", "notAllowed"])], peer),
            .nothingToRefund: data(
                ["purchaseId": Schema.integer(minimum: 1), "serverId": Schema.string, "paymentReferenceId": Schema.string,
                 "unitsDelivered": Schema.count, "unitsInFlight": Schema.count], peer),
            .unitsRefunded: data(
                ["purchaseId": Schema.integer(minimum: 1), "paymentReferenceId": Schema.string,
                 "status": Schema.oneOf(["pending", "issued"]), "reason": Schema.oneOf(["expiry", "requested"]),
                 "unitsRefunded": Schema.count, "amountRefunded": Schema.count, "currencyCode": Schema.string], peer),
        ]
    }()
}
