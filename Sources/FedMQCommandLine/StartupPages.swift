import FedMQProcess
import Logging

/// The pages a daemon hands back to the kernel as it starts (`CleanPages`): an agent on a small
/// device keeps resident only what its rounds use. See docs/operations.md, "Memory after start-up".
public enum StartupPages {
    /// Called first thing in a daemon: the loader's relocation records and symbol tables, which
    /// relocating and binding the libraries read, about 1.4 MiB of an agent.
    public static func releaseLoaderTables() {
        CleanPages.release(.loaderTables)
    }

    /// What a runtime calls once it has started (connected, subscribed): every read-only page
    /// of the executable and its libraries, most of which only starting used. The rounds map
    /// back what they use, once.
    public static func releaseOnStart(logger: Logger) -> @Sendable () -> Void {
        {
            let report = CleanPages.release(.readOnlySegments)
            if let before = report.residentBefore, let after = report.residentAfter {
                logger.debug("start-up pages released: resident \(before / 1024) KiB -> \(after / 1024) KiB")
            }
        }
    }
}
