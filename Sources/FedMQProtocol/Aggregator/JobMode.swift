/// How a job turns updates into models: lock-step rounds, or asynchronous buffers of updates
/// trained on whichever recent version an agent held.
public enum JobMode: String, Codable, Sendable, CaseIterable {
    case rounds
    case asynchronous
}
