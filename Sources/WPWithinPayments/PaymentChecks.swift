import WPWithinCore

/// Builds the order description exactly as the Go SDK does: `RoboWash - 10 units @ GBP 5.00 per unit.`
/// The price is formatted with the currency's own exponent (`JPY 500`, `BHD 1.250`).
public enum OrderDescription {
    public static func make(serviceName: String, units: Int, unitPrice: Money) -> String {
        "\(serviceName) - \(units) units @ \(unitPrice.description) per unit."
    }
}

/// Local money checks done before anything is sent to a gateway.
public enum PaymentAmount {
    /// A `Money` for a wire amount: unknown currency → `unsupportedCurrency`, amount ≤ 0 → `amountInvalid`.
    public static func money(minorUnits: Int64, currencyCode: String) throws -> Money {
        guard let currency = Currency(code: currencyCode) else {
            throw WPWError(.unsupportedCurrency, "unsupported currency", data: ["currencyCode": .string(currencyCode)])
        }
        let money = Money(minorUnits: minorUnits, currency: currency)
        try validate(money)
        return money
    }

    /// Throws `amountInvalid` unless the amount is positive.
    public static func validate(_ money: Money) throws {
        guard money.minorUnits > 0 else {
            throw WPWError(.amountInvalid, "amount must be positive", data: ["amount": .int(money.minorUnits)])
        }
    }
}

/// The Luhn (mod 10) check digit test for card numbers.
public enum Luhn {
    /// True for 12–19 ASCII digits whose Luhn sum is a multiple of 10.
    public static func isValid(_ number: String) -> Bool {
        let digits = number.utf8.map { Int($0) - 48 }
        guard (12...19).contains(digits.count), digits.allSatisfy({ (0...9).contains($0) }) else { return false }
        var sum = 0
        for (offset, digit) in digits.reversed().enumerated() {
            if offset % 2 == 1 {
                let doubled = digit * 2
                sum += doubled > 9 ? doubled - 9 : doubled
            } else {
                sum += digit
            }
        }
        return sum % 10 == 0
    }
}
