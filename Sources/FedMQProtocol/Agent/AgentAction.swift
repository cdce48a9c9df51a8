import FedMQCore

/// What the agent's runtime must do, in order, after an event.
public enum AgentAction: Sendable, Equatable {
    /// Train locally from `base` with `config`, then report `trainingFinished` (or `trainingFailed`).
    case train(round: Int, base: GlobalModel, config: TrainingConfig)
    /// Analytics: answer `analytics`' queries from the local records (`LocalStatistics`), then
    /// report `trainingFinished` with `base` plus the vector (or `trainingFailed`).
    case computeStatistics(round: Int, base: GlobalModel, analytics: AnalyticsSettings)
    /// Persist that `round` is served, the privacy mechanism it ran (if any) in the agent's
    /// ledger, and the update itself, durably, before publishing: a restart never trains twice
    /// for a round, and can send the same update again if the aggregator lost it. With top-k
    /// sparsification, also the `residual` the update held back.
    case recordServed(round: Int, event: DPEvent?, update: SentUpdate, residual: Parameters?)
    /// Publish the update at QoS 1 with MQTT 5 message expiry `expirySeconds` (the deadline),
    /// and `signature` (if the agent has an identity key) as the `fedmq-signature` user property.
    case publishUpdate(topic: String, payload: [UInt8], expirySeconds: UInt32, signature: String?)
    /// Publish a secure-aggregation message (QoS 1, MQTT 5 expiry `expirySeconds`, the stage's
    /// deadline as far as the agent knows the round's) with the agent's `signature`.
    case publishSecAgg(topic: String, payload: [UInt8], expirySeconds: UInt32, signature: String?)
    /// Evaluate `base` on the held-out data (and, with personalization, a copy fine-tuned with
    /// `training`), then publish the result on `round/<r>/eval/<agent>`.
    case evaluate(base: GlobalModel, training: TrainingConfig)
    /// Publish the agent's status, retained.
    case publishStatus(AgentStatus)
    /// This agent will not take part in `round`, and why: the owner's privacy policy forbids
    /// what the round asks, or a secure round failed a check. Worth a warning in the log.
    case refused(round: Int, reason: String)
    /// Something the owner should hear that is not a refused round (the job's model or round
    /// has not come: a wrong job name, an aggregator that is not running). A warning in the log.
    case warning(String)
    /// Nothing to do, and why (for the log).
    case ignored(String)
}

/// The update an agent published for its last served round, kept (durably, by the runtime)
/// so the very same bytes can be sent again when the aggregator says it does not hold them.
public struct SentUpdate: Sendable, Equatable {
    public var round: Int
    public var payload: [UInt8]
    public var signature: String?
    /// Asynchronous jobs: the round open when it was published, whose buffer (or a later one) it went to.
    public var publishedDuring: Int?

    /// The update sent for `round`, with its signature if the agent signs.
    public init(round: Int, payload: [UInt8], signature: String?, publishedDuring: Int? = nil) {
        self.round = round
        self.payload = payload
        self.signature = signature
        self.publishedDuring = publishedDuring
    }

    /// Whether this update belongs to the round `announcement` opens: it was trained for it, or
    /// (asynchronous jobs) published into its buffer.
    public func belongs(to announcement: RoundAnnouncement) -> Bool {
        round == announcement.round || (announcement.asynchronous != nil && publishedDuring == announcement.round)
    }
}
