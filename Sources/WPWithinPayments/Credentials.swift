import WPWithinCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A payment card, as the consumer's card file holds it.
///
/// The card number (PAN) and CVC never appear in `description`, `debugDescription`, `dump()` or
/// reflection: they show as the last four digits (`************1111`) and `***`.
/// Use ``cardNumber`` and ``cvc`` only to build the tokenisation request.
public struct PaymentCard: Sendable, Hashable {
    /// Cardholder name as sent to the gateway (`firstName + " " + lastName` in the Go SDK's HCECard).
    public var cardholderName: String
    public var expiryMonth: Int
    public var expiryYear: Int
    /// `Card` in the Go SDK.
    public var type: String
    private var secrets: Secrets

    public init(cardholderName: String, cardNumber: String, expiryMonth: Int, expiryYear: Int, cvc: String, type: String = "Card") {
        self.cardholderName = cardholderName
        self.expiryMonth = expiryMonth
        self.expiryYear = expiryYear
        self.type = type
        self.secrets = Secrets(cardNumber: cardNumber, cvc: cvc)
    }

    /// The full card number. Never log it.
    public var cardNumber: String { secrets.cardNumber }
    /// The card verification code. Never log or store it.
    public var cvc: String { secrets.cvc }

    /// `************1111`: the number with everything but the last four digits masked.
    public var maskedCardNumber: String { PaymentCard.mask(cardNumber) }

    /// Masks all but the last four characters with `*`.
    public static func mask(_ number: String) -> String {
        let keep = min(4, number.count / 2)
        return String(repeating: "*", count: number.count - keep) + number.suffix(keep)
    }

    /// The card number passes the Luhn check.
    public var passesLuhn: Bool { Luhn.isValid(cardNumber) }

    /// True when the expiry month has ended before `now` (the card is valid through the end of its month, UTC).
    public func isExpired(at now: Instant) -> Bool {
        let (year, month, _, _) = now.utcDate
        return expiryYear < year || (expiryYear == year && expiryMonth < month)
    }

    /// True when the expiry month has ended (the system clock, UTC).
    public func isExpired() -> Bool {
        var clock = timespec()
        clock_gettime(CLOCK_REALTIME, &clock)
        return isExpired(at: Instant(secondsSinceEpoch: Int64(clock.tv_sec)))
    }

    /// Reads a card file (JSON) after checking it is not readable by group or others.
    ///
    /// The Go SDK's HCECard keys are accepted: `{"firstName","lastName","expMonth","expYear","cardNumber","type","cvc"}`;
    /// `"name"` may replace `firstName`/`lastName`, and `expiryMonth`/`expiryYear` the short keys.
    public static func load(fromFile path: String) throws -> PaymentCard {
        let object = try CredentialFile.readObject(path: path)
        func string(_ keys: String...) -> String? {
            for key in keys { if let value = CredentialFile.value(object, key)?.stringValue { return value } }
            return nil
        }
        func int(_ keys: String...) -> Int? {
            for key in keys { if let value = CredentialFile.value(object, key)?.int64Value { return Int(value) } }
            return nil
        }
        let name: String
        if let full = string("name") {
            name = full
        } else {
            name = [string("firstName"), string("lastName")].compactMap { $0 }.joined(separator: " ")
        }
        guard let number = string("cardNumber", "pan") else { throw CredentialFile.missing("cardNumber", path: path) }
        guard let cvc = string("cvc") else { throw CredentialFile.missing("cvc", path: path) }
        guard let month = int("expMonth", "expiryMonth"), (1...12).contains(month) else {
            throw CredentialFile.missing("expMonth", path: path)
        }
        guard let year = int("expYear", "expiryYear") else { throw CredentialFile.missing("expYear", path: path) }
        guard !name.isEmpty else { throw CredentialFile.missing("firstName", path: path) }
        return PaymentCard(
            cardholderName: name, cardNumber: number, expiryMonth: month, expiryYear: year, cvc: cvc,
            type: string("type") ?? "Card"
        )
    }

    /// Holds the PAN and CVC; its own description and mirror are masked too.
    private struct Secrets: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
        let cardNumber: String
        let cvc: String
        var description: String { "Secrets(cardNumber: \(PaymentCard.mask(cardNumber)), cvc: ***)" }
        var debugDescription: String { description }
        var customMirror: Mirror {
            Mirror(self, children: ["cardNumber": PaymentCard.mask(cardNumber), "cvc": "***"], displayStyle: .struct)
        }
    }
}

