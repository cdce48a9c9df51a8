import FedMQProtocol
import Prometheus

/// What the aggregator counts for Prometheus, into the registry it was handed (which
/// `fedmq-aggregator --metrics-address` serves on `/metrics`); nothing without one. Every series
/// carries the job, and every metric its help text.
struct AggregatorMetrics {
    let registry: PrometheusCollectorRegistry?
    let job: String

    private static func name(_ name: String, unit: String = "", help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "fedmq", metricName: name, unitName: unit, helpText: help)
    }

    private static var acceptedUpdates: MetricNameDescriptor { name("updates_accepted", unit: "total", help: "Updates accepted and spooled.") }
    private static var rejectedUpdates: MetricNameDescriptor {
        name(
            "updates_rejected", unit: "total", help: "Updates and secure-aggregation messages refused, by reason.")
    }
    private static var closedRounds: MetricNameDescriptor { name("rounds_closed", unit: "total", help: "Rounds closed, failed ones included.") }
    private static var failedRounds: MetricNameDescriptor {
        name("rounds_failed", unit: "total", help: "Rounds that kept the model (see the metrics' failure).")
    }
    private static var round: MetricNameDescriptor { name("round", help: "The last closed round.") }
    private static var roundUpdates: MetricNameDescriptor { name("round_updates", help: "Updates in the last closed round.") }
    private static var roundDuration: MetricNameDescriptor { name("round_duration", unit: "seconds", help: "From a round's opening to its close.") }
    private static var receivedBytes: MetricNameDescriptor { name("received_bytes", unit: "total", help: "Bytes of updates received.") }
    private static var epsilon: MetricNameDescriptor { name("epsilon", help: "Privacy spent on the published model (at the policy's delta).") }
    private static var accuracy: MetricNameDescriptor { name("accuracy", help: "Central evaluation of the last model.") }
    private static var onlineAgents: MetricNameDescriptor { name("agents_online", help: "Agents whose retained status says they are connected.") }
    private static var staleness: MetricNameDescriptor {
        name("update_staleness", unit: "versions", help: "Asynchronous jobs: how many versions old each applied update's base was.")
    }
    private static let stalenessBuckets: [Double] = [0, 1, 2, 4, 8, 16, 32, 64]
    /// Rounds last from a fraction of a second (a small local job) to an hour.
    private static let durationBuckets: [Duration] = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600].map { .seconds($0) }

    private var labels: [(String, String)] { [("job", job)] }

    /// Every counter at zero from the start (a rejection reason that never happened is a 0, not
    /// a missing series), and the privacy gauge when the job has privacy.
    func start(privacy: Bool) {
        guard let registry else { return }
        _ = registry.makeCounter(descriptor: Self.acceptedUpdates, labels: labels)
        for reason in RejectionReason.allCases {
            _ = registry.makeCounter(descriptor: Self.rejectedUpdates, labels: labels + [("reason", reason.rawValue)])
        }
        _ = registry.makeCounter(descriptor: Self.closedRounds, labels: labels)
        _ = registry.makeCounter(descriptor: Self.failedRounds, labels: labels)
        _ = registry.makeCounter(descriptor: Self.receivedBytes, labels: labels)
        if privacy { _ = registry.makeGauge(descriptor: Self.epsilon, labels: labels) }
    }

    /// An update accepted (and spooled) in the open round.
    func accepted() {
        registry?.makeCounter(descriptor: Self.acceptedUpdates, labels: labels).increment()
    }

    /// An update (or secure-aggregation message) refused, by reason.
    func rejected(_ reason: RejectionReason) {
        registry?.makeCounter(descriptor: Self.rejectedUpdates, labels: labels + [("reason", reason.rawValue)]).increment()
    }

    /// A round closed: its number, duration, bytes, privacy spent and whether it failed.
    func closed(_ metrics: RoundMetrics) {
        guard let registry else { return }
        registry.makeCounter(descriptor: Self.closedRounds, labels: labels).increment()
        if metrics.failure != nil { registry.makeCounter(descriptor: Self.failedRounds, labels: labels).increment() }
        registry.makeGauge(descriptor: Self.round, labels: labels).set(Double(metrics.round))
        registry.makeGauge(descriptor: Self.roundUpdates, labels: labels).set(Double(metrics.updates))
        registry.makeDurationHistogram(descriptor: Self.roundDuration, labels: labels, buckets: Self.durationBuckets)
            .record(.seconds(metrics.durationSeconds))
        registry.makeCounter(descriptor: Self.receivedBytes, labels: labels).increment(by: Int64(metrics.bytesReceived))
        if let epsilon = metrics.epsilon { registry.makeGauge(descriptor: Self.epsilon, labels: labels).set(epsilon) }
        if let accuracy = metrics.accuracy { registry.makeGauge(descriptor: Self.accuracy, labels: labels).set(accuracy) }
        if let staleness = metrics.staleness {
            let histogram = registry.makeValueHistogram(descriptor: Self.staleness, labels: labels, buckets: Self.stalenessBuckets)
            for age in staleness.agents.values { histogram.record(Double(age)) }
        }
    }

    /// The agents whose retained status says they are connected.
    func online(_ agents: Int) {
        registry?.makeGauge(descriptor: Self.onlineAgents, labels: labels).set(Double(agents))
    }
}
