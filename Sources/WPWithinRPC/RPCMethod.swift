import WPWithinCore

/// One parameter of a method, as published in the OpenRPC document and checked before the handler runs.
public struct RPCParam: Sendable {
    public var name: String
    public var summary: String
    public var required: Bool
    /// A JSON Schema fragment. Its `type` (`string`, `integer`, `number`, `boolean`, `array`, `object`)
    /// is enforced by the dispatcher; handlers check ranges and formats.
    public var schema: JSONValue

    public init(_ name: String, _ schema: JSONValue, required: Bool = false, summary: String = "") {
        self.name = name
        self.summary = summary
        self.required = required
        self.schema = schema
    }
}

/// What a handler learns about the call it serves.
public struct RPCContext: Sendable {
    /// The connection the call came in on.
    public let connection: RPCConnection
    /// Whether the caller expects an answer (false for notifications).
    public let expectsReply: Bool
    let hooks: ReplyHooks

    public init(connection: RPCConnection, expectsReply: Bool, hooks: ReplyHooks = ReplyHooks()) {
        self.connection = connection
        self.expectsReply = expectsReply
        self.hooks = hooks
    }

    /// Runs `action` once the reply to this call has been written (at once for notifications).
    public func afterReply(_ action: @escaping @Sendable () -> Void) {
        hooks.add(action)
    }
}

public typealias RPCHandler = @Sendable (RPCParams, RPCContext) async throws -> JSONValue
/// A handler that never suspends (reads of in-memory state): the server runs it on the connection's event
/// loop as the line arrives, with no task.
public typealias RPCSyncHandler = @Sendable (RPCParams, RPCContext) throws -> JSONValue

/// A method the daemon serves: its published description and its handler.
public struct RPCMethod: Sendable {
    public var name: String
    public var summary: String
    public var params: [RPCParam]
    public var resultName: String
    public var resultSchema: JSONValue
    /// Application error codes the method may return (published in the OpenRPC document).
    public var errors: [WPWError.Code]
    public var handler: RPCHandler
    /// Set when the method can be answered without suspending (``init(_:summary:params:result:_:errors:synchronous:)``).
    public var syncHandler: RPCSyncHandler?

    public init(
        _ name: String,
        summary: String,
        params: [RPCParam] = [],
        result resultName: String,
        _ resultSchema: JSONValue,
        errors: [WPWError.Code] = [],
        handler: @escaping RPCHandler
    ) {
        self.name = name
        self.summary = summary
        self.params = params
        self.resultName = resultName
        self.resultSchema = resultSchema
        self.errors = errors
        self.handler = handler
        self.syncHandler = nil
    }

    /// A method whose handler never suspends: served inline on the event loop (and through `handler` too).
    public init(
        _ name: String,
        summary: String,
        params: [RPCParam] = [],
        result resultName: String,
        _ resultSchema: JSONValue,
        errors: [WPWError.Code] = [],
        synchronous handler: @escaping RPCSyncHandler
    ) {
        self.init(name, summary: summary, params: params, result: resultName, resultSchema, errors: errors, handler: { params, context in
            try handler(params, context)
        })
        self.syncHandler = handler
    }
}

/// Schema shorthands for method tables.
public enum Schema {
    public static let string: JSONValue = ["type": "string"]
    public static let integer: JSONValue = ["type": "integer"]
    public static let number: JSONValue = ["type": "number"]
    public static let boolean: JSONValue = ["type": "boolean"]
    public static let anyObject: JSONValue = ["type": "object"]
    public static func array(of items: JSONValue) -> JSONValue { ["type": "array", "items": items] }
    public static func object(_ properties: [String: JSONValue], required: [String] = []) -> JSONValue {
        ["type": "object", "properties": .object(properties), "required": .array(required.map { .string($0) })]
    }
    public static func integer(minimum: Int64) -> JSONValue { ["type": "integer", "minimum": .int(minimum)] }
    public static func integer(minimum: Int64, maximum: Int64) -> JSONValue {
        ["type": "integer", "minimum": .int(minimum), "maximum": .int(maximum)]
    }
    /// Zero or more: counts of units, bytes, seconds.
    public static let count: JSONValue = integer(minimum: 0)
    /// One of `values` (a state, a reason).
    public static func oneOf(_ values: [String]) -> JSONValue { ["type": "string", "enum": .array(values.map { .string($0) })] }
    /// Exactly `value`.
    public static func constant(_ value: Bool) -> JSONValue { ["type": "boolean", "enum": [.bool(value)]] }
    public static func constant(_ value: String) -> JSONValue { ["type": "string", "enum": [.string(value)]] }

    /// `schema` or null: `["T", "null"]` for a plain type (with `null` added to its enum), else `oneOf` with null.
    public static func nullable(_ schema: JSONValue) -> JSONValue {
        guard var object = schema.objectValue, let type = object["type"]?.stringValue else {
            return ["oneOf": [schema, ["type": "null"]]]
        }
        object["type"] = [.string(type), "null"]
        if let values = object["enum"]?.arrayValue { object["enum"] = .array(values + [.null]) }
        return .object(object)
    }

    /// A reference to a named schema of the document's `components/schemas`.
    public static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }

    /// An object with exactly these members: every one required except `optional`, no others.
    public static func record(_ properties: [String: JSONValue], optional: Set<String> = []) -> JSONValue {
        [
            "type": "object", "properties": .object(properties),
            "required": .array(properties.keys.filter { !optional.contains($0) }.sorted().map { .string($0) }),
            "additionalProperties": false,
        ]
    }

    /// An object whose members are all optional and whose other members are allowed (an error's `data`).
    public static func open(_ properties: [String: JSONValue]) -> JSONValue {
        ["type": "object", "properties": .object(properties)]
    }
}
