import ArgumentParser
import Foundation
import Testing
import WPWithinClient
import WPWithinCore
import WPWithinTestSupport
@testable import wpwctl

#if canImport(Glibc)
import Glibc
#endif

/// wpwctl's formatting and argument handling, without a daemon.
@Suite struct WPWCtlFormattingTests {
    @Test func moneyIsMajorUnitsAndTheCode() {
        #expect(Output.money(minorUnits: 1250, currencyCode: "GBP") == "12.50 GBP")
        #expect(Output.money(minorUnits: 5, currencyCode: "GBP") == "0.05 GBP")
        #expect(Output.money(minorUnits: 500, currencyCode: "JPY") == "500 JPY")
        #expect(Output.money(minorUnits: 1250, currencyCode: "BHD") == "1.250 BHD")
        #expect(Output.money(minorUnits: 1250, currencyCode: "XYZ") == "12.50 XYZ")
        #expect(Output.moneyFields(["totalPaid": 1500, "currencyCode": "GBP", "unitsBought": 3])
            == ["totalPaid": "15.00 GBP", "unitsBought": 3])
        #expect(Output.moneyFields(["amount": 1]) == ["amount": 1])
    }

    @Test func moneyIsReadAsItIsPrinted() {
        #expect(Output.parseMoney("12.50 GBP")! == (1250, "GBP"))
        #expect(Output.parseMoney("12.5 GBP")! == (1250, "GBP"))
        #expect(Output.parseMoney("5 GBP")! == (500, "GBP"))
        #expect(Output.parseMoney("500 JPY")! == (500, "JPY"))
        #expect(Output.parseMoney("1.001 GBP") == nil)
        #expect(Output.parseMoney("5.00 XYZ") == nil)
        #expect(Output.parseMoney("5.00") == nil)
        #expect(Output.parseMoney("-5 GBP") == nil)
    }

    @Test func columnTablesHaveAHeaderAndAlignNumbersRight() {
        let rows: [[String: JSONValue]] = [
            ["purchaseId": 1, "totalPaid": 1500, "currencyCode": "GBP", "unsettled": nil],
            ["purchaseId": 12, "totalPaid": 50, "currencyCode": "GBP", "unsettled": "begin"],
        ]
        #expect(Output.columns(rows, ["purchaseId", "totalPaid", "unsettled"]) == """
            purchaseId  totalPaid  unsettled
                     1  15.00 GBP  -
                    12   0.50 GBP  begin
            """)
        #expect(Output.columns([], ["a"], empty: "no purchases") == "no purchases")
        // A list of objects from `call` is a column table too, with every key.
        #expect(Output.readable([["b": 1, "a": "x"]]) == "a  b\nx  1")
    }

    @Test func spendingShowsThePolicyAndWhatEachBudgetHasLeft() {
        let budget: JSONValue = [
            "currencyCode": "GBP", "window": "day", "windowSeconds": 86_400, "limit": 5000, "spent": 1500, "purchased": 1000,
            "pending": 500, "remaining": 3500,
        ]
        #expect(Output.budgetSummary([budget]) == "GBP day: 35.00 GBP of 50.00 GBP left (5.00 GBP pending)")
        #expect(Output.budgetSummary([]) == "no budgets")
        let text = SpendingCommand.readable([
            "policy": [
                "maxTotal": [["currencyCode": "GBP", "amount": 2000]], "maxUnitPrice": [], "maxUnits": 10, "dailyBudget": [],
                "monthlyBudget": [], "allowProducers": nil, "denyProducers": [], "allowServiceTypes": nil, "denyServiceTypes": [],
                "allowCurrencies": ["GBP"],
            ],
            "budgets": [budget],
        ])
        #expect(text.hasPrefix("maxTotal           20.00 GBP\nmaxUnitPrice       -\nmaxUnits           10\n"), "\(text)")
        #expect(text.contains("GBP           day     50.00 GBP  15.00 GBP  10.00 GBP  5.00 GBP  35.00 GBP"), "\(text)")
        let status = StatusCommand.readable(["ready": true, "health": ["ok": true], "consumer": ["budgets": [budget]]])
        #expect(status.contains("spending  GBP day: 35.00 GBP of 50.00 GBP left (5.00 GBP pending)"), "\(status)")
    }

    @Test func callParamsAreKeyValueJSONOrStdin() throws {
        let stdin = { #"{"fromStdin":true}"# }
        #expect(try Output.callParams([], readStdin: stdin) == nil)
        #expect(try Output.callParams(["-"], readStdin: stdin) == ["fromStdin": true])
        #expect(try Output.callParams([#"{"a":1}"#], readStdin: stdin) == ["a": 1])
        #expect(try Output.callParams(
            ["n=1", "s=hello", "b=true", "z=null", #"o={"a":[1]}"#, #"q="7""#, "e=", "t=two words", "x=a=b"], readStdin: stdin)
            == ["n": 1, "s": "hello", "b": true, "z": nil, "o": ["a": [1]], "q": "7", "e": "", "t": "two words", "x": "a=b"])
        #expect(throws: Output.ParamsError.self) { try Output.callParams(["a=1", "b"], readStdin: stdin) }
        #expect(throws: Output.ParamsError.self) { try Output.callParams(["=1"], readStdin: stdin) }
        #expect(throws: Output.ParamsError.self) { try Output.callParams(["a=1", "a=2"], readStdin: stdin) }
        #expect(throws: Output.ParamsError.self) { try Output.callParams([#"{"a":1}"#, "b=2"], readStdin: stdin) }
    }

    @Test func helpOfAMethodAndWaitWithAValueAreRewritten() {
        #expect(WPWCtl.normalized(["help", "selectService"]) == ["methods", "selectService"])
        #expect(WPWCtl.normalized(["--socket", "/x", "help", "getStatus", "--json"]) == ["--socket", "/x", "methods", "getStatus", "--json"])
        #expect(WPWCtl.normalized(["help", "status"]) == ["help", "status"])
        #expect(WPWCtl.normalized(["help", "catalog", "add"]) == ["help", "catalog", "add"])
        #expect(WPWCtl.normalized(["help"]) == ["help"])
        #expect(WPWCtl.normalized(["call", "help", "x"]) == ["call", "help", "x"])
        #expect(WPWCtl.normalized(["--wait=2.5", "status"]) == ["--wait", "--wait-seconds", "2.5", "status"])
        #expect(WPWCtl.normalized(["call", "m", "--", "--wait=1"]) == ["call", "m", "--", "--wait=1"])
    }

    @Test func globalOptions() throws {
        let status = try #require(try WPWCtl.parseAsRoot(["--wait", "--timeout", "3", "status"]) as? StatusCommand)
        #expect(status.global.waitLimit == GlobalOptions.defaultWaitSeconds)
        #expect(status.global.timeout == 3)
        let waited = try #require(try WPWCtl.parseAsRoot(WPWCtl.normalized(["status", "--wait=7"])) as? StatusCommand)
        #expect(waited.global.waitLimit == 7)
        let events = try #require(try WPWCtl.parseAsRoot(["events", "--since", "9", "--no-follow"]) as? EventsCommand)
        #expect(events.resumeFrom == 9 && !events.follow)
        #expect(throws: (any Error).self) { try WPWCtl.parseAsRoot(["--timeout", "0", "status"]) }
    }

    @Test func suggestions() {
        #expect(MethodHelp.suggestions(for: "statu", among: ["getStatus", "status", "listPurchases"]) == ["getStatus", "status"])
        #expect(MethodHelp.suggestions(for: "selectServce", among: ["selectService", "getDevice"]) == ["selectService"])
        #expect(MethodHelp.suggestions(for: "nosuch", among: ["getStatus", "listPurchases"]).isEmpty)
    }
}

/// A 127.0.0.1 UDP port that is free now (for a test's discovery traffic).
func freeLoopbackUDPPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { throw TestSupportError("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw TestSupportError("bind() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// What a program wrote, run with stdin and stderr on a pseudo-terminal (as in an interactive shell) and
/// stdout in a file: `terminal` is everything that came out on the terminal (prompts, progress, the echo of
/// `input`, which is typed in at the start).
struct TerminalOutput: Sendable {
    var status: Int32
    var stdout: String
    var terminal: String
}

func runOnTerminal(_ path: String, _ arguments: [String], input: String) async throws -> TerminalOutput {
    // posix_openpt, unlockpt and ptsname as Linux does them (Glibc's module leaves those out).
    let master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
    // TIOCSPTLCK and TIOCGPTN (asm-generic/ioctls.h), which Swift does not import (they are function-like macros).
    let setLock: UInt = 0x4004_5431, getNumber: UInt = 0x8004_5430
    var unlock: CInt = 0, number: CInt = 0
    guard master >= 0, ioctl(master, setLock, &unlock) == 0, ioctl(master, getNumber, &number) == 0 else {
        throw TestSupportError("no pseudo-terminal")
    }
    let slave = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY)
    guard slave >= 0 else {
        close(master)
        throw TestSupportError("cannot open the pseudo-terminal's slave")
    }
    let directory = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let outPath = directory + "/stdout"
    guard FileManager.default.createFile(atPath: outPath, contents: nil) else { throw POSIXError(.EIO) }
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    let process = childProcess(path, arguments)
    process.standardInput = FileHandle(fileDescriptor: slave, closeOnDealloc: false)
    process.standardError = FileHandle(fileDescriptor: slave, closeOnDealloc: false)
    process.standardOutput = out
    // Everything the terminal shows, read on a thread of its own until the last slave descriptor closes (EIO).
    let terminal = Task.detached { () -> String in
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(master, &buffer, buffer.count)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += buffer[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
    _ = input.withCString { write(master, $0, strlen($0)) }
    // The child has its own copies of the slave: once they are gone, reading the master ends.
    let status = try await runToExit(process) { close(slave) }
    let shown = await terminal.value
    close(master)
    try out.close()
    return TerminalOutput(status: status, stdout: try String(contentsOfFile: outPath, encoding: .utf8), terminal: shown)
}

/// A sandbox gateway with a producer (device name `carwash`, empty catalog) and a consumer daemon trading
/// through it on loopback: HTE on 127.0.0.1, broadcasts to 127.255.255.255 from 127.0.0.1.
final class CtlMarket: Sendable {
    let directory: String
    let sandbox: SandboxGatewayProcess
    let producer: RealDaemon
    let consumer: RealDaemon

    private init(directory: String, sandbox: SandboxGatewayProcess, producer: RealDaemon, consumer: RealDaemon) {
        self.directory = directory
        self.sandbox = sandbox
        self.producer = producer
        self.consumer = consumer
    }

    static func start() async throws -> CtlMarket {
        let directory = try makeTemporaryDirectory()
        let sandbox = try await SandboxGatewayProcess.launch(directory: directory, control: false)
        let merchant = SandboxGatewayProcess.Merchant.example
        let merchantFile = directory + "/merchant.json", cardFile = directory + "/card.json"
        try Data(#"{"clientKey":"\#(merchant.clientKey)","serviceKey":"\#(merchant.serviceKey)"}"#.utf8)
            .write(to: URL(fileURLWithPath: merchantFile))
        try Data(#"{"name":"Joe Bloggs","expMonth":12,"expYear":2099,"cardNumber":"4444333322221111","type":"Card","cvc":"123"}"#.utf8)
            .write(to: URL(fileURLWithPath: cardFile))
        chmod(merchantFile, 0o600)
        chmod(cardFile, 0o600)
        let common = [
            "WPWITHIND_GATEWAY_ENDPOINT": sandbox.endpoint,
            "WPWITHIND_BROADCAST_ADDRESS": "127.255.255.255", "WPWITHIND_BROADCAST_SOURCE": "127.0.0.1",
            "WPWITHIND_SCAN_BIND_ADDRESS": "127.255.255.255", "WPWITHIND_ADVERTISED_HOST": "127.0.0.1",
            "WPWITHIND_DISCOVERY_PORT": String(try freeLoopbackUDPPort()),
        ]
        let producer = try await RealDaemon.start(environment: common.merging([
            "WPWITHIND_ROLES": "producer", "WPWITHIND_DEVICE_NAME": "carwash", "WPWITHIND_MERCHANT_FILE": merchantFile,
        ]) { $1 })
        let consumer: RealDaemon
        do {
            consumer = try await RealDaemon.start(environment: common.merging([
                "WPWITHIND_ROLES": "consumer", "WPWITHIND_DEVICE_NAME": "car", "WPWITHIND_CARD_FILE": cardFile,
            ]) { $1 })
        } catch {
            await producer.stop()
            await sandbox.stop()
            throw error
        }
        return CtlMarket(directory: directory, sandbox: sandbox, producer: producer, consumer: consumer)
    }

    func stop() async {
        await consumer.stop()
        await producer.stop()
        await sandbox.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Runs `body` with a fresh market, always stopping it.
func withCtlMarket(_ body: (CtlMarket) async throws -> Void) async throws {
    let market = try await CtlMarket.start()
    do {
        try await body(market)
    } catch {
        await market.stop()
        throw error
    }
    await market.stop()
}

/// The value of `key` in a key/value table (`key  value` lines).
func tableValue(_ output: String, _ key: String) -> String? {
    for line in output.split(separator: "\n") {
        let words = line.split(separator: " ", maxSplits: 1)
        if words.first.map(String.init) == key { return words.count > 1 ? words[1].trimmingCharacters(in: .whitespaces) : "" }
    }
    return nil
}

/// The real wpwctl against real daemons: every everyday subcommand, and a whole purchase with wpwctl only.
@Suite(.timeLimit(.minutes(3)))
struct WPWCtlCommandTests {
    let wpwctl: String

    init() throws {
        wpwctl = try builtExecutable("wpwctl")
    }

    /// Runs wpwctl against `daemon`'s socket.
    func ctl(_ daemon: RealDaemon, _ arguments: [String], stdin: String? = nil) async throws -> ProcessOutput {
        try await runProcess(wpwctl, ["--socket", daemon.socketPath] + arguments, stdin: stdin)
    }

    /// The producer sells RoboWash (5.00 GBP a wash) and broadcasts; returns its serverId once the consumer
    /// has heard it (`devices` asked again until it has, within a generous bound).
    func sellAndBeHeard(_ market: CtlMarket) async throws -> String {
        let producer = market.producer, consumer = market.consumer
        let added = try await ctl(producer, [
            "catalog", "add", "--id", "1", "--name", "RoboWash", "--description", "Car washed by robot",
            "--service-type", "carwash", "--price", "5.00 GBP", "--price-description", "Car wash", "--unit", "Single wash",
        ])
        #expect(added.status == 0, "\(added.stderr)")
        let broadcast = try await ctl(producer, ["broadcast", "start"])
        #expect(broadcast.status == 0 && broadcast.stdout == "broadcasting  true\n", "\(broadcast.stderr)")
        let serverId = try #require(tableValue(try await ctl(producer, ["device"]).stdout, "serverId"))
        let deadline = ContinuousClock.now + .seconds(60)
        while !(try await ctl(consumer, ["devices", "--listen", "1"]).stdout.contains(serverId)) {
            guard ContinuousClock.now < deadline else { throw TestSupportError("the consumer never heard the producer") }
        }
        return serverId
    }

    @Test func buyAsksOnTheTerminalAndShowsProgress() async throws {
        try await withCtlMarket { market in
            let serverId = try await sellAndBeHeard(market)
            let socket = ["--socket", market.consumer.socketPath]
            let declined = try await runOnTerminal(wpwctl, socket + ["buy", serverId, "1", "--units", "3"], input: "n\n")
            #expect(declined.status == 5, "\(declined.terminal)")
            #expect(declined.terminal.contains("Pay 15.00 GBP for 3 × Single wash (Car wash) from \(serverId)? [y/N] "), "\(declined.terminal)")
            #expect(declined.terminal.contains("wpwctl: not paid; the quote "), "\(declined.terminal)")
            #expect(declined.stdout.isEmpty)
            #expect(try await ctl(market.consumer, ["purchases"]).stdout == "no purchases\n")

            let paid = try await runOnTerminal(wpwctl, socket + ["buy", serverId, "1", "--units", "3"], input: "y\n")
            #expect(paid.status == 0, "\(paid.terminal)")
            #expect(tableValue(paid.stdout, "totalPaid") == "15.00 GBP", "\(paid.stdout)")
            #expect(market.sandbox.audit.charges.count == 1)

            // devices: a progress line on the terminal (stderr), erased at the end; the table on stdout.
            let devices = try await runOnTerminal(wpwctl, socket + ["devices", "--listen", "0.5"], input: "")
            #expect(devices.status == 0)
            #expect(devices.terminal.contains("Listening for devices… ") && devices.terminal.hasSuffix("\r\u{1B}[K"), "\(devices.terminal)")
            #expect(devices.stdout.contains(serverId))
        }
    }

    @Test func aWholePurchaseWithWpwctlOnly() async throws {
        try await withCtlMarket { market in
            let producer = market.producer, consumer = market.consumer
            // The producer's catalog and broadcast.
            let empty = try await ctl(producer, ["catalog"])
            #expect(empty.status == 0 && empty.stdout == "no services\n", "\(empty.stdout)\(empty.stderr)")
            let added = try await ctl(producer, [
                "catalog", "add", "--id", "1", "--name", "RoboWash", "--description", "Car washed by robot",
                "--service-type", "carwash", "--price", "5.00 GBP", "--price-description", "Car wash", "--unit", "Single wash",
            ])
            #expect(added.status == 0, "\(added.stderr)")
            #expect(added.stdoutLines == [
                "serviceId  name      serviceType  priceId  description    amount  unitId  unitDescription  stock",
                "        1  RoboWash  carwash            1  Car wash     5.00 GBP       1  Single wash      unlimited",
            ])
            let listed = try await ctl(producer, ["catalog", "list"])
            #expect(listed.stdout == added.stdout)
            let again = try await ctl(producer, ["catalog", "add", #"{"id":1,"name":"x","prices":[]}"#])
            #expect(again.status == 1 && again.stderr.contains("-32016"), "\(again.stderr)")
            let broadcast = try await ctl(producer, ["broadcast", "start"])
            #expect(broadcast.status == 0 && broadcast.stdout == "broadcasting  true\n", "\(broadcast.stderr)")
            let serverId = try #require(tableValue(try await ctl(producer, ["device"]).stdout, "serverId"))

            // buy without --yes, stdin not a terminal: refused before anything is asked of anyone.
            let refused = try await ctl(consumer, ["buy", "carwash", "1", "--units", "3"])
            #expect(refused.status == 2, "\(refused.stdout)\(refused.stderr)")
            #expect(refused.stderr.contains("--yes") && refused.stderr.contains("Usage:"), "\(refused.stderr)")
            #expect(try await ctl(consumer, ["purchases"]).stdout == "no purchases\n")
            #expect(try await ctl(consumer, ["--json", "purchases"]).stdout == "[]\n")
            #expect(try await ctl(producer, ["events", "--no-follow", "--type", "producer.quoteCreated"]).stdout.isEmpty)

            // devices: the broadcast is heard (asked again until it is, within a generous bound).
            var devices = try await ctl(consumer, ["devices", "--listen", "1"])
            let deadline = ContinuousClock.now + .seconds(60)
            while devices.status == 0, !devices.stdout.contains(serverId), ContinuousClock.now < deadline {
                devices = try await ctl(consumer, ["devices", "--listen", "1"])
            }
            #expect(devices.status == 0, "\(devices.stderr)")
            #expect(devices.stdoutLines.first?.hasPrefix("serverId                              deviceName  url") == true, "\(devices.stdout)")
            let device = try #require(devices.stdoutLines.first { $0.hasPrefix(serverId) }, "\(devices.stdout)")
            #expect(device.contains("  carwash  ") && device.contains("http://127.0.0.1:"))
            #expect(devices.stderr.isEmpty, "no progress line when stderr is no terminal: \(devices.stderr)")

            // services (by device name and by serverId) and prices.
            let services = try await ctl(consumer, ["services", "carwash"])
            #expect(services.status == 0, "\(services.stderr)")
            #expect(services.stdoutLines == [
                "serviceId  name      serviceType  description",
                "        1  RoboWash  carwash      Car washed by robot",
            ])
            #expect(try await ctl(consumer, ["services", serverId]).stdout == services.stdout)
            let prices = try await ctl(consumer, ["prices", serverId, "1"])
            #expect(prices.stdoutLines == [
                "priceId  description    amount  unitId  unitDescription",
                "      1  Car wash     5.00 GBP       1  Single wash",
            ], "\(prices.stdout)\(prices.stderr)")
            let noService = try await ctl(consumer, ["prices", serverId, "9"])
            #expect(noService.status == 1 && noService.stderr.contains("-32010"), "\(noService.stderr)")

            // buy --yes: one purchase of 3 units for 15.00 GBP.
            let bought = try await ctl(consumer, ["buy", serverId, "1", "--units", "3", "--yes"])
            #expect(bought.status == 0, "\(bought.stderr)")
            #expect(tableValue(bought.stdout, "totalPaid") == "15.00 GBP", "\(bought.stdout)")
            #expect(tableValue(bought.stdout, "unitsBought") == "3")
            #expect(tableValue(bought.stdout, "unitsRemaining") == "3")
            let purchaseId = try #require(tableValue(bought.stdout, "purchaseId"))

            // deliver 2, then the last one, then one too many (an RPC error: exit 1).
            let delivered = try await ctl(consumer, ["deliver", purchaseId, "--units", "2"])
            #expect(delivered.status == 0, "\(delivered.stderr)")
            #expect(tableValue(delivered.stdout, "unitsJustSupplied") == "2", "\(delivered.stdout)")
            #expect(tableValue(delivered.stdout, "unitsRemaining") == "1")
            let last = try await ctl(consumer, ["deliver", purchaseId])
            #expect(tableValue(last.stdout, "unitsDelivered") == "3" && tableValue(last.stdout, "unitsRemaining") == "0", "\(last.stdout)")
            let tooMany = try await ctl(consumer, ["deliver", purchaseId])
            #expect(tooMany.status == 1 && tooMany.stderr.contains("-32013"), "\(tooMany.stderr)")

            // purchases: the table and the JSON.
            let purchases = try await ctl(consumer, ["purchases"])
            #expect(purchases.stdoutLines.count == 2, "\(purchases.stdout)")
            #expect(purchases.stdoutLines.first?.hasPrefix(
                "purchaseId  serviceId  priceId  totalPaid  unitsBought  unitsDelivered  unitsInFlight  unitsRemaining  unitsRefunded  unsettled  expiry") == true)
            let row = purchases.stdoutLines.last?.split(separator: " ", omittingEmptySubsequences: true).map(String.init) ?? []
            #expect(Array(row.prefix(11)) == [purchaseId, "1", "1", "15.00", "GBP", "3", "3", "0", "0", "0", "-"], "\(purchases.stdout)")
            // refund: this producer's price does not refund (an RPC error: exit 1, the code on stderr).
            let refund = try await ctl(consumer, ["refund", purchaseId])
            #expect(refund.status == 1 && refund.stderr.contains("-32060"), "\(refund.stdout)\(refund.stderr)")
            let json = try await ctl(consumer, ["purchases", "--json"])
            let records = try JSONValue.parse(json.stdout.trimmingCharacters(in: .newlines)).arrayValue ?? []
            #expect(records.count == 1 && records.first?["totalPaid"] == 1500 && records.first?["unitsDelivered"] == 3)
            #expect(market.sandbox.audit.charges.count == 1, "exactly one charge at the gateway")

            // events --no-follow: what is kept, then exit 0; --since leaves out what came before.
            let all = try await ctl(consumer, ["events", "--no-follow"])
            #expect(all.status == 0, "\(all.stderr)")
            let recorded = try #require(all.stdoutLines.first { $0.contains("consumer.purchaseRecorded") }, "\(all.stdout)")
            #expect(recorded.contains(#"totalAmount="15.00 GBP""#), "\(recorded)")
            let recordedSeq = try #require(recorded.split(separator: " ").first.map(String.init))
            let later = try await ctl(consumer, ["events", "--no-follow", "--since", recordedSeq, "--json"])
            #expect(later.status == 0, "\(later.stderr)")
            let seqs = try later.stdoutLines.map { try JSONValue.parse($0)["seq"]?.int64Value ?? 0 }
            #expect(!seqs.isEmpty && seqs.allSatisfy { $0 > Int64(recordedSeq)! } && seqs == seqs.sorted(), "\(later.stdout)")
            #expect(later.stdoutLines.count == all.stdoutLines.count - all.stdoutLines.firstIndex(of: recorded)! - 1)
            let typed = try await ctl(consumer, ["events", "--no-follow", "--since", "0", "--type", "consumer.deliveryEnded"])
            #expect(typed.stdoutLines.count == 2 && typed.stdoutLines.allSatisfy { $0.contains("consumer.deliveryEnded") }, "\(typed.stdout)")

            // status: health in one line; metrics: the Prometheus text, agreeing with what was bought.
            let status = try await ctl(consumer, ["status"])
            #expect(status.status == 0 && tableValue(status.stdout, "health") == "ok", "\(status.stdout)")
            let producerStatus = try await ctl(producer, ["status"])
            #expect(tableValue(producerStatus.stdout, "health") == "ok", "\(producerStatus.stdout)")
            let metrics = try await ctl(consumer, ["metrics"])
            #expect(metrics.status == 0, "\(metrics.stderr)")
            #expect(metrics.stdoutLines.contains("# TYPE wpwithind_payments_total counter"), "\(metrics.stdout)")
            #expect(metrics.stdoutLines.contains(#"wpwithind_payments_total{role="consumer",outcome="succeeded"} 1"#))
            #expect(metrics.stdoutLines.contains(#"wpwithind_units_delivered_total{role="consumer"} 3"#))
        }
    }

    @Test func callTakesKeyValueWordsAJSONObjectOrStdin() async throws {
        try await withCtlMarket { market in
            let producer = market.producer
            let service = #"{"id":5,"name":"Vacuum","prices":[{"id":1,"description":"10 minutes","amount":150,"currencyCode":"GBP","unitId":1,"unitDescription":"10 minutes","stock":4}]}"#
            let added = try await ctl(producer, ["call", "addService", "service=" + service, "--json"])
            #expect(added.status == 0, "\(added.stderr)")
            #expect(try JSONValue.parse(added.stdout.trimmingCharacters(in: .newlines))["id"] == 5)
            let table = try await ctl(producer, ["call", "listServices"])
            #expect(table.stdoutLines.first?.hasPrefix("description  id  name    prices") == true, "\(table.stdout)")
            // A quoted value stays a string: the daemon says the param has the wrong type.
            let quoted = try await ctl(producer, ["call", "removeService", #"serviceId="5""#])
            #expect(quoted.status == 1 && quoted.stderr.contains("-32602"), "\(quoted.stderr)")
            let fromStdin = try await ctl(producer, ["call", "removeService", "-"], stdin: #"{"serviceId":5}"#)
            #expect(fromStdin.status == 0 && fromStdin.stdout == "removed  true\n", "\(fromStdin.stdout)\(fromStdin.stderr)")
            let removed = try await ctl(producer, ["catalog", "remove", "5"])
            #expect(removed.status == 1 && removed.stderr.contains("-32010"), "\(removed.stderr)")
            let keyValue = try await ctl(producer, ["call", "startServiceBroadcast", "timeoutMs=60000"])
            #expect(keyValue.stdout == "broadcasting  true\n", "\(keyValue.stderr)")
            let object = try await ctl(producer, ["call", "stopServiceBroadcast", "{}", "--json"])
            #expect(object.stdout == #"{"broadcasting":false}"# + "\n", "\(object.stderr)")
            let notKeyValue = try await ctl(producer, ["call", "removeService", "serviceId=1", "oops"])
            #expect(notKeyValue.status == 2 && notKeyValue.stderr.contains("'oops' is not key=value"), "\(notKeyValue.stderr)")
        }
    }

    @Test func helpDescribesAMethodFromTheDaemon() async throws {
        try await withRealDaemon { daemon, _ in
            let help = try await ctl(daemon, ["help", "selectService"])
            #expect(help.status == 0, "\(help.stderr)")
            #expect(help.stdoutLines.first == "selectService")
            #expect(help.stdout.contains("Asks the producer for a total"))
            #expect(help.stdout.contains("  numberOfUnits  integer 1…2147483647  yes"), "\(help.stdout)")
            #expect(help.stdout.contains("  serverId       string                no        The producer, as found by discovery."))
            #expect(help.stdout.contains("Result: quote (object)"))
            #expect(help.stdout.contains("  -32014  outOfStock"))
            #expect(try await ctl(daemon, ["methods", "selectService"]).stdout == help.stdout)
            let status = try await ctl(daemon, ["help", "getStatus"])
            #expect(status.stdout.contains("Params: none") && status.stdout.contains("  ready          boolean"), "\(status.stdout)")

            let unknown = try await ctl(daemon, ["help", "nosuch"])
            #expect(unknown.status == 2 && unknown.stdout.isEmpty)
            #expect(unknown.stderr.contains("'nosuch' is neither a subcommand nor a method"), "\(unknown.stderr)")
            let close = try await ctl(daemon, ["help", "selectServce"])
            #expect(close.status == 2 && close.stderr.contains("did you mean selectService?"), "\(close.stderr)")

            // help SUBCOMMAND stays argument-parser's.
            let subcommand = try await runProcess(wpwctl, ["help", "buy"])
            #expect(subcommand.status == 0 && subcommand.stdout.contains("USAGE: wpwctl buy"), "\(subcommand.stdout)")
            let methods = try await ctl(daemon, ["methods"])
            #expect(methods.stdoutLines.first == "name                   summary", "\(methods.stdout)")
            #expect(methods.stdoutLines.count == WPWithinClient.methods.count + 1)
        }
    }

    @Test func timeoutEndsAWaitWithExitFour() async throws {
        try await withCtlMarket { market in
            // deviceDiscovery listens for a minute; --timeout gives up long before.
            let timedOut = try await ctl(market.consumer, ["--timeout", "0.5", "call", "deviceDiscovery", "timeoutMs=60000"])
            #expect(timedOut.status == 4, "\(timedOut.stdout)\(timedOut.stderr)")
            #expect(timedOut.stderr.contains("timed out: no answer to deviceDiscovery within 0.5 s"), "\(timedOut.stderr)")
            let inTime = try await ctl(market.consumer, ["--timeout", "60", "status"])
            #expect(inTime.status == 0 && tableValue(inTime.stdout, "ready") == "true")
        }
    }

    @Test func waitForASocketThatAppearsLater() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/later.sock"
        let wpwctl = self.wpwctl
        let waiting = Task { try await runProcess(wpwctl, ["--socket", socket, "--wait=60", "status"]) }
        let daemon = try await RealDaemon.start(socketPath: socket)
        let result = try await waiting.value
        await daemon.stop()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(tableValue(result.stdout, "ready") == "true" && tableValue(result.stdout, "socketPath") == socket)
    }

    @Test func waitGivesUpWithExitThree() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let never = try await runProcess(wpwctl, ["--socket", directory + "/never.sock", "--wait=0.5", "device"])
        #expect(never.status == 3 && never.stdout.isEmpty)
        #expect(never.stderr.contains("gave up waiting for \(directory)/never.sock after 0.5 s (--wait): no such socket"), "\(never.stderr)")
        try bindAndCloseUnixSocket(directory + "/stale.sock")
        let stale = try await runProcess(wpwctl, ["--wait=0.2", "status", "--socket", directory + "/stale.sock"])
        #expect(stale.status == 3 && stale.stderr.contains("stale socket"), "\(stale.stderr)")
    }
}
