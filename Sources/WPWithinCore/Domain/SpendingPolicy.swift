/// The consumer's spending policy (`consumer.spending`, docs/configuration.md): limits on one purchase, budgets
/// per currency over a rolling day and a rolling month of 30 days, and allow and deny lists of producers,
/// service types and currencies. Pure: ``evaluate(_:spent:)`` decides, the caller supplies what was spent.
///
/// Amounts are minor units, per currency code; a currency a map does not name is not limited by that map
/// (use `allowCurrencies` to refuse the others).
public struct SpendingPolicy: Sendable, Hashable {
    /// The rolling windows of the budgets.
    public static let day: Duration = .seconds(86_400)
    public static let month: Duration = .seconds(30 * 86_400)

    /// Most one purchase may cost, per currency.
    public var maxTotal: [String: Int64] = [:]
    /// Most one unit may cost (the quote's total divided by its units, rounded up), per currency.
    public var maxUnitPrice: [String: Int64] = [:]
    /// Most units one purchase may buy; nil: no limit.
    public var maxUnits: Int?
    /// Most that may be spent in any rolling day / month (30 days), per currency.
    public var dailyBudget: [String: Int64] = [:]
    public var monthlyBudget: [String: Int64] = [:]
    /// Producers (serverId, lower case) that may be paid; nil: any not denied.
    public var allowProducers: Set<String>?
    public var denyProducers: Set<String> = []
    /// Service types (`serviceType` of `requestServices`) that may be bought; nil: any not denied.
    public var allowServiceTypes: Set<String>?
    public var denyServiceTypes: Set<String> = []
    /// Currencies that may be paid in; nil: any.
    public var allowCurrencies: Set<String>?

    public init() {}

    /// Whether a payment must reserve its amount durably before the card is used (a budget is set).
    public var hasBudgets: Bool { !dailyBudget.isEmpty || !monthlyBudget.isEmpty }
    /// Whether the service's type must be known to decide.
    public var needsServiceType: Bool { allowServiceTypes != nil || !denyServiceTypes.isEmpty }
    /// Whether any rule is set.
    public var isEmpty: Bool { self == SpendingPolicy() }

    /// Allows the request (nil) or says which rule refuses it. Lists first (producer, service type,
    /// currency), then the purchase's own limits (units, unit price, total), then the budgets (day, month).
    /// Each limit allows a request equal to it.
    public func evaluate(_ request: SpendingRequest, spent: SpentByWindow) -> SpendingRefusal? {
        let currency = request.total.currency.code
        func listed(_ rule: SpendingRefusal.Rule, _ subject: String?) -> SpendingRefusal {
            SpendingRefusal(rule: rule, currencyCode: currency, subject: subject)
        }
        let producer = request.serverID.lowercased()
        if let allowProducers, !allowProducers.contains(producer) { return listed(.allowProducers, producer) }
        if denyProducers.contains(producer) { return listed(.denyProducers, producer) }
        if let allowServiceTypes, !(request.serviceType.map(allowServiceTypes.contains) ?? false) {
            return listed(.allowServiceTypes, request.serviceType)
        }
        // A type the producer no longer names cannot be shown not to be denied.
        if !denyServiceTypes.isEmpty, request.serviceType.map(denyServiceTypes.contains) ?? true {
            return listed(.denyServiceTypes, request.serviceType)
        }
        if let allowCurrencies, !allowCurrencies.contains(currency) { return listed(.allowCurrencies, currency) }

        func over(_ rule: SpendingRefusal.Rule, limit: Int64?, requested: Int64, spent: SpentAmount? = nil) -> SpendingRefusal? {
            guard let limit else { return nil }
            let already = spent?.total ?? 0
            guard Self.sum(already, requested) > limit else { return nil }
            return SpendingRefusal(rule: rule, currencyCode: currency, limitAmount: limit, requested: requested, spent: spent)
        }
        return over(.maxUnits, limit: maxUnits.map(Int64.init), requested: Int64(request.units))
            ?? over(.maxUnitPrice, limit: maxUnitPrice[currency], requested: request.unitPrice)
            ?? over(.maxTotal, limit: maxTotal[currency], requested: request.total.minorUnits)
            ?? over(.dailyBudget, limit: dailyBudget[currency], requested: request.total.minorUnits, spent: spent.day)
            ?? over(.monthlyBudget, limit: monthlyBudget[currency], requested: request.total.minorUnits, spent: spent.month)
    }

