import WPWithinCore

/// Named parameters of one call, with accessors that fail with -32602 naming the field.
public struct RPCParams: Sendable {
    public let values: [String: JSONValue]

    public init(_ values: [String: JSONValue] = [:]) {
        self.values = values
    }

    public subscript(name: String) -> JSONValue? {
        guard let value = values[name], !value.isNull else { return nil }
        return value
    }

    public func string(_ name: String) throws -> String {
        guard let value = try optionalString(name) else { throw missing(name) }
        return value
    }

    public func optionalString(_ name: String) throws -> String? {
        guard let value = self[name] else { return nil }
        guard let string = value.stringValue else { throw wrongType(name, "a string", value) }
        return string
    }

    public func int(_ name: String) throws -> Int64 {
        guard let value = try optionalInt(name) else { throw missing(name) }
        return value
    }

    public func optionalInt(_ name: String) throws -> Int64? {
        guard let value = self[name] else { return nil }
        guard let int = value.int64Value else { throw wrongType(name, "an integer", value) }
        return int
    }

    /// An integer in `range`, or -32602 naming the field.
    public func optionalInt(_ name: String, in range: ClosedRange<Int64>) throws -> Int64? {
        guard let value = try optionalInt(name) else { return nil }
        guard range.contains(value) else {
            throw WPWError.invalidParams(
                field: name,
                "\(name) must be between \(range.lowerBound) and \(range.upperBound)"
            )
        }
        return value
    }

    public func optionalBool(_ name: String) throws -> Bool? {
        guard let value = self[name] else { return nil }
        guard let bool = value.boolValue else { throw wrongType(name, "a boolean", value) }
        return bool
    }

    public func optionalStringArray(_ name: String) throws -> [String]? {
        guard let value = self[name] else { return nil }
        guard let array = value.arrayValue else { throw wrongType(name, "an array of strings", value) }
        return try array.map { element in
            guard let string = element.stringValue else { throw wrongType(name, "an array of strings", value) }
            return string
        }
    }

    private func missing(_ name: String) -> WPWError {
        WPWError.invalidParams(field: name, "missing required parameter \(name)")
    }

    private func wrongType(_ name: String, _ expected: String, _ value: JSONValue) -> WPWError {
        WPWError.invalidParams(field: name, "\(name) must be \(expected), not \(value.typeName)")
    }
}
