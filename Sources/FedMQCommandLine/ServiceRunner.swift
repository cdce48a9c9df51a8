import Logging
import ServiceLifecycle

/// Runs a runtime as the process's one service: SIGTERM and SIGINT shut it down gracefully,
/// a runtime that returns ends the process normally, and one that throws ends it with its
/// error.
public func runUntilShutdown(_ service: some Service, logger: Logger) async throws {
    let group = ServiceGroup(
        configuration: ServiceGroupConfiguration(
            services: [
                .init(service: service, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .cancelGroup)
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
    try await group.run()
}
