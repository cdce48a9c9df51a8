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
/// The group shuts its services down last to first, so `ShutdownPages` (last) hands back the
/// pages the rounds mapped before the runtime starts its own shutdown.
public func runUntilShutdown(_ service: some Service, alongside: [any Service] = [], logger: Logger) async throws {
    let services = [service as any Service] + alongside + [ShutdownPages(logger: logger)]
    var configuration = ServiceGroupConfiguration(
        services: services.map {
            .init(service: NamedService($0), successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .cancelGroup)
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
private struct NamedService: Service, CustomStringConvertible {
    let service: any Service
    let description: String

    init(_ service: any Service) {
        self.service = service
        description = String(describing: type(of: service))
    }

    func run() async throws { try await service.run() }
}
