// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "wpwithind",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "wpwithind", targets: ["wpwithind"]),
        .executable(name: "wpwithind-fleet", targets: ["wpwithind-fleet"]),
        .executable(name: "wpwctl", targets: ["wpwctl"]),
        .executable(name: "wpw-sandbox-gateway", targets: ["wpw-sandbox-gateway"]),
        .library(name: "WPWithinClient", targets: ["WPWithinClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // Foundation: nothing the daemon (wpwithind) is built from imports it (FoundationFreeModulesTests
        // checks every such module); https goes through WPWithinTLS on the system's libssl, not URLSession.
        // The daemon parses its five options itself (DaemonCommandLine): swift-argument-parser brings
        // FoundationEssentials and regex support, ≈ 3.8 MB of code in a static executable. The Swift client,
        // wpwctl (argument-parser), the sandbox gateway, the tools and the tests may import Foundation.

        // C system libraries.
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // PostgreSQL's client, for a fleet's shared store; not linked into wpwithind (yet).
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        // The Swift runtime's global-executor hook, by name (see its header): for the static release build.
        .systemLibrary(name: "CSwiftRuntimeHooks"),
        // glibc's mallopt (<malloc.h>), for the daemon's allocator tuning (AllocatorTuning).
        .systemLibrary(name: "CGlibcMalloc"),

        // Pure domain: money, errors, JSON values, JSON-RPC message types. No I/O.
        .target(name: "WPWithinCore", swiftSettings: swiftSettings),
        // HMAC, digests, CSPRNG over the system libcrypto.
        .target(name: "WPWithinCrypto", dependencies: ["COpenSSL"], swiftSettings: swiftSettings),
        // A thin layer over libpq: connections, text parameters and rows, SQLSTATE errors. No Foundation.
        .target(name: "WPWithinPostgres", dependencies: ["CLibPQ"], swiftSettings: swiftSettings),
        // A fleet member's producer backend on a shared PostgreSQL (docs/fleet.md): linked into wpwithind-fleet only.
        .target(
            name: "WPWithinFleet",
            dependencies: [
                "WPWithinPostgres", "WPWithinStore", "WPWithinCore", "WPWithinCrypto", "WPWithinDaemon",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Counters, gauges and histograms with their Prometheus text exposition. No I/O, no dependencies.
        .target(name: "WPWithinMetrics", swiftSettings: swiftSettings),
        // HTE and discovery wire types with the Go SDK's key spellings and order; Go-compatible times. No I/O.
        .target(name: "WPWithinWire", dependencies: ["WPWithinCore"], swiftSettings: swiftSettings),
        // Newline-delimited JSON-RPC 2.0 over a Unix socket: codec, dispatcher, server. No Foundation.
        .target(
            name: "WPWithinRPC",
            dependencies: [
                "WPWithinCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // TLS on NIO channels over the system's libssl (memory BIOs): client and server handlers. No Foundation.
        .target(
            name: "WPWithinTLS",
            dependencies: ["COpenSSL", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        // A small HTTP/1 server and client on NIO (http and https), shared by the sandbox gateway, the
        // producer's HTE server, the consumer and the gateway client.
        .target(
            name: "WPWithinHTTP",
            dependencies: [
                "WPWithinTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // HTE over HTTP: the producer's router (routes → HTEProducer) and the consumer's HTEClient.
        .target(
            name: "WPWithinPeer",
            dependencies: [
                "WPWithinCore", "WPWithinWire", "WPWithinHTTP",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The payment gateway seam and the Worldpay Online client; credentials.
        .target(
            name: "WPWithinPayments",
            dependencies: [
                "WPWithinCore", "WPWithinHTTP", "WPWithinTLS",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The sandbox gateway (Worldpay Online API on loopback) as a library; the executable is thin.
        .target(
            name: "WPWithinSandbox",
            dependencies: [
                "WPWithinCore", "WPWithinHTTP", "WPWithinCrypto", "WPWithinTLS",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Configuration, systemd integration, wiring, ServiceGroup.
        .target(
            name: "WPWithinDaemon",
            dependencies: [
                "WPWithinCore", "WPWithinRPC", "WPWithinCrypto", "WPWithinPayments", "WPWithinDiscovery", "WPWithinWire", "WPWithinStore", "WPWithinPeer", "WPWithinHTTP", "WPWithinMetrics", "CSystemd",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // UDP presence broadcast (producer) and scanner (consumer), Go-compatible datagrams.
        .target(
            name: "WPWithinDiscovery",
            dependencies: [
                "WPWithinCore", "WPWithinWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // A thin layer over the system's libsqlite3: cached prepared statements bound by index, columns read
        // by index, typed errors, one connection behind a mutex. No Foundation.
        .target(name: "WPWithinSQLite", dependencies: ["CSQLite"], swiftSettings: swiftSettings),
        // Durable state: SQLite (WAL) through WPWithinSQLite; every money or unit transition is one transaction.
        .target(
            name: "WPWithinStore",
            dependencies: [
                "WPWithinCore", "WPWithinCrypto", "WPWithinSQLite",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Test-only: drives the store in a loop (crash test, kill -9) and times transitions (bench).
        .executableTarget(
            name: "wpw-store-crashtest",
            dependencies: ["WPWithinStore", "WPWithinCore"],
            path: "Tests/wpw-store-crashtest",
            swiftSettings: swiftSettings
        ),
        // Test-only: a fault-injecting HTTP proxy (drop, delay, hold, 5xx, cut after forwarding…), docs/testing.md.
        .executableTarget(
            name: "wpw-fault-proxy",
            dependencies: [
                "WPWithinCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tests/wpw-fault-proxy",
            swiftSettings: swiftSettings
        ),
        // Swift client for the daemon's socket (wpwctl and tests use it).
        .target(
            name: "WPWithinClient",
            dependencies: [
                "WPWithinCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
            ],
            swiftSettings: swiftSettings
        ),

        // The daemon's entry point (command line, executor takeover, exit status), shared by both builds.
        .target(
            name: "WPWithinDaemonMain",
            dependencies: [
                "CSwiftRuntimeHooks", "CGlibcMalloc",
                "WPWithinDaemon", "WPWithinCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "wpwithind", dependencies: ["WPWithinDaemonMain"], swiftSettings: swiftSettings),
        // wpwithind with the fleet's PostgreSQL backend (libpq and its libraries linked in): docs/fleet.md.
        .executableTarget(
            name: "wpwithind-fleet", dependencies: ["WPWithinDaemonMain", "WPWithinDaemon", "WPWithinFleet"],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "wpwctl",
            dependencies: [
                "WPWithinClient", "WPWithinCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "wpw-sandbox-gateway",
            dependencies: [
                "WPWithinSandbox", "WPWithinCore", "WPWithinTLS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Benchmarks: one subcommand per file (`wpw-bench gateway`, …).
        .executableTarget(
            name: "wpw-bench",
            dependencies: [
                "WPWithinPayments", "WPWithinCore", "WPWithinTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // Example apps (a car-wash producer and a consumer) over the Swift client; the tests run them.
        .executableTarget(
            name: "wpw-example-carwash", dependencies: ["WPWithinClient", "WPWithinCore"],
            path: "examples/swift/CarwashProducer", swiftSettings: swiftSettings),
        .executableTarget(
            name: "wpw-example-consumer", dependencies: ["WPWithinClient", "WPWithinCore"],
            path: "examples/swift/Consumer", swiftSettings: swiftSettings),
        .testTarget(name: "WPWithinCoreTests", dependencies: ["WPWithinCore", "WPWithinCrypto"], swiftSettings: swiftSettings),
        .testTarget(
            name: "WPWithinWireTests",
            dependencies: ["WPWithinWire", "WPWithinCore"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WPWithinDiscoveryTests",
            dependencies: [
                "WPWithinDiscovery", "WPWithinWire", "WPWithinCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WPWithinStoreTests",
            dependencies: ["WPWithinStore", "WPWithinCore", "WPWithinCrypto", "wpw-store-crashtest", "WPWithinTestSupport",
                           "WPWithinSQLite"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WPWithinFleetTests",
            dependencies: ["WPWithinFleet", "WPWithinStore", "WPWithinCore", "WPWithinTestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings),
        .testTarget(name: "WPWithinPostgresTests", dependencies: ["WPWithinPostgres", "WPWithinTestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "WPWithinMetricsTests", dependencies: ["WPWithinMetrics"], swiftSettings: swiftSettings),
        .testTarget(name: "WPWithinSQLiteTests", dependencies: ["WPWithinSQLite"], swiftSettings: swiftSettings),
        .testTarget(name: "WPWithinCryptoTests", dependencies: ["WPWithinCrypto"], swiftSettings: swiftSettings),
        .testTarget(
            name: "WPWithinRPCTests",
            dependencies: [
                "WPWithinRPC", "WPWithinCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WPWithinPaymentsTests",
            dependencies: [
                "WPWithinPayments", "WPWithinCore", "WPWithinHTTP", "WPWithinTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WPWithinClientTests",
            dependencies: [
                "WPWithinClient", "WPWithinCore", "WPWithinTestSupport", "wpwctl",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WPWithinDaemonTests",
            dependencies: [
                "WPWithinDaemon", "WPWithinRPC", "WPWithinCore", "WPWithinClient", "WPWithinTestSupport",
                "WPWithinPeer", "WPWithinHTTP", "WPWithinWire", "WPWithinPayments", "WPWithinSQLite",
                .product(name: "Logging", package: "swift-log"),
                "wpw-example-carwash", "wpw-example-consumer", "wpw-fault-proxy", "wpwithind-fleet",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WPWithinPeerTests",
            dependencies: [
                "WPWithinPeer", "WPWithinHTTP", "WPWithinWire", "WPWithinCore", "WPWithinCrypto", "WPWithinTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        // The fault-injection tools themselves: the sandbox's state file and fault rules, wpw-fault-proxy.
        .testTarget(
            name: "WPWithinFaultToolsTests",
            dependencies: ["WPWithinTestSupport", "WPWithinCore", "wpw-fault-proxy", "wpw-sandbox-gateway"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WPWithinTLSTests",
            dependencies: [
                "WPWithinTLS", "WPWithinTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WPWithinHTTPTests",
            dependencies: [
                "WPWithinHTTP", "WPWithinTLS", "WPWithinTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Helpers shared by the integration tests: locate built executables, temp dirs, run processes.
        .target(
            name: "WPWithinTestSupport", dependencies: ["WPWithinCore", .product(name: "Logging", package: "swift-log")],
            path: "Tests/WPWithinTestSupport", swiftSettings: swiftSettings),
    ]
)
