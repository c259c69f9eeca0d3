// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "Sagaflow",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sagaflow", targets: ["sagaflow"]),
        .executable(name: "orchestrator", targets: ["orchestrator"]),
        .executable(name: "orders", targets: ["orders"]),
        .executable(name: "payments", targets: ["payments"]),
        .executable(name: "booking", targets: ["booking"]),
        .library(name: "ServiceKit", targets: ["ServiceKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(
            url: "https://github.com/apple/swift-configuration", from: "1.4.0",
            traits: [.defaults, "CommandLineArguments"]),
    ],
    targets: [
        .systemLibrary(
            name: "CCurl", path: "Shared/CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(
            name: "SagaProtocol",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            path: "Shared/SagaProtocol"),
        .target(
            name: "SagaHTTP",
            dependencies: [
                "CCurl", "SagaProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/SagaHTTP"),
        .target(
            name: "EventStore",
            dependencies: [
                "SagaProtocol",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Shared/EventStore"),
        .target(
            name: "SagaEngine",
            dependencies: [
                "SagaProtocol", "EventStore", "SagaHTTP",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/SagaEngine"),
        .target(
            name: "ServiceKit",
            dependencies: [
                "SagaHTTP", "SagaProtocol",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Shared/ServiceKit"),
        .target(
            name: "Compose",
            dependencies: [
                "SagaHTTP",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Shared/Compose"),
        .target(
            name: "OrchestratorService",
            dependencies: [
                "SagaEngine", "EventStore", "SagaHTTP", "SagaProtocol",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
            ],
            path: "Services/Orchestrator"),
        .target(
            name: "SagaflowCLI",
            dependencies: [
                "Compose", "SagaHTTP", "SagaProtocol", "EventStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Services/CLI"),
        .target(name: "OrdersService", dependencies: ["ServiceKit"], path: "Services/Orders"),
        .target(name: "PaymentsService", dependencies: ["ServiceKit"], path: "Services/Payments"),
        .target(name: "BookingService", dependencies: ["ServiceKit"], path: "Services/Booking"),
        .executableTarget(name: "sagaflow", dependencies: ["SagaflowCLI"], path: "Services/Executables/sagaflow"),
        .executableTarget(name: "orchestrator", dependencies: ["OrchestratorService"], path: "Services/Executables/orchestrator"),
        .executableTarget(name: "orders", dependencies: ["OrdersService"], path: "Services/Executables/orders"),
        .executableTarget(name: "payments", dependencies: ["PaymentsService"], path: "Services/Executables/payments"),
        .executableTarget(name: "booking", dependencies: ["BookingService"], path: "Services/Executables/booking"),

        .target(
            name: "TestSupport",
            dependencies: ["SagaHTTP", "SagaProtocol", "Compose", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport"),
        .testTarget(name: "SagaProtocolTests", dependencies: ["SagaProtocol"], path: "Tests/SagaProtocolTests"),
        .testTarget(name: "SagaHTTPTests", dependencies: ["SagaHTTP", "TestSupport"], path: "Tests/SagaHTTPTests"),
        .testTarget(name: "EventStoreTests", dependencies: ["EventStore", "TestSupport"], path: "Tests/EventStoreTests"),
        .testTarget(name: "SagaEngineTests", dependencies: ["SagaEngine", "TestSupport"], path: "Tests/SagaEngineTests"),
        .testTarget(name: "ComposeTests", dependencies: ["Compose", "TestSupport", "SagaflowCLI"], path: "Tests/ComposeTests"),
        .testTarget(
            name: "OrchestratorTests",
            dependencies: ["OrchestratorService", "ServiceKit", "TestSupport", "OrdersService", "PaymentsService", "BookingService"],
            path: "Tests/OrchestratorTests"),
        .testTarget(
            name: "ServiceKitTests",
            dependencies: [
                "ServiceKit", "TestSupport", "OrdersService", "PaymentsService", "BookingService",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Tests/ServiceKitTests"),
    ]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .swiftLanguageMode(.v6),
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("MemberImportVisibility"),
        .enableUpcomingFeature("InternalImportsByDefault"),
    ]
}
