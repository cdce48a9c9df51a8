import Logging
import ServiceLifecycle

/// Runs a runtime as the process's one service: SIGTERM and SIGINT shut it down gracefully,
/// a runtime that returns ends the process normally, and one that throws ends it with its
/// error. A graceful shutdown that takes longer than `gracefulShutdownLimit` (a publish
/// waiting for a broker that is gone) is cut short by cancelling the runtime.
///
/// Services in `alongside` (a metrics endpoint) run as long as the runtime does; one that fails
/// ends the process with its error too.
///
/// As the runtime's graceful shutdown begins, before its own shutdown code runs, the clean
/// pages its rounds mapped are handed back (`StartupPages.releaseOnShutdown`).
public func runUntilShutdown(_ service: some Service, alongside: [any Service] = [], logger: Logger) async throws {
    let services = [NamedService(service, onGracefulShutdown: StartupPages.releaseOnShutdown(logger: logger))] + alongside.map { NamedService($0) }
    var configuration = ServiceGroupConfiguration(
        services: services.map {
            .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .cancelGroup)
        },
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger)
    configuration.maximumGracefulShutdownDuration = gracefulShutdownLimit
    try await ServiceGroup(configuration: configuration).run()
}

/// How long a graceful shutdown may take before the runtime is cancelled.
public let gracefulShutdownLimit = Duration.seconds(10)

/// A service under its type's name. ServiceLifecycle names each service by interpolating it,
/// which for a runtime without a description reflects every stored property, config and all:
/// 2 ms of an agent's start-up CPU, a sixteenth of all it spends in a 30-round job.
///
/// `onGracefulShutdown` runs first when the service's graceful shutdown begins: handlers run in
/// the order they were registered, and this one is registered before any of the service's own.
private struct NamedService: Service, CustomStringConvertible {
    let service: any Service
    let description: String
    let onGracefulShutdown: (@Sendable () -> Void)?

    init(_ service: any Service, onGracefulShutdown: (@Sendable () -> Void)? = nil) {
        self.service = service
        description = String(describing: type(of: service))
        self.onGracefulShutdown = onGracefulShutdown
    }

    func run() async throws {
        guard let onGracefulShutdown else { return try await service.run() }
        try await withGracefulShutdownHandler(operation: { try await service.run() }, onGracefulShutdown: onGracefulShutdown)
    }
}
