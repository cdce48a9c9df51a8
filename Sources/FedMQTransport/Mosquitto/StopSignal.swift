import Glibc

/// A one-way flag the network thread can sleep on: `wait(for:)` returns early once `stop()`
/// is called, so backoff delays never hold up a shutdown. A POSIX mutex and condition on the
/// monotonic clock, because FoundationEssentials has no `NSCondition`.
///
/// `@unchecked Sendable`: `stopped` is only read and written while `mutex` is locked.
final class StopSignal: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var stopped = false

    init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    var isStopped: Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return stopped
    }

    func stop() {
        pthread_mutex_lock(mutex)
        stopped = true
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Sleeps for `duration` or until stopped; returns true when stopped.
    func wait(for duration: Duration) -> Bool {
        var deadline = Self.monotonicDeadline(after: duration)
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !stopped && pthread_cond_timedwait(condition, mutex, &deadline) != ETIMEDOUT {}
        return stopped
    }

    /// Now on the monotonic clock plus `duration`, which is clamped to [0, one year].
    private static func monotonicDeadline(after duration: Duration) -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 else { return now }
        let nanoseconds = Int(now.tv_nsec) + Int(attoseconds / 1_000_000_000)
        now.tv_sec += Int(min(seconds, 365 * 24 * 3600)) + nanoseconds / 1_000_000_000
        now.tv_nsec = nanoseconds % 1_000_000_000
        return now
    }
}
