import ArgumentParser
import WPWithinClient
import WPWithinCore

// The producer's commands: the catalog (addService, removeService, listServices) and the broadcast.

struct CatalogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog",
        abstract: "Show or change this producer's catalog: list (the default), add, remove.",
        subcommands: [CatalogListCommand.self, CatalogAddCommand.self, CatalogRemoveCommand.self],
        defaultSubcommand: CatalogListCommand.self
    )
}

struct CatalogListCommand: PlainCallCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the catalog (listServices): one line per price, with the stock left (unlimited when none is set)."
    )
    static let method = "listServices"
    static func readable(_ result: JSONValue) -> String {
        Output.columns(Output.catalogRows(result.arrayValue ?? []), Output.catalogColumns, empty: "no services")
    }

    @OptionGroup var global: GlobalOptions
}

struct CatalogAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a service with its prices (addService): from options (one price), or as a JSON object.",
        discussion: """
            Examples:
              wpwctl catalog add --id 1 --name RoboWash --service-type carwash \\
                --price '5.00 GBP' --price-description 'Car wash' --unit 'Single wash'
              wpwctl catalog add - < service.json
            A service in JSON is {id, name, description, serviceType, prices:
            [{id, description, amount (minor units), currencyCode, unitId,
            unitDescription, stock (null: unlimited)}]}.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("The service as a JSON object, or - to read it from stdin (instead of the options).", valueName: "json"))
    var service: String?

    @Option(help: ArgumentHelp("The service id.", valueName: "id")) var id: Int?
    @Option(help: ArgumentHelp("The service name.", valueName: "name")) var name: String?
    @Option(name: .customLong("description"), help: ArgumentHelp("The service description (default: the name).", valueName: "text"))
    var serviceDescription: String?
    @Option(name: .customLong("service-type"), help: ArgumentHelp("The service type discovery announces.", valueName: "type"))
    var serviceType: String?
    @Option(help: ArgumentHelp("The price of one unit, as wpwctl prints money: '5.00 GBP'.", valueName: "money")) var price: String?
    @Option(name: .customLong("price-id"), help: ArgumentHelp("The price id.", valueName: "id")) var priceId: Int = 1
    @Option(name: .customLong("price-description"), help: ArgumentHelp("The price description (default: the unit).", valueName: "text"))
    var priceDescription: String?
    @Option(help: ArgumentHelp("What one unit is.", valueName: "text")) var unit: String = "unit"
    @Option(name: .customLong("unit-id"), help: ArgumentHelp("The unit id.", valueName: "id")) var unitId: Int = 1
    @Option(help: ArgumentHelp("Units in stock (default: unlimited).", valueName: "n")) var stock: Int?

    func validate() throws {
        if service != nil {
            guard id == nil, name == nil, price == nil else {
                throw ValidationError("give the service as JSON or with --id, --name and --price, not both")
            }
            if service != "-" { _ = try serviceObject(readStdin: { "" }) }
        } else {
            _ = try serviceObject(readStdin: { "" })
        }
    }

    /// The `service` param: the JSON argument (or stdin), or the one built from the options.
    private func serviceObject(readStdin: () -> String) throws -> JSONValue {
        if let service {
            do {
                let text = service == "-" ? readStdin() : service
                guard let object = try Output.parseParams(text) else { throw ValidationError("the service must be a JSON object") }
                return .object(object)
            } catch let error as Output.ParamsError {
                throw ValidationError("the service: \(error.message)")
            }
        }
        guard let id, let name, let price else { throw ValidationError("give --id, --name and --price (or the service as JSON)") }
        guard let money = Output.parseMoney(price) else {
            throw ValidationError("--price must be an amount and a known ISO 4217 currency, as in '5.00 GBP' (got '\(price)')")
        }
        return [
            "id": .int(Int64(id)), "name": .string(name), "description": .string(serviceDescription ?? name),
            "serviceType": .string(serviceType ?? name.lowercased()),
            "prices": [[
                "id": .int(Int64(priceId)), "description": .string(priceDescription ?? unit),
                "amount": .int(money.minorUnits), "currencyCode": .string(money.currencyCode),
                "unitId": .int(Int64(unitId)), "unitDescription": .string(unit), "stock": stock.map { .int(Int64($0)) } ?? .null,
            ]],
        ]
    }

    func run() async throws {
        let service = try serviceObject(readStdin: Console.readAll)
        try await withDaemon(global) { session in
            session.print(try await session.call("addService", ["service": service])) {
                Output.columns(Output.catalogRows([$0]), Output.catalogColumns)
            }
        }
    }
}

struct CatalogRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a service from the catalog (removeService)."
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The service id.", valueName: "service")) var service: Int

    func run() async throws {
        try await withDaemon(global) { session in
            session.print(try await session.call("removeService", ["serviceId": .int(Int64(service))])) { Output.readable($0) }
        }
    }
}

struct BroadcastCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broadcast",
        abstract: "Start or stop this producer's discovery broadcast (startServiceBroadcast, stopServiceBroadcast)."
    )

    enum Action: String, ExpressibleByArgument, CaseIterable {
        case start, stop
    }

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("start or stop.", valueName: "action")) var action: Action
    @Option(name: .customLong("for"), help: ArgumentHelp("With start: stop by itself after this many seconds (default: until stopped).", valueName: "seconds"))
    var duration: Double?

    func validate() throws {
        if let duration, !(duration > 0 && duration <= 600) { throw ValidationError("--for must be above 0 and at most 600 seconds") }
        if duration != nil, action == .stop { throw ValidationError("--for goes with start") }
    }

    func run() async throws {
        try await withDaemon(global) { session in
            let result = switch action {
            case .start: try await session.call("startServiceBroadcast", ["timeoutMs": .int(Int64(((duration ?? 0) * 1000).rounded()))])
            case .stop: try await session.call("stopServiceBroadcast")
            }
            session.print(result) { Output.readable($0) }
        }
    }
}

extension Output {
    /// A catalog (services with their prices) as table rows: one per price (a service without prices: one row).
    static func catalogRows(_ services: [JSONValue]) -> [[String: JSONValue]] {
        services.compactMap(\.objectValue).flatMap { service -> [[String: JSONValue]] in
            let head: [String: JSONValue] = [
                "serviceId": service["id"] ?? .null, "name": service["name"] ?? .null, "serviceType": service["serviceType"] ?? .null,
            ]
            let prices = objects(service["prices"])
            guard !prices.isEmpty else { return [head] }
            return prices.map { price in
                var row = head
                row["priceId"] = price["id"]
                for key in ["description", "amount", "currencyCode", "unitId", "unitDescription"] { row[key] = price[key] }
                // JSON null stock: no limit.
                if let stock = price["stock"], !stock.isNull { row["stock"] = stock } else { row["stock"] = "unlimited" }
                return row
            }
        }
    }

    /// Money as wpwctl prints it (`5.00 GBP`, `5 GBP`) in minor units; nil for another form, an unknown
    /// currency, or more decimals than the currency has.
    static func parseMoney(_ text: String) -> (minorUnits: Int64, currencyCode: String)? {
        let parts = text.split(separator: " ")
        guard parts.count == 2, let currency = Currency(code: String(parts[1])) else { return nil }
        let number = parts[0].split(separator: ".", omittingEmptySubsequences: false)
        guard number.count <= 2, let major = Int64(number[0]), major >= 0 else { return nil }
        let fraction = number.count == 2 ? String(number[1]) : ""
        guard fraction.count <= currency.exponent, fraction.allSatisfy(\.isASCII), fraction.allSatisfy(\.isNumber) else { return nil }
        var scale: Int64 = 1
        for _ in 0..<currency.exponent { scale *= 10 }
        let padded = fraction + String(repeating: "0", count: currency.exponent - fraction.count)
        let (scaled, overflow) = major.multipliedReportingOverflow(by: scale)
        guard !overflow else { return nil }
        return (scaled + (Int64(padded) ?? 0), currency.code)
    }
}
