import FedMQTransport
import Testing

/// A seeded generator (SplitMix64), so jitter is reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Reconnect backoff")
struct ReconnectPolicyTests {
    @Test("without jitter the delay doubles up to the maximum")
    func exponential() {
        let policy = ReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(1), multiplier: 2, jitter: 0)
        var random = SeededGenerator(state: 1)
        let delays = (1...6).map { policy.delay(afterFailures: $0, using: &random) }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1)])
    }

    @Test("jitter shortens each delay by at most its fraction, and varies")
    func jitter() {
        let policy = ReconnectPolicy(initialDelay: .seconds(1), maximumDelay: .seconds(1), multiplier: 2, jitter: 0.5)
        var random = SeededGenerator(state: 42)
        let delays = (0..<200).map { _ in policy.delay(afterFailures: 3, using: &random) }
        #expect(delays.allSatisfy { $0 >= .milliseconds(500) && $0 <= .seconds(1) })
        #expect(Set(delays).count > 150)
        #expect(delays.min()! < .milliseconds(550))
        #expect(delays.max()! > .milliseconds(950))
    }

    @Test("nonsense settings are rejected")
    func validation() {
        #expect(throws: MQTTError.self) { try ReconnectPolicy(initialDelay: .zero).validate() }
        #expect(throws: MQTTError.self) {
            try ReconnectPolicy(initialDelay: .seconds(2), maximumDelay: .seconds(1)).validate()
        }
        #expect(throws: MQTTError.self) { try ReconnectPolicy(multiplier: 0.5).validate() }
        #expect(throws: MQTTError.self) { try ReconnectPolicy(jitter: 1.5).validate() }
    }

    @Test("connection options are checked before anything is created")
    func optionValidation() {
        let cases: [(ConnectionOptions, String)] = [
            (ConnectionOptions(host: ""), "host"),
            (ConnectionOptions(port: 0), "port"),
            (ConnectionOptions(keepAlive: 2), "keepalive"),
            (ConnectionOptions(session: .persistent(expiry: .seconds(60))), "client id"),
            (ConnectionOptions(will: LastWill(topic: "a/#", payload: [])), "wildcard"),
        ]
        for (options, mention) in cases {
            let error = #expect(throws: MQTTError.self) { try options.validate() }
            #expect(error?.detail.contains(mention) == true, "\(error?.detail ?? "no error") should mention \(mention)")
        }
    }
}
