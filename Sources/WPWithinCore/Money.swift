/// An ISO 4217 currency with its minor-unit exponent.
public struct Currency: Sendable, Hashable, CustomStringConvertible {
    /// The alphabetic code, upper case (`GBP`).
    public let code: String
    /// Digits after the decimal point (GBP 2, JPY 0, BHD 3).
    public let exponent: Int

    /// Looks up a supported currency; nil for an unknown or malformed code.
    public init?(code: String) {
        guard let exponent = Currency.exponents[code] else { return nil }
        self.code = code
        self.exponent = exponent
    }

    public var description: String { code }

    /// ISO 4217 minor-unit exponents for the currencies the daemon accepts.
    public static let exponents: [String: Int] = [
        // 0 digits
        "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
        "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
        // 3 digits
        "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
        // 4 digits
        "CLF": 4, "UYW": 4,
        // 2 digits
        "AED": 2, "AUD": 2, "BGN": 2, "BRL": 2, "CAD": 2, "CHF": 2, "CNY": 2, "CZK": 2, "DKK": 2, "EGP": 2,
        "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "MAD": 2, "MXN": 2, "MYR": 2,
        "NGN": 2, "NOK": 2, "NZD": 2, "PHP": 2, "PKR": 2, "PLN": 2, "QAR": 2, "RON": 2, "RSD": 2, "RUB": 2,
        "SAR": 2, "SEK": 2, "SGD": 2, "THB": 2, "TRY": 2, "TWD": 2, "UAH": 2, "USD": 2, "ZAR": 2,
    ]
}

/// An amount of money in integer minor units (pence, cents, yen) of one currency.
public struct Money: Sendable, Hashable, CustomStringConvertible {
    public let minorUnits: Int64
    public let currency: Currency

    public init(minorUnits: Int64, currency: Currency) {
        self.minorUnits = minorUnits
        self.currency = currency
    }

    /// `minorUnits × count`, or nil when it would overflow Int64.
    public func multiplied(by count: Int64) -> Money? {
        let (product, overflow) = minorUnits.multipliedReportingOverflow(by: count)
        return overflow ? nil : Money(minorUnits: product, currency: currency)
    }

    /// The amount in major units with the currency's exponent: `5.00`, `500`, `1.250`.
    public var formattedAmount: String {
        let negative = minorUnits < 0
        let magnitude = minorUnits.magnitude
        guard currency.exponent > 0 else { return (negative ? "-" : "") + String(magnitude) }
        var scale: UInt64 = 1
        for _ in 0..<currency.exponent { scale *= 10 }
        let major = magnitude / scale
        var minor = String(magnitude % scale)
        while minor.count < currency.exponent { minor = "0" + minor }
        return (negative ? "-" : "") + "\(major).\(minor)"
    }

    /// `GBP 5.00`: the form the Go SDK uses in order descriptions.
    public var description: String { "\(currency.code) \(formattedAmount)" }
}