    /// Each budget set, per currency (sorted), with what was spent and what is left, for `getStatus`.
    public func budgets(spent: [String: SpentByWindow]) -> [SpendingBudget] {
        var budgets: [SpendingBudget] = []
        for (window, limits) in [(SpendingBudget.Window.day, dailyBudget), (.month, monthlyBudget)] {
            for (currency, limit) in limits.sorted(by: { $0.key < $1.key }) {
                let windows = spent[currency] ?? SpentByWindow()
                budgets.append(SpendingBudget(
                    currencyCode: currency, window: window, limit: limit, spent: window == .day ? windows.day : windows.month))
            }
        }
        return budgets
    }

    /// `a + b`, saturating.
    static func sum(_ a: Int64, _ b: Int64) -> Int64 {
        let (result, overflow) = a.addingReportingOverflow(b)
        return overflow ? .max : result
    }
}

/// What a payment would spend: the quote being paid, and the type of its service when known.
public struct SpendingRequest: Sendable, Hashable {
    public var serverID: String
    public var serviceType: String?
    public var total: Money
    public var units: Int

    public init(serverID: String, serviceType: String?, total: Money, units: Int) {
        self.serverID = serverID
        self.serviceType = serviceType
        self.total = total
        self.units = units
    }

    /// The price of one unit: the total divided by the units, rounded up.
    public var unitPrice: Int64 {
        guard units > 1 else { return total.minorUnits }
        let count = Int64(units)
        return total.minorUnits / count + (total.minorUnits % count == 0 ? 0 : 1)
    }
}

/// What was spent in one currency in one window: recorded purchases, and payments started (the card used)
/// whose outcome is not known yet (`pending`), which count as spent until it is.
public struct SpentAmount: Sendable, Hashable {
    public var purchased: Int64
    public var pending: Int64

    public init(purchased: Int64 = 0, pending: Int64 = 0) {
        self.purchased = purchased
        self.pending = pending
    }

    public var total: Int64 { SpendingPolicy.sum(purchased, pending) }
}

/// What was spent in one currency in the rolling day and the rolling month.
public struct SpentByWindow: Sendable, Hashable {
    public var day: SpentAmount
    public var month: SpentAmount

    public init(day: SpentAmount = SpentAmount(), month: SpentAmount = SpentAmount()) {
        self.day = day
        self.month = month
    }
}

/// A budget with what it has left (`getStatus`, `getSpendingPolicy`).
public struct SpendingBudget: Sendable, Hashable {
    public enum Window: String, Sendable, Hashable {
        case day, month

        public var seconds: Int64 { (self == .day ? SpendingPolicy.day : SpendingPolicy.month).components.seconds }
    }

    public let currencyCode: String
    public let window: Window
    public let limit: Int64
    public let spent: SpentAmount

    public var remaining: Int64 { max(0, limit - spent.total) }

    public var json: JSONValue {
        [
            "currencyCode": .string(currencyCode), "window": .string(window.rawValue), "windowSeconds": .int(window.seconds),
            "limit": .int(limit), "spent": .int(spent.total), "purchased": .int(spent.purchased), "pending": .int(spent.pending),
            "remaining": .int(remaining),
        ]
    }
}

/// Why the spending policy refuses a payment; ``error(paymentReferenceID:)`` is its typed RPC error.
public struct SpendingRefusal: Error, Sendable, Hashable {
    /// The `consumer.spending` key that refused.
    public enum Rule: String, Sendable, Hashable, CaseIterable {
        case maxTotal, maxUnitPrice, maxUnits, dailyBudget, monthlyBudget
        case allowProducers, denyProducers, allowServiceTypes, denyServiceTypes, allowCurrencies

