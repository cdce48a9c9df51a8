import FedMQProcess
import Logging

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
