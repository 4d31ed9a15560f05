import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import WPWithinClient
import WPWithinCore

// The consumer's everyday commands: devices → services → prices → buy → deliver → purchases.

struct DevicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "Listen for producers (deviceDiscovery) and list the devices heard.",
        discussion: "While it listens, a progress line is shown on stderr when stderr is a terminal."
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("How long to listen, in seconds (0 … 600).", valueName: "seconds"))
    var listen: Double = 2

    func validate() throws {
        guard listen >= 0, listen <= 600 else { throw ValidationError("--listen must be from 0 to 600 seconds") }
    }

    func run() async throws {
        try await withDaemon(global) { session in
            let params: [String: JSONValue] = ["timeoutMs": .int(Int64((listen * 1000).rounded()))]
            let devices = try await Progress.shown("Listening for devices", seconds: listen) {
                try await session.call("deviceDiscovery", params, longer: listen)
            }
            session.print(devices) { Output.columns(Output.objects($0), Output.deviceColumns, empty: "no devices heard") }
        }
    }
}

struct ServicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "services",
        abstract: "List the services a producer offers (requestServices)."
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: ProducerArgument.help) var device: String

    func run() async throws {
        try await ProducerArgument.list(global, device, "requestServices", [:], member: "services", Output.serviceColumns)
    }
}

struct PricesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prices",
        abstract: "List the prices of one of a producer's services (getServicePrices)."
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: ProducerArgument.help) var device: String
    @Argument(help: ArgumentHelp("The service id (see 'wpwctl services').", valueName: "service")) var service: Int

    func run() async throws {
        try await ProducerArgument.list(global, device, "getServicePrices", ["serviceId": .int(Int64(service))], member: "prices", Output.priceColumns)
    }
}

struct BuyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "buy",
        abstract: "Buy units of a service: a quote (selectService), confirmed on the terminal, then paid (makePayment).",
        discussion: """
            Shows the total and asks before paying, unless --yes is given. When stdin is not a terminal and
            --yes is not given, buy refuses (exit 2) before anything is asked of the producer. Declining at
            the prompt pays nothing (exit 5). Prints the purchase; its purchaseId is what 'wpwctl deliver' takes.
            """
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: ProducerArgument.help) var device: String
    @Argument(help: ArgumentHelp("The service id (see 'wpwctl services').", valueName: "service")) var service: Int
    @Argument(help: ArgumentHelp("The price id (see 'wpwctl prices'); may be left out when the service has one price.", valueName: "price"))
    var price: Int?

    @Option(help: ArgumentHelp("How many units to buy.", valueName: "n")) var units: Int = 1
    @Flag(name: [.short, .long], help: "Pay without asking for confirmation.") var yes = false

    func validate() throws {
        guard units >= 1 else { throw ValidationError("--units must be 1 or more") }
        if !yes && !Console.stdinIsTerminal {
            throw ValidationError("buy asks for confirmation on the terminal, but stdin is not a terminal: add --yes to pay without asking")
        }
    }

    func run() async throws {
        try await withDaemon(global) { session in
            let producer = try await ProducerArgument.resolve(device, session)
            var params = producer.params
            params["serviceId"] = .int(Int64(service))
            let prices = Output.objects(try await session.call("getServicePrices", params)["prices"])
            let chosen = try choosePrice(prices)
            params["priceId"] = chosen["priceId"] ?? .null
            params["numberOfUnits"] = .int(Int64(units))
            let quote = try await session.call("selectService", params)
            guard let reference = quote["paymentReferenceId"]?.stringValue else {
                throw WPWithinClientError(.invalidResponse, socketPath: session.socketPath, "selectService answered without a paymentReferenceId")
            }
            if !yes {
                let total = Output.money(minorUnits: quote["totalPrice"]?.int64Value ?? 0, currencyCode: quote["currencyCode"]?.stringValue ?? "")
                let what = [chosen["unitDescription"]?.stringValue, chosen["description"]?.stringValue.map { "(\($0))" }]
                    .compactMap { $0 }.joined(separator: " ")
                let count = quote["unitsToSupply"]?.int64Value ?? Int64(units)
                Console.status("Pay \(total) for \(count) × \(what.isEmpty ? "unit" : what) from \(device)? [y/N] ")
                let answer = readLine()?.filter { !$0.isWhitespace }.lowercased()
                guard answer == "y" || answer == "yes" else {
                    Console.error("wpwctl: not paid; the quote \(reference) expires unused")
                    throw ExitCode(ExitStatus.declined)
                }
            }
            let purchase = try await session.call("makePayment", ["paymentReferenceId": .string(reference)])
            session.print(purchase) { Output.readable($0, order: Output.purchaseColumns) }
        }
    }

    /// The price `price` names, or the only one; a usage error when the service has several and none is named.
    private func choosePrice(_ prices: [[String: JSONValue]]) throws -> [String: JSONValue] {
        if let price {
            return prices.first { $0["priceId"]?.int64Value == Int64(price) } ?? ["priceId": .int(Int64(price))]
        }
        guard prices.count == 1 else {
            let listed = prices.isEmpty ? "it has none" : "it has " + prices.compactMap { $0["priceId"].map(Output.cell) }.joined(separator: ", ")
            throw ValidationError("name the price to buy (see 'wpwctl prices \(device) \(service)'): \(listed)")
        }
        return prices[0]
    }
}

