import FoundationEssentials
import Glibc

/// Exponential backoff with jitter between connection attempts.
///
/// The n-th consecutive failure waits `min(maximumDelay, initialDelay * multiplier^(n-1))`,
/// shortened by a random fraction of up to `jitter`, so that a fleet that lost its broker
/// does not reconnect in lockstep.
public struct ReconnectPolicy: Sendable, Equatable {
    public var initialDelay: Duration
    public var maximumDelay: Duration
    public var multiplier: Double
    /// Fraction (0...1) of each delay that is randomised away.
    public var jitter: Double

    /// Exponential backoff from `initialDelay` up to `maximumDelay`, with jitter.
    public init(
        initialDelay: Duration = .milliseconds(200), maximumDelay: Duration = .seconds(30),
        multiplier: Double = 2, jitter: Double = 0.25
    ) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.multiplier = multiplier
        self.jitter = jitter
    }

    /// Refuses a non-positive or inverted delay range, a multiplier below 1, and jitter outside 0...1.
    public func validate() throws(MQTTError) {
        func invalid(_ text: String) -> MQTTError { MQTTError(.invalidArgument, call: "reconnect policy", detail: text) }
        if initialDelay <= .zero { throw invalid("initial delay must be positive") }
        if maximumDelay < initialDelay { throw invalid("maximum delay is below the initial delay") }
        if !(multiplier >= 1) { throw invalid("multiplier must be at least 1") }
        if !(0...1).contains(jitter) { throw invalid("jitter must be within 0...1") }
    }

    /// The wait before the next attempt after `failures` consecutive failures (1 or more).
    public func delay(afterFailures failures: Int, using random: inout some RandomNumberGenerator) -> Duration {
        let initial = initialDelay.seconds
        let maximum = maximumDelay.seconds
        let exponent = Double(max(0, failures - 1))
        let base = min(maximum, initial * pow(multiplier, exponent))
        let cut = jitter > 0 ? Double.random(in: 0...jitter, using: &random) : 0
        return .nanoseconds(Int64(base * (1 - cut) * 1e9))
    }
}

extension Duration {
    /// The duration as floating-point seconds.
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) * 1e-18
    }
}
