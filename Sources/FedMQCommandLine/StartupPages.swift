import FedMQProcess
import Logging
import ServiceLifecycle

/// The pages a daemon hands back to the kernel as it starts (`CleanPages`), so that a device
/// keeps resident only the code its rounds run: as it loads and once it has parsed its command
/// line (`MainThreadWaitingCommand`), and once its runtime has started (below). See
/// docs/operations.md, "Memory after start-up".
public enum StartupPages {
    /// What a runtime calls once it has started (connected, subscribed): everything starting
    /// used. Its rounds map back what they run, once.
    public static func releaseOnStart(logger: Logger) -> @Sendable () -> Void {
        {
            let report = CleanPages.release()
            if let before = report.residentBefore, let after = report.residentAfter {
                logger.debug("start-up pages released: resident \(before / 1024) KiB -> \(after / 1024) KiB")
            }
        }
    }
}

/// Hands back the clean pages once a graceful shutdown begins, before the runtime's own
/// shutdown runs. The code the rounds ran would otherwise still be resident when the shutdown
/// maps its own (the last status, the disconnect, the service group's teardown): about
/// 0.5 MiB on an agent's peak, measured with bench-flower's MLP.
struct ShutdownPages: Service {
    let logger: Logger

    func run() async throws {
        // A cancelled group (a service failed) ends the wait too: then nothing is handed back,
        // and nothing is thrown that could stand in for the service's own error.
        guard (try? await gracefulShutdown()) != nil else { return }
        let report = CleanPages.release()
        if let before = report.residentBefore, let after = report.residentAfter {
            logger.debug("shutdown: pages released, resident \(before / 1024) KiB -> \(after / 1024) KiB")
        }
    }
}