struct DeliverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deliver",
        abstract: "Take delivery of units of a purchase: beginServiceDelivery, then endServiceDelivery.",
        discussion: """
            Asks the producer to supply --units units (it grants at most what remains), then reports the units
            received: --received, else all the units granted. Prints the purchase after the delivery.
            """
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The purchase id (see 'wpwctl purchases').", valueName: "purchase")) var purchase: Int64
    @Option(help: ArgumentHelp("How many units to ask for.", valueName: "n")) var units: Int = 1
    @Option(help: ArgumentHelp("How many units were received (default: all the units the producer granted).", valueName: "n"))
    var received: Int?

    func validate() throws {
        guard units >= 1 else { throw ValidationError("--units must be 1 or more") }
        if let received, received < 0 { throw ValidationError("--received must be 0 or more") }
    }

    func run() async throws {
        try await withDaemon(global) { session in
            let begun = try await session.call("beginServiceDelivery", ["purchaseId": .int(purchase), "units": .int(Int64(units))])
            let granted = begun["unitsToSupply"]?.int64Value ?? Int64(units)
            let ended = try await session.call(
                "endServiceDelivery", ["purchaseId": .int(purchase), "unitsReceived": .int(received.map(Int64.init) ?? granted)])
            session.print(ended) { Output.readable($0, order: Output.deliveryOrder) }
        }
    }
}

struct PurchasesCommand: PlainCallCommand {
    static let configuration = CommandConfiguration(
        commandName: "purchases",
        abstract: "List this consumer's purchases (listPurchases): units bought, delivered, remaining, expiry."
    )
    static let method = "listPurchases"
    static func readable(_ result: JSONValue) -> String {
        Output.columns(Output.objects(result), Output.purchaseColumns, empty: "no purchases")
    }

    @OptionGroup var global: GlobalOptions
}

struct RefundCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refund",
        abstract: "Ask the producer to refund a purchase's undelivered units now (requestRefund).",
        discussion: """
            The units neither delivered nor in flight are refunded at their unit price, once, when the
            producer's price allows it (refundOnExpiry); asking again shows the same refund. Prints the purchase
            with refundStatus, unitsRefunded and amountRefunded. A producer that does not refund answers
            -32060 (refundNotOffered); nothing left to refund is -32061 (nothingToRefund).
            """
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The purchase id (see 'wpwctl purchases').", valueName: "purchase")) var purchase: Int64

    func run() async throws {
        try await withDaemon(global) { session in
            let refunded = try await session.call("requestRefund", ["purchaseId": .int(purchase)])
            session.print(refunded) { Output.readable($0, order: Output.refundOrder) }
        }
    }
}

/// The DEVICE argument: a producer's serverId, its HTE URL, or its device name.
enum ProducerArgument {
    static let help = ArgumentHelp(
        "The producer: its serverId (see 'wpwctl devices'), its URL (http://host:port), or its device name.",
        valueName: "device")

    /// How long a device name is searched for (searchForDevice; at once when heard recently).
    static let searchSeconds = 5.0

    /// Calls a consumer `method` about the producer `device` and prints the list in the result's `member`.
    static func list(
        _ global: GlobalOptions, _ device: String, _ method: String, _ params: [String: JSONValue], member: String, _ columns: [String]
    ) async throws {
        try await withDaemon(global) { session in
            let producer = try await resolve(device, session)
            let result = try await session.call(method, producer.params.merging(params) { $1 })
            session.print(result) { Output.columns(Output.objects($0[member]), columns, empty: "no \(member)") }
        }
    }

    static func resolve(_ text: String, _ session: Session) async throws -> WPWithinClient.Producer {
        if text.hasPrefix("http://") || text.hasPrefix("https://") { return .url(text) }
        if UUID(uuidString: text) != nil { return .serverId(text.lowercased()) }
        let found = try await session.call(
            "searchForDevice", ["name": .string(text), "timeoutMs": .int(Int64(searchSeconds * 1000))], longer: searchSeconds)
        guard let serverId = found["serverId"]?.stringValue else {
            throw WPWithinClientError(.invalidResponse, socketPath: session.socketPath, "searchForDevice answered without a serverId")
        }
        return .serverId(serverId)
    }
}

/// A live progress line on stderr while a long call runs, only when stderr is a terminal.
enum Progress {
    static func shown<T: Sendable>(_ label: String, seconds: Double, _ body: () async throws -> T) async throws -> T {
        guard Console.stderrIsTerminal else { return try await body() }
        let ticker = Task {
            let start = ContinuousClock.now
            while !Task.isCancelled {
                let elapsed = min(seconds, (ContinuousClock.now - start) / .seconds(1))
                Console.status("\r\u{1B}[K\(label)… \(tenths(elapsed)) of \(tenths(seconds)) s")
                try? await Task.sleep(for: .milliseconds(100))
            }
            Console.status("\r\u{1B}[K")
        }
        defer { ticker.cancel() }
        do {
            let result = try await body()
            ticker.cancel()
            await ticker.value
            return result
        } catch {
            ticker.cancel()
            await ticker.value
            throw error
        }
    }

    /// `1.5`: seconds to a tenth.
    static func tenths(_ seconds: Double) -> String {
        let tenths = Int((seconds * 10).rounded(.down))
        return "\(tenths / 10).\(tenths % 10)"
    }
}
