// swift-tools-version: 6.1
// libFuzzer targets for FedMQ's decoders, built apart from the main package because
// `-sanitize=fuzzer` brings its own `main`. `make fuzz` builds and runs them.
import Foundation
import PackageDescription

/// SwiftPM names a path dependency after its folder, whatever the checkout is called.
let fedmq = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "FedMQFuzz",
    dependencies: [.package(path: "..")],
    targets: [
        .target(name: "CFuzzerDriver"),
        .executableTarget(
            name: "FuzzDecoders",
            dependencies: [
                "CFuzzerDriver",
                .product(name: "FedMQCore", package: fedmq),
                .product(name: "FedMQProtocol", package: fedmq),
                .product(name: "FedMQHomomorphic", package: fedmq),
                .product(name: "FedMQAgent", package: fedmq),
                .product(name: "FedMQAggregator", package: fedmq),
            ],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ]
)
