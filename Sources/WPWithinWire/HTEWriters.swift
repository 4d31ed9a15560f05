internal import WPWithinCore

// The HTE bodies of every purchase write their Go JSON in one pass (`GoJSONWritable`), in Go struct-field
// order, byte for byte what their `encode(to:)` gives through the ordered encoder (`HTEWriterTests`).

extension GoTime: GoJSONWritable {
    public func writeGoJSON(_ writer: inout GoJSONWriter) throws {
        writer.string(try format())
    }
}

extension TotalPriceRequest: GoJSONWritable {
    public func writeGoJSON(_ writer: inout GoJSONWriter) throws {
        writer.beginObject()
        writer.field("clientID", clientID)
        writer.field("selectedNumberOfUnits", selectedNumberOfUnits)
        writer.field("selectedPriceID", selectedPriceID)
        writer.endObject()
    }
}

extension TotalPriceResponse: GoJSONWritable {
    public func writeGoJSON(_ writer: inout GoJSONWriter) throws {
        writer.beginObject()
        writer.field("serverID", serverID)
        writer.field("clientID", clientID)
        writer.field("priceID", priceID)
        writer.field("unitsToSupply", unitsToSupply)
        writer.field("totalPrice", totalPrice)
        writer.field("currencyCode", currencyCode)
        writer.field("paymentReferenceID", paymentReferenceID)
        writer.field("merchantClientKey", merchantClientKey)
        writer.endObject()
    }
}

extension PaymentRequest: GoJSONWritable {
    public func writeGoJSON(_ writer: inout GoJSONWriter) throws {
        writer.beginObject()
        writer.field("clientID", clientID)
        writer.field("clientToken", clientToken)
        writer.field("paymentReferenceID", paymentReferenceID)
        writer.endObject()
    }
}

extension ServiceDeliveryToken: GoJSONWritable {
    public func writeGoJSON(_ writer: inout GoJSONWriter) throws {
        writer.beginObject()
        writer.field("key", key)
        try writer.field("issued", issued)
        try writer.field("expiry", expiry)
        writer.field("refundOnExpiry", refundOnExpiry)
        writer.field("signature", signature.map(Base64.encode))
        writer.endObject()
    }
}

extension PaymentResponse: GoJSONWritable {
    public func writeGoJSON(_ writer: inout GoJSONWriter) throws {
        writer.beginObject()
        writer.field("serverID", serverID)
        writer.field("clientID", clientID)
        writer.field("totalPaid", totalPaid)
        try writer.field("serviceDeliveryToken", serviceDeliveryToken)
        writer.endObject()
    }
}

extension BeginServiceDeliveryRequest: GoJSONWritable {
    public func writeGoJSON(_ writer: inout GoJSONWriter) throws {
        writer.beginObject()
        writer.field("clientID", clientID)
        try writer.field("serviceDeliveryToken", serviceDeliveryToken)
        writer.field("unitsToSupply", unitsToSupply)
        writer.endObject()
    }
}

extension BeginServiceDeliveryResponse: GoJSONWritable {
    public func writeGoJSON(_ writer: inout GoJSONWriter) throws {
        writer.beginObject()
        writer.field("serverID", serverID)
        writer.field("clientID", clientID)
        try writer.field("serviceDeliveryToken", serviceDeliveryToken)
        writer.field("unitsToSupply", unitsToSupply)
        writer.endObject()
    }
}

extension BeginServiceDeliveryRequest {
    /// The body of a begin with the token as the consumer stored it (its Go JSON, written by
    /// ``ServiceDeliveryToken``'s writer at purchase): spliced in, not decoded and written again. The same
    /// bytes as encoding the decoded request (`HTEWriterTests`).
    public static func goJSON(clientID: String, serviceDeliveryTokenJSON token: some Collection<UInt8>, unitsToSupply: Int) -> [UInt8] {
        splicedDeliveryBody(clientID: clientID, token: token, unitsKey: "unitsToSupply", units: unitsToSupply)
    }
}

extension EndServiceDeliveryRequest {
    /// The body of an end with the stored token spliced in (see ``BeginServiceDeliveryRequest/goJSON(clientID:serviceDeliveryTokenJSON:unitsToSupply:)``).
    public static func goJSON(clientID: String, serviceDeliveryTokenJSON token: some Collection<UInt8>, unitsReceived: Int) -> [UInt8] {
        splicedDeliveryBody(clientID: clientID, token: token, unitsKey: "unitsReceived", units: unitsReceived)
    }
}

/// `{"clientID":…,"serviceDeliveryToken":<token as stored>,"<unitsKey>":…}`, in the Go structs' field order.
private func splicedDeliveryBody(clientID: String, token: some Collection<UInt8>, unitsKey: StaticString, units: Int) -> [UInt8] {
    var writer = GoJSONWriter()
    writer.beginObject()
    writer.field("clientID", clientID)
    writer.field("serviceDeliveryToken", json: token)
    writer.field(unitsKey, units)
    writer.endObject()
    return writer.bytes
}

extension EndServiceDeliveryRequest: GoJSONWritable {
    public func writeGoJSON(_ writer: inout GoJSONWriter) throws {
        writer.beginObject()
        writer.field("clientID", clientID)
        try writer.field("serviceDeliveryToken", serviceDeliveryToken)
        writer.field("unitsReceived", unitsReceived)
        writer.endObject()
    }
}

extension EndServiceDeliveryResponse: GoJSONWritable {
    public func writeGoJSON(_ writer: inout GoJSONWriter) throws {
        writer.beginObject()
        writer.field("serverID", serverID)
        writer.field("clientID", clientID)
        try writer.field("serviceDeliveryToken", serviceDeliveryToken)
        writer.field("unitsJustSupplied", unitsJustSupplied)
        writer.field("unitsRemaining", unitsRemaining)
        writer.endObject()
    }
}
