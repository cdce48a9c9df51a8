// swift-tools-version: 6.1
import PackageDescription

/// Every target builds in the Swift 6 language mode (complete concurrency checking).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

/// Debian's single-threaded OpenBLAS (libopenblas0-serial), found first at run time when it is
/// installed. The threaded build that is the system default starts a worker per core as it
/// loads, and each spins on sched_yield for up to a tenth of a second before it sleeps, in every
/// FedMQ process, though FedMQ runs OpenBLAS on one thread. Without the package, the default
/// OpenBLAS loads as before.
let serialOpenBLAS: [LinkerSetting] = ["x86_64", "aarch64"].map { architecture in
    .unsafeFlags(["-Xlinker", "-rpath", "-Xlinker", "/usr/lib/\(architecture)-linux-gnu/openblas-serial"], .when(platforms: [.linux]))
}

let package = Package(
    name: "FedMQ",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "FedMQCore", targets: ["FedMQCore"]),
        .library(name: "FedMQProtocol", targets: ["FedMQProtocol"]),
        .library(name: "FedMQTransport", targets: ["FedMQTransport"]),
        .library(name: "FedMQLocalBroker", targets: ["FedMQLocalBroker"]),
        .library(name: "FedMQAgent", targets: ["FedMQAgent"]),
        .library(name: "FedMQAggregator", targets: ["FedMQAggregator"]),
        .library(name: "FedMQHomomorphic", targets: ["FedMQHomomorphic"]),
        .executable(name: "fedmq", targets: ["fedmq"]),
        .executable(name: "fedmq-aggregator", targets: ["fedmq-aggregator"]),
        .executable(name: "fedmq-agent", targets: ["fedmq-agent"]),
        .executable(name: "fedmq-keyholder", targets: ["fedmq-keyholder"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
    ],
    targets: [
        // The only C module: libmosquitto, found through pkg-config.
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        // GMP's big integers, for Paillier encryption only (FedMQHomomorphic).
        .systemLibrary(
            name: "CGMP",
            pkgConfig: "gmp",
            providers: [.apt(["libgmp-dev"])]
        ),
        // Paillier encryption and packing: the only target that imports CGMP. No I/O, no clock.
        .target(
            name: "FedMQHomomorphic",
            dependencies: ["CGMP"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FedMQHomomorphicTests",
            dependencies: ["FedMQHomomorphic", "FedMQCore"],
            swiftSettings: swiftSettings
        ),
        // OpenBLAS's CBLAS for matrix products, found through pkg-config.
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // Tensors, models, training, data sets, privacy, safetensors: no MQTT, no clock.
        .target(
            name: "FedMQCore",
            dependencies: ["COpenBLAS"],
            swiftSettings: swiftSettings,
            linkerSettings: serialOpenBLAS
        ),
        // Topics, message schemas, update validation, aggregation, round and agent state
        // machines: no I/O, no clock (time is passed in).
        .target(
            name: "FedMQProtocol",
            dependencies: [
                "FedMQCore", "FedMQHomomorphic",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // The only target that imports CMosquitto.
        .target(
            name: "FedMQTransport",
            dependencies: ["CMosquitto"],
            swiftSettings: swiftSettings
        ),
        // What the agent and aggregator runtimes share: broker settings, durable files, identity
        // files, config and data files, the clock.
        .target(
            name: "FedMQRuntime",
            dependencies: [
                "FedMQTransport",
                "FedMQProtocol",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The runtimes: services over an injected transport and clock.
        .target(
            name: "FedMQAggregator",
            dependencies: [
                "FedMQCore", "FedMQProtocol", "FedMQTransport", "FedMQRuntime", "FedMQProcess",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FedMQAgent",
            dependencies: [
                "FedMQCore", "FedMQProtocol", "FedMQTransport", "FedMQRuntime", "FedMQProcess",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The key holder of homomorphic jobs: a service over an injected transport, like the others.
        .target(
            name: "FedMQKeyholder",
            dependencies: [
                "FedMQProtocol", "FedMQHomomorphic", "FedMQTransport", "FedMQRuntime",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The Prometheus endpoint (`/metrics`) beside a runtime: what it counts into its registry.
        .target(
            name: "FedMQMetrics",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // What the three executables share on the command line: broker flags, log levels,
        // running a runtime until SIGTERM/SIGINT, command failures.
        .target(
            name: "FedMQCommandLine",
            dependencies: [
                "FedMQRuntime", "FedMQProtocol", "FedMQProcess",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Benchmark and simulation harnesses (`fedmq bench ...`, `fedmq simulate`): measuring
        // code, kept out of the product libraries.
        .target(
            name: "FedMQBench",
            dependencies: [
                "FedMQCore", "FedMQProtocol", "FedMQTransport", "FedMQLocalBroker", "FedMQRuntime", "FedMQAgent",
                "FedMQCommandLine", "FedMQHomomorphic",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "fedmq-aggregator",
            dependencies: [
                "FedMQAggregator", "FedMQRuntime", "FedMQCommandLine", "FedMQMetrics",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "fedmq-agent",
            dependencies: [
                "FedMQAgent", "FedMQCore", "FedMQProtocol", "FedMQRuntime", "FedMQCommandLine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "fedmq-keyholder",
            dependencies: [
                "FedMQKeyholder", "FedMQRuntime", "FedMQCommandLine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Runs a private mosquitto broker (tests, demo, benchmarks).
        .target(
            name: "FedMQLocalBroker",
            dependencies: ["FedMQProcess"],
            swiftSettings: swiftSettings
        ),
        // Child processes started with posix_spawn and stopped by PID (brokers in tests and the
        // demo, an agent's external trainer), and this process's clean pages handed back.
        .target(
            name: "FedMQProcess",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "fedmq",
            dependencies: [
                "FedMQAggregator",
                "FedMQCore",
                "FedMQProtocol",
                "FedMQTransport",
                "FedMQLocalBroker",
                "FedMQRuntime",
                "FedMQCommandLine",
                "FedMQBench",
                "FedMQMetrics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FedMQCoreTests",
            dependencies: ["FedMQCore"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FedMQProtocolTests",
            dependencies: ["FedMQProtocol", "FedMQTransport", "FedMQHomomorphic"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FedMQTransportTests",
            dependencies: ["FedMQTransport"],
            swiftSettings: swiftSettings
        ),
        // The runtimes as services, driven through the in-memory broker and a clock the tests move.
        .testTarget(
            name: "FedMQRuntimeTests",
            dependencies: [
                "FedMQCore", "FedMQProtocol", "FedMQTransport", "FedMQRuntime", "FedMQAgent", "FedMQAggregator", "FedMQKeyholder", "FedMQProcess",
                "FedMQCommandLine",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FedMQIntegrationTests",
            dependencies: [
                "FedMQCore", "FedMQProtocol", "FedMQTransport", "FedMQLocalBroker", "FedMQRuntime", "FedMQAgent",
                "FedMQAggregator", "FedMQBench", "FedMQHomomorphic", "FedMQKeyholder", "fedmq", "fedmq-aggregator", "fedmq-agent", "fedmq-keyholder",
            ],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
