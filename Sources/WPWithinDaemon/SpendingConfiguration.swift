import WPWithinCore

/// `consumer.spending` (docs/configuration.md, "Spending policy"): read from the configuration file only,
/// reloaded on SIGHUP.
extension SpendingPolicy {
    /// Per-currency amounts: `{"GBP": 500}`.
    static let amountKeys: [(key: String, value: any WritableKeyPath<SpendingPolicy, [String: Int64]> & Sendable)] = [
        ("maxTotal", \.maxTotal), ("maxUnitPrice", \.maxUnitPrice), ("dailyBudget", \.dailyBudget), ("monthlyBudget", \.monthlyBudget),
    ]
    /// Lists that may be null (no list: anything not denied).
    static let allowKeys: [(key: String, value: any WritableKeyPath<SpendingPolicy, Set<String>?> & Sendable)] = [
        ("allowProducers", \.allowProducers), ("allowServiceTypes", \.allowServiceTypes), ("allowCurrencies", \.allowCurrencies),
    ]
    static let denyKeys: [(key: String, value: any WritableKeyPath<SpendingPolicy, Set<String>> & Sendable)] = [
        ("denyProducers", \.denyProducers), ("denyServiceTypes", \.denyServiceTypes),
    ]
    static var keys: Set<String> {
        Set(amountKeys.map(\.key) + allowKeys.map(\.key) + denyKeys.map(\.key)).union(["maxUnits"])
    }
    /// The largest amount a limit may name (minor units): far above any real budget, far below an overflow.
    static let maxAmount: Int64 = 1 << 50

    /// Reads `consumer.spending` (the caller checked it is an object); every value is checked here, so a
    /// reload with a bad policy keeps the running one.
    static func parse(_ object: [String: JSONValue], reader: ConfigReader) throws(ConfigurationError) -> SpendingPolicy {
        try reader.allow(object, keys: keys, at: "consumer.spending")
        var policy = SpendingPolicy()
        for (key, path) in amountKeys {
            guard let value = object[key], !value.isNull else { continue }
            let at = "consumer.spending.\(key)"
            guard let amounts = value.objectValue else { throw reader.error(at, "must be an object of currency code → amount in minor units") }
            for (code, amount) in amounts {
                guard Currency(code: code) != nil else { throw reader.error("\(at).\(code)", "is not an ISO 4217 currency the daemon knows") }
                guard let minor = amount.int64Value, (0...maxAmount).contains(minor) else {
                    throw reader.error("\(at).\(code)", "must be an integer amount in minor units, 0 … \(maxAmount)")
                }
                policy[keyPath: path][code] = minor
            }
        }
        if let value = object["maxUnits"], !value.isNull {
            let units = try reader.int(value, at: "consumer.spending.maxUnits")
            guard (1...Int(Int32.max)).contains(units) else {
                throw reader.error("consumer.spending.maxUnits", "must be between 1 and \(Int32.max), or null")
            }
            policy.maxUnits = units
        }
        for (key, path) in allowKeys {
            guard let value = object[key], !value.isNull else { continue }
            policy[keyPath: path] = try list(value, key: key, reader: reader)
        }
        for (key, path) in denyKeys {
            guard let value = object[key], !value.isNull else { continue }
            policy[keyPath: path] = try list(value, key: key, reader: reader)
        }
        return policy
    }

    /// An array of non-empty strings: serverIds lower-cased, currency codes checked.
    private static func list(_ value: JSONValue, key: String, reader: ConfigReader) throws(ConfigurationError) -> Set<String> {
        let at = "consumer.spending.\(key)"
        guard let array = value.arrayValue else { throw reader.error(at, "must be an array of strings") }
        var result = Set<String>()
        for element in array {
            guard let string = element.stringValue, !string.isEmpty else { throw reader.error(at, "must contain only non-empty strings") }
            switch key {
            case "allowProducers", "denyProducers": result.insert(string.lowercased())
            case "allowCurrencies":
                guard Currency(code: string) != nil else { throw reader.error(at, "\(string) is not an ISO 4217 currency the daemon knows") }
                result.insert(string)
            default: result.insert(string)
            }
        }
        return result
    }

    /// The policy as `getSpendingPolicy` shows it: the configuration's keys, per-currency amounts as a list of
    /// `{"currencyCode", "amount"}` (by code), so that every member has a schema.
    var json: JSONValue {
        func amounts(_ map: [String: Int64]) -> JSONValue {
            .array(map.sorted { $0.key < $1.key }.map { ["currencyCode": .string($0.key), "amount": .int($0.value)] })
        }
        func list(_ set: Set<String>?) -> JSONValue { set.map { .array($0.sorted().map(JSONValue.string)) } ?? .null }
        return [
            "maxTotal": amounts(maxTotal), "maxUnitPrice": amounts(maxUnitPrice),
            "maxUnits": maxUnits.map { .int(Int64($0)) } ?? .null,
            "dailyBudget": amounts(dailyBudget), "monthlyBudget": amounts(monthlyBudget),
            "allowProducers": list(allowProducers), "denyProducers": list(denyProducers),
            "allowServiceTypes": list(allowServiceTypes), "denyServiceTypes": list(denyServiceTypes),
            "allowCurrencies": list(allowCurrencies),
        ]
    }
}
