import WPWithinCore

/// The JSON shape of services and prices on the RPC API and in the configuration file:
///
/// `{"id":1,"name":"Car wash","description":"…","serviceType":"","prices":[{"id":1,"description":"Single wash",
///   "amount":500,"currencyCode":"GBP","unitId":1,"unitDescription":"wash","stock":null,"refundOnExpiry":false}]}`
///
/// `refundOnExpiry` (optional, default false): the units paid for at this price and never delivered are
/// refunded when the token expires, and on the consumer's `requestRefund` (docs/payments.md).
enum CatalogJSON {
    static func catalog(from services: [JSONValue]) throws -> Catalog {
        try Catalog(services: services.enumerated().map { index, value in try service(from: value, path: "services[\(index)]") })
    }

    static func service(from value: JSONValue, path: String = "service") throws -> WPWithinCore.Service {
        guard let object = value.objectValue else { throw WPWError.invalidParams(field: path, "\(path) must be an object") }
        try allow(object, ["id", "name", "description", "serviceType", "prices"], path: path)
        let prices = try (object["prices"]?.arrayValue ?? []).enumerated().map { index, price in
            try self.price(from: price, path: "\(path).prices[\(index)]")
        }
        return try WPWithinCore.Service(
            id: try int(object, "id", path: path),
            name: try string(object, "name", path: path),
            description: try optionalString(object, "description", path: path) ?? "",
            serviceType: try optionalString(object, "serviceType", path: path) ?? "",
            prices: prices
        )
    }

    static func price(from value: JSONValue, path: String) throws -> WPWithinCore.Price {
        guard let object = value.objectValue else { throw WPWError.invalidParams(field: path, "\(path) must be an object") }
        try allow(object, ["id", "description", "amount", "currencyCode", "unitId", "unitDescription", "stock", "refundOnExpiry"], path: path)
        let stock: Int?
        if let raw = object["stock"], !raw.isNull {
            guard let value = raw.int64Value, let exact = Int(exactly: value) else {
                throw WPWError.invalidParams(field: "\(path).stock", "\(path).stock must be an integer or null")
            }
            stock = exact
        } else {
            stock = nil
        }
        var refundOnExpiry = false
        if let raw = object["refundOnExpiry"], !raw.isNull {
            guard let flag = raw.boolValue else {
                throw WPWError.invalidParams(field: "\(path).refundOnExpiry", "\(path).refundOnExpiry must be true or false")
            }
            refundOnExpiry = flag
        }
        guard let amount = object["amount"]?.int64Value else {
            throw WPWError.invalidParams(field: "\(path).amount", "\(path).amount must be an integer (minor units)")
        }
        return try WPWithinCore.Price(
            id: try int(object, "id", path: path),
            description: try optionalString(object, "description", path: path) ?? "",
            amount: amount,
            currencyCode: try string(object, "currencyCode", path: path),
            unitID: try int(object, "unitId", path: path),
            unitDescription: try string(object, "unitDescription", path: path),
            stock: stock,
            refundOnExpiry: refundOnExpiry
        )
    }

    static func json(_ service: WPWithinCore.Service) -> JSONValue {
        [
            "id": .int(Int64(service.id)),
            "name": .string(service.name),
            "description": .string(service.description),
            "serviceType": .string(service.serviceType),
            "prices": .array(service.prices.values.sorted { $0.id < $1.id }.map(json)),
        ]
    }

    static func json(_ price: WPWithinCore.Price) -> JSONValue {
        [
            "id": .int(Int64(price.id)),
            "description": .string(price.description),
            "amount": .int(price.pricePerUnit.minorUnits),
            "currencyCode": .string(price.pricePerUnit.currency.code),
            "unitId": .int(Int64(price.unitID)),
            "unitDescription": .string(price.unitDescription),
            "stock": price.stock.map { .int(Int64($0)) } ?? .null,
            "refundOnExpiry": .bool(price.refundOnExpiry),
        ]
    }

    private static func allow(_ object: [String: JSONValue], _ keys: Set<String>, path: String) throws {
        if let unknown = object.keys.sorted().first(where: { !keys.contains($0) }) {
            throw WPWError.invalidParams(field: "\(path).\(unknown)", "unknown field \(path).\(unknown)")
        }
    }

    private static func int(_ object: [String: JSONValue], _ key: String, path: String) throws -> Int {
        guard let value = object[key]?.int64Value, let exact = Int(exactly: value) else {
            throw WPWError.invalidParams(field: "\(path).\(key)", "\(path).\(key) must be an integer")
        }
        return exact
    }

    private static func string(_ object: [String: JSONValue], _ key: String, path: String) throws -> String {
        guard let value = object[key]?.stringValue else {
            throw WPWError.invalidParams(field: "\(path).\(key)", "\(path).\(key) must be a string")
        }
        return value
    }

    private static func optionalString(_ object: [String: JSONValue], _ key: String, path: String) throws -> String? {
        guard let raw = object[key], !raw.isNull else { return nil }
        guard let value = raw.stringValue else {
            throw WPWError.invalidParams(field: "\(path).\(key)", "\(path).\(key) must be a string")
        }
        return value
    }
}
