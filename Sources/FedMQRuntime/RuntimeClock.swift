import FoundationEssentials

/// The runtimes' time: seconds since 1970, as the protocol's messages carry it. The
/// executables use `WallClock`; tests hand in a clock they move themselves.
public protocol RuntimeClock: Sendable {
    /// Now, in seconds since 1970.
    func now() -> Double

    /// Returns once the clock reaches `deadline` (at once if it has); throws
    /// `CancellationError` when the task is cancelled first.
    func sleep(until deadline: Double) async throws
}

/// The machine's wall clock.
public struct WallClock: RuntimeClock {
    /// The wall clock.
    public init() {}

    /// Now, in seconds since 1970.
    public func now() -> Double {
        Date().timeIntervalSince1970
    }

    /// Sleeps on the task clock until `deadline` (seconds since 1970).
    public func sleep(until deadline: Double) async throws {
        let left = deadline - now()
        if left > 0 { try await Task.sleep(for: .seconds(left)) }
    }
}

extension RuntimeClock {
    /// Ticks every `interval` seconds from `start`, into `body`. A clock that jumps ahead
    /// gives one prompt tick, not one per missed interval; a deadline that passed while the
    /// previous tick was handled is never waited for again.
    public func ticks(every interval: Double, from start: Double, _ body: @Sendable () -> Void) async {
        var next = start
        while !Task.isCancelled {
            next += interval
            do {
                try await sleep(until: next)
            } catch {
                return
            }
            body()
            next = max(next, now() - interval)
        }
    }
}
