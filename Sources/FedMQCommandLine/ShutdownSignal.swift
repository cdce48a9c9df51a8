import Dispatch
import FoundationEssentials
import Glibc

/// Waits for SIGINT or SIGTERM, so a command can shut down cleanly instead of dying.
public enum ShutdownSignal {
    /// Returns at the first SIGINT or SIGTERM (both are then ignored by the default handlers).
    public static func wait() async {
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        var sources: [any DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            sources.append(source)
        }
        for await _ in stream { break }
        for source in sources { source.cancel() }
    }
}
