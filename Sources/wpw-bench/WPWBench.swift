import ArgumentParser

/// `wpw-bench`: measurements on loopback. One file per subcommand; add new ones to `subcommands`.
@main
struct WPWBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wpw-bench",
        abstract: "Benchmarks for wpwithind components (loopback only).",
        subcommands: [SuiteBenchmark.self, FleetBenchmark.self, ProfileCommand.self, GatewayBenchmark.self, RPCBenchmark.self, EchoServerCommand.self]
    )
}
