import WPWithinCore

/// Request bodies in the exact key order and spelling the Go SDK sends (PROTOCOL.md §6.2), written
/// the way Go's encoding/json writes them (compact; `<`, `>`, `&`, U+2028/2029 escaped).
enum WorldpayOnlineWire {
    static func tokenRequest(card: PaymentCard, clientKey: String) -> [UInt8] {
        var w = GoJSONWriter()
        w.open()
        w.key("reusable"); w.bool(false)
        w.key("paymentMethod"); w.open()
        w.key("name"); w.string(card.cardholderName)
        w.key("expiryMonth"); w.int(Int64(card.expiryMonth))
        w.key("expiryYear"); w.int(Int64(card.expiryYear))
        w.key("issueNumber"); w.null()
        w.key("startMonth"); w.null()
        w.key("startYear"); w.null()
        w.key("cardNumber"); w.string(card.cardNumber)
        w.key("type"); w.string(card.type)
        w.key("cvc"); w.string(card.cvc)
        w.close()
        w.key("clientKey"); w.string(clientKey)
        w.close()
        return w.bytes
    }

    static func orderRequest(_ order: OrderRequest) -> [UInt8] {
        var w = GoJSONWriter()
        w.open()
        w.key("token"); w.string(order.token.value)
        w.key("amount"); w.int(order.amount.minorUnits)
        w.key("currencyCode"); w.string(order.amount.currency.code)
        w.key("orderDescription"); w.string(order.orderDescription)
        w.key("customerOrderCode"); w.string(order.customerOrderCode)
        w.close()
        return w.bytes
    }

    static func refundRequest(amount: Money?) -> [UInt8] {
        guard let amount else { return Array("{}".utf8) }
        var w = GoJSONWriter()
        w.open()
        w.key("refundAmount"); w.int(amount.minorUnits)
        w.close()
        return w.bytes
    }

    /// Case-insensitive member lookup, as Go decodes.
    static func member(_ object: [String: JSONValue], _ key: String) -> JSONValue? {
        CredentialFile.value(object, key)
    }

    /// Decodes an order response; nil when a required field is missing or mistyped.
    static func orderResult(_ object: [String: JSONValue]) -> OrderResult? {
        guard let orderCode = member(object, "orderCode")?.stringValue,
            let status = member(object, "paymentStatus")?.stringValue
        else { return nil }
        let payment = member(object, "paymentResponse")?.objectValue
        return OrderResult(
            orderCode: orderCode,
            customerOrderCode: member(object, "customerOrderCode")?.stringValue ?? "",
            paymentStatus: status,
            amount: member(object, "amount")?.int64Value ?? 0,
            currencyCode: member(object, "currencyCode")?.stringValue ?? "",
            orderDescription: member(object, "orderDescription")?.stringValue ?? "",
            maskedCardNumber: payment.flatMap { member($0, "maskedCardNumber")?.stringValue },
            environment: member(object, "environment")?.stringValue,
            refundedAmount: member(object, "refundedAmount")?.int64Value
        )
    }
}

/// A minimal JSON writer that keeps key order and escapes like Go's encoding/json.
struct GoJSONWriter {
    private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = []

    private mutating func separate() {
        if let last = needsComma.last {
            if last { bytes.append(UInt8(ascii: ",")) }
            needsComma[needsComma.count - 1] = true
        }
    }

    mutating func open() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma.append(false)
    }

    mutating func close() {
        bytes.append(UInt8(ascii: "}"))
        needsComma.removeLast()
    }

    mutating func key(_ name: String) {
        separate()
        writeString(name)
        bytes.append(UInt8(ascii: ":"))
        // The value that follows must not add a comma.
        needsComma[needsComma.count - 1] = false
    }

    mutating func string(_ value: String) { separate(); writeString(value) }
    mutating func int(_ value: Int64) { separate(); bytes.append(contentsOf: String(value).utf8) }
    mutating func bool(_ value: Bool) { separate(); bytes.append(contentsOf: (value ? "true" : "false").utf8) }
    mutating func null() { separate(); bytes.append(contentsOf: "null".utf8) }

    private mutating func writeString(_ value: String) {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        bytes.append(UInt8(ascii: "\""))
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": bytes.append(contentsOf: [92, 34])
            case "\\": bytes.append(contentsOf: [92, 92])
            case "\n": bytes.append(contentsOf: [92, UInt8(ascii: "n")])
            case "\r": bytes.append(contentsOf: [92, UInt8(ascii: "r")])
            case "\t": bytes.append(contentsOf: [92, UInt8(ascii: "t")])
            case "<", ">", "&", "\u{2028}", "\u{2029}":
                fallthrough
            case _ where scalar.value < 0x20:
                let v = scalar.value
                bytes.append(contentsOf: [92, UInt8(ascii: "u")])
                bytes.append(hex[Int(v >> 12 & 0xF)])
                bytes.append(hex[Int(v >> 8 & 0xF)])
                bytes.append(hex[Int(v >> 4 & 0xF)])
                bytes.append(hex[Int(v & 0xF)])
            default:
                bytes.append(contentsOf: String(scalar).utf8)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
