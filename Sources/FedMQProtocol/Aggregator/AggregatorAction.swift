/// What the aggregator's runtime must do, in order, after an event.
public enum AggregatorAction: Sendable, Equatable {
    /// Persist an accepted update durably (write, fsync) before anything else happens; it
    /// already counts in the state machine's round. The signature is kept where the round needs
    /// it again after a restart (homomorphic rounds hand it to the key holder).
    case spool(round: Int, agent: String, payload: [UInt8], signature: String? = nil)
    /// Persist checkpoint and model atomically; spooled updates of earlier rounds may go.
    case checkpoint(AggregatorCheckpoint, model: [UInt8])
    /// Publish the global model, retained.
    case publishModel([UInt8])
    /// Publish the round announcement, retained.
    case publishRound(RoundAnnouncement)
    /// Publish the closed round's metrics, retained, and append them to the metrics log.
    case publishMetrics(RoundMetrics)
    /// Publish a secure-aggregation message of the aggregator (a roster or share delivery to
    /// one agent's inbox, or the round's unmask request), retained with MQTT 5 message expiry
    /// `expirySeconds` (its stage's deadline), signed as `SignedStatement.secAgg(kind, …)`.
    case publishSecAgg(topic: String, payload: [UInt8], kind: String, round: Int, expirySeconds: UInt32)
    /// Publish a homomorphic round's decryption request (the product of `updates` encrypted
    /// updates) on `round/<round>/he/request`, retained with MQTT 5 message expiry
    /// `expirySeconds` (the decryption deadline), signed as `SignedStatement.homomorphic("he-request", …)`.
    case requestDecryption(round: Int, payload: [UInt8], updates: Int, expirySeconds: UInt32)
    /// Log a key or sum of a homomorphic round that was not used, and why.
    case homomorphicIgnored(round: Int, reason: String)
    /// Log (and count) a refused update.
    case rejected(Rejection)
    /// Log an agent status that is not tracked, and why.
    case statusIgnored(agent: String, reason: String)
    /// Log an agent evaluation that does not count, and why.
    case evaluationIgnored(agent: String, round: Int, reason: String)
    /// Too few updates at the deadline: the round goes on until `deadline`.
    case extended(round: Int, accepted: Int, deadline: Double)
    /// The configured number of rounds is done.
    case finished
}