extension PaymentCard: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "PaymentCard(cardholderName: \(cardholderName), cardNumber: \(maskedCardNumber), expiry: \(expiryMonth)/\(expiryYear), type: \(type))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "cardholderName": cardholderName,
                "cardNumber": maskedCardNumber,
                "expiryMonth": expiryMonth,
                "expiryYear": expiryYear,
                "cvc": "***",
                "type": type,
            ],
            displayStyle: .struct
        )
    }
}

/// The merchant's Worldpay Online keys: the client key is public (sent to consumers in quotes), the
/// service key is secret (the `Authorization` header of `/orders`) and is masked like a PAN.
public struct MerchantCredentials: Sendable, Hashable {
    public var clientKey: String
    private var secret: ServiceKey

    public init(clientKey: String, serviceKey: String) {
        self.clientKey = clientKey
        self.secret = ServiceKey(value: serviceKey)
    }

    /// The secret service key. Never log it.
    public var serviceKey: String { secret.value }

    /// Reads `{"clientKey":"T_C_…","serviceKey":"T_S_…"}` (the Go config keys `merchant_client_key` and
    /// `merchant_service_key` are accepted too) after checking the file's permissions.
    public static func load(fromFile path: String) throws -> MerchantCredentials {
        let object = try CredentialFile.readObject(path: path)
        guard let client = (CredentialFile.value(object, "clientKey") ?? CredentialFile.value(object, "merchant_client_key"))?.stringValue,
            !client.isEmpty
        else { throw CredentialFile.missing("clientKey", path: path) }
        guard let service = (CredentialFile.value(object, "serviceKey") ?? CredentialFile.value(object, "merchant_service_key"))?.stringValue,
            !service.isEmpty
        else { throw CredentialFile.missing("serviceKey", path: path) }
        return MerchantCredentials(clientKey: client, serviceKey: service)
    }

    private struct ServiceKey: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
        let value: String
        var description: String { PaymentCard.mask(value) }
        var debugDescription: String { description }
        var customMirror: Mirror { Mirror(self, children: ["value": PaymentCard.mask(value)], displayStyle: .struct) }
    }
}

extension MerchantCredentials: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "MerchantCredentials(clientKey: \(clientKey), serviceKey: \(PaymentCard.mask(serviceKey)))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["clientKey": clientKey, "serviceKey": PaymentCard.mask(serviceKey)], displayStyle: .struct)
    }
}

/// Reading secret JSON files: permission check first, then parse.
public enum CredentialFile {
    /// Throws `credentials` unless `path` is a regular file with no group/other permission bits (e.g. 0600, 0400).
    public static func checkPermissions(path: String) throws {
        var status = stat()
        // lstat: a symbolic link is not a regular file (as before).
        guard lstat(path, &status) == 0 else {
            throw WPWError(.credentials, "cannot read credential file \(path)", data: ["path": .string(path)])
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw WPWError(.credentials, "credential file \(path) is not a regular file", data: ["path": .string(path)])
        }
        let mode = Int(status.st_mode & 0o7777)
        guard mode & 0o077 == 0 else {
            throw WPWError(
                .credentials,
                "credential file \(path) is accessible by group or others (mode \(String(mode, radix: 8))); run chmod 600 \(path)",
                data: ["path": .string(path), "mode": .string(String(mode, radix: 8))]
            )
        }
    }

    static func readObject(path: String) throws -> [String: JSONValue] {
        try checkPermissions(path: path)
        guard let bytes = SmallFile.read(path) else {
            throw WPWError(.credentials, "cannot read credential file \(path)", data: ["path": .string(path)])
        }
        guard let value = try? JSONValue.parse(bytes), let object = value.objectValue else {
            throw WPWError(.credentials, "credential file \(path) is not a JSON object", data: ["path": .string(path)])
        }
        return object
    }

    /// Case-insensitive key lookup, as Go's encoding/json matches keys.
    static func value(_ object: [String: JSONValue], _ key: String) -> JSONValue? {
        if let exact = object[key] { return exact }
        let lower = key.lowercased()
        return object.first { $0.key.lowercased() == lower }?.value
    }

    static func missing(_ field: String, path: String) -> WPWError {
        WPWError(.credentials, "credential file \(path) lacks a valid \(field)", data: ["path": .string(path), "field": .string(field)])
    }
}