        public var code: WPWError.Code {
            switch self {
            case .maxTotal, .maxUnitPrice, .maxUnits, .dailyBudget, .monthlyBudget: .spendingLimitExceeded
            case .allowProducers, .denyProducers: .producerNotAllowed
            case .allowServiceTypes, .denyServiceTypes: .serviceTypeNotAllowed
            case .allowCurrencies: .currencyNotAllowed
            }
        }

        /// The budget's window, for the budgets.
        public var window: SpendingBudget.Window? {
            switch self {
            case .dailyBudget: .day
            case .monthlyBudget: .month
            default: nil
            }
        }
    }

    public let rule: Rule
    /// The quote's currency.
    public let currencyCode: String
    /// A limit's value (minor units; units for `maxUnits`).
    public let limitAmount: Int64?
    /// What the payment asks for against that limit.
    public let requested: Int64?
    /// What was spent in the budget's window (budgets only).
    public let spent: SpentAmount?
    /// The producer, service type or currency a list refused (nil: a service type the producer did not name).
    public let subject: String?

    public init(
        rule: Rule, currencyCode: String, limitAmount: Int64? = nil, requested: Int64? = nil, spent: SpentAmount? = nil,
        subject: String? = nil
    ) {
        self.rule = rule
        self.currencyCode = currencyCode
        self.limitAmount = limitAmount
        self.requested = requested
        self.spent = spent
        self.subject = subject
    }

    /// How far over the limit the payment would go.
    public var exceededBy: Int64? {
        guard let limitAmount, let requested else { return nil }
        return SpendingPolicy.sum(spent?.total ?? 0, requested) - limitAmount
    }

    /// What the budget has left.
    public var remaining: Int64? { spent.flatMap { spent in limitAmount.map { max(0, $0 - spent.total) } } }

    /// The error's `data` members (besides `paymentReferenceId`).
    public var details: [String: JSONValue] {
        var data: [String: JSONValue] = ["currencyCode": .string(currencyCode)]
        switch rule.code {
        case .spendingLimitExceeded:
            data["limit"] = .string(rule.rawValue)
            if let limitAmount { data["limitAmount"] = .int(limitAmount) }
            if let requested { data["requested"] = .int(requested) }
            if let exceededBy { data["exceededBy"] = .int(exceededBy) }
            if let spent {
                data["spent"] = .int(spent.total)
                data["pending"] = .int(spent.pending)
            }
            if let remaining { data["remaining"] = .int(remaining) }
            if let window = rule.window { data["windowSeconds"] = .int(window.seconds) }
        case .producerNotAllowed:
            data["rule"] = .string(rule.rawValue)
            data["serverId"] = subject.map(JSONValue.string) ?? .null
        case .serviceTypeNotAllowed:
            data["rule"] = .string(rule.rawValue)
            data["serviceType"] = subject.map(JSONValue.string) ?? .null
        default:
            data["rule"] = .string(rule.rawValue)
        }
        return data
    }

    public var message: String {
        switch rule {
        case .maxTotal, .maxUnitPrice, .maxUnits, .dailyBudget, .monthlyBudget:
            let what = rule == .maxUnits ? "units" : currencyCode
            return "the spending policy's \(rule.rawValue) (\(limitAmount ?? 0) \(what)) would be exceeded by \(exceededBy ?? 0)"
        case .allowProducers: return "producer \(subject ?? "?") is not in the spending policy's allowProducers"
        case .denyProducers: return "producer \(subject ?? "?") is in the spending policy's denyProducers"
        case .allowServiceTypes: return "service type \(subject ?? "(unknown)") is not in the spending policy's allowServiceTypes"
        case .denyServiceTypes:
            return subject == nil
                ? "the producer does not name the service's type, and the spending policy denies some types"
                : "service type \(subject ?? "") is in the spending policy's denyServiceTypes"
        case .allowCurrencies: return "currency \(currencyCode) is not in the spending policy's allowCurrencies"
        }
    }

    public func error(paymentReferenceID: String) -> WPWError {
        var data = details
        data["paymentReferenceId"] = .string(paymentReferenceID)
        return WPWError(rule.code, message, data: .object(data))
    }
}
