import FedMQProcess
import Logging

/// The pages a daemon hands back to the kernel as it starts (`CleanPages`), so that a device
/// keeps resident only the code its rounds run: as it loads and once it has parsed its command
/// line (`MainThreadWaitingCommand`), and once its runtime has started (below); and again as it
/// shuts down. See docs/operations.md, "Memory after start-up".
public enum StartupPages {
    /// What a runtime calls once it has started (connected, subscribed): everything starting
    /// used. Its rounds map back what they run, once.
    public static func releaseOnStart(logger: Logger) -> @Sendable () -> Void {
        { release("start-up pages released: resident", logger: logger) }
    }

    /// What runs as a graceful shutdown begins (`runUntilShutdown`), before the runtime's own
    /// shutdown: the code the rounds ran would otherwise still be resident while the shutdown
    /// maps its own (the last status, the disconnect, the service group's teardown): 0.24 MiB
    /// off an MLP job's median agent peak, in an A/B of the same job.
    static func releaseOnShutdown(logger: Logger) -> @Sendable () -> Void {
        { release("shutdown: pages released, resident", logger: logger) }
    }

    private static func release(_ what: String, logger: Logger) {
        let report = CleanPages.release()
        if let before = report.residentBefore, let after = report.residentAfter {
            logger.debug("\(what) \(before / 1024) KiB -> \(after / 1024) KiB")
        }
    }
}
