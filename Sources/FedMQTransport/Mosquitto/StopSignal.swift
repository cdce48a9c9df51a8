import Foundation

/// A one-way flag the network thread can sleep on: `wait(for:)` returns early once `stop()`
/// is called, so backoff delays never hold up a shutdown.
///
/// `@unchecked Sendable`: `stopped` is only read and written while `condition` is locked.
final class StopSignal: @unchecked Sendable {
    private let condition = NSCondition()
    private var stopped = false

    var isStopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopped
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    /// Sleeps for `duration` or until stopped; returns true when stopped.
    func wait(for duration: Duration) -> Bool {
        let deadline = Date(timeIntervalSinceNow: duration.seconds)
        condition.lock()
        defer { condition.unlock() }
        while !stopped && Date() < deadline {
            _ = condition.wait(until: deadline)
        }
        return stopped
    }
}
