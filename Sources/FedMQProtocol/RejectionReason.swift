/// Why the aggregator refused an update. Raw values appear in metrics and logs.
public enum RejectionReason: String, Sendable, Codable, CaseIterable {
    case tooLarge = "too_large"
    case senderNotAllowed = "sender_not_allowed"
    case closedRound = "closed_round"
    case wrongRound = "wrong_round"
    case duplicate
    /// Asynchronous jobs: the update was trained on a version older than `max_staleness` allows.
    case stale
    /// Client selection is on and this agent was not picked for the round.
    case notSelected = "not_selected"
    /// Signatures are required (an enrolment is configured) and this update has none.
    case unsigned
    /// No enrolled key for the sending agent.
    case unknownSigner = "unknown_signer"
    /// The signature does not verify for this job, round, base model, agent and payload.
    case badSignature = "bad_signature"
    case undecodable
    case wrongJob = "wrong_job"
    /// Metadata says another agent than the topic does.
    case senderMismatch = "sender_mismatch"
    case badMetadata = "bad_metadata"
    case baseMismatch = "base_mismatch"
    case tensorMismatch = "tensor_mismatch"
    case nonFinite = "non_finite"
    case normTooLarge = "norm_too_large"
    /// A secure-aggregation message that does not fit the round's stage or fails a check.
    case secureAggregation = "secure_aggregation"
    /// An encrypted update that does not fit the round's key or packing, or a round that takes
    /// no more updates while its aggregate is being decrypted.
    case homomorphic
    /// An agent's update sent to a central aggregator that folds site partials, or a partial
    /// sent to an aggregator without sites.
    case wrongContributor = "wrong_contributor"
}

/// A refused update: who sent it, why, and the details.
public struct Rejection: Sendable, Equatable, Error {
    public var agent: String
    public var round: Int
    public var reason: RejectionReason
    public var detail: String
}
