import FedMQCore

/// What the agent's runtime must do, in order, after an event.
public enum AgentAction: Sendable, Equatable {
    /// Train locally from `base` with `config`, then report `trainingFinished` (or `trainingFailed`).
    case train(round: Int, base: GlobalModel, config: TrainingConfig)
    /// Persist that `round` is served, and the privacy mechanism it ran (if any) in the
    /// agent's ledger, durably, before publishing: a restart never publishes twice.
    case recordServed(round: Int, event: DPEvent?)
    /// Publish the update at QoS 1 with MQTT 5 message expiry `expirySeconds` (the deadline),
    /// and `signature` (if the agent has an identity key) as the `fedmq-signature` user property.
    case publishUpdate(topic: String, payload: [UInt8], expirySeconds: UInt32, signature: String?)
    /// Publish the agent's status, retained.
    case publishStatus(AgentStatus)
    /// Nothing to do, and why (for the log).
    case ignored(String)
}
