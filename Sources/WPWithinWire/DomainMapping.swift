public import WPWithinCore

// Conversions between the pure domain (WPWithinCore) and the Go wire shapes.

extension ServiceDetails {
    public init(_ service: WPWithinCore.Service) {
        self.init(serviceID: service.id, serviceDescription: service.description, serviceName: service.name,
                  serviceType: service.serviceType)
    }
}

extension Price {
    public init(_ price: WPWithinCore.Price) {
        self.init(
            priceID: price.id, priceDescription: price.description,
            pricePerUnit: PricePerUnit(amount: Int(price.pricePerUnit.minorUnits), currencyCode: price.pricePerUnit.currency.code),
            unitID: price.unitID, unitDescription: price.unitDescription)
    }
}

extension TotalPriceResponse {
    /// The `requestTotal` answer for a quote; `merchantClientKey` is the producer's `hte_public_key`.
    public init(_ quote: Quote, merchantClientKey: String) {
        self.init(
            serverID: quote.serverID, clientID: quote.clientID, priceID: quote.priceID, unitsToSupply: quote.units,
            totalPrice: Int(quote.total.minorUnits), currencyCode: quote.total.currency.code,
            paymentReferenceID: quote.paymentReferenceID, merchantClientKey: merchantClientKey)
    }
}

extension ServiceDeliveryToken {
    /// The wire form of an issued token, times written with `utcOffsetSeconds` (0 writes `Z`).
    public init(_ token: DeliveryToken, utcOffsetSeconds: Int = 0) {
        self.init(
            key: token.key, issued: GoTime(token.issued, utcOffsetSeconds: utcOffsetSeconds),
            expiry: GoTime(token.expiry, utcOffsetSeconds: utcOffsetSeconds), refundOnExpiry: token.refundOnExpiry,
            signature: token.signature)
    }

    /// What the producer verifies (only `key` and `signature` are trusted, after checking).
    public var presented: PresentedToken {
        PresentedToken(key: key, signature: signature, issued: issued.instant, expiry: expiry.instant, refundOnExpiry: refundOnExpiry)
    }
}

extension ErrorResponse {
    /// The Go-style error body for a domain error: only `message` is filled, as the Go producer does.
    public init(_ error: WPWError) {
        self.init(httpStatusCode: 0, message: error.message, errorCode: 0)
    }
}
