import Foundation

/// Who may take part, by key: the aggregator's public key (agents check the global model and
/// round announcements against it) and every enrolled agent's (the aggregator checks updates
/// against them). `fedmq deploy init` writes it; JSON, `fedmq.enrolment/1`.
public struct Enrolment: Codable, Sendable, Equatable, SchemaVersioned {
    public static let schema = "fedmq.enrolment/1"
    public var schema: String = Self.schema
    public var aggregator: VerifyingKey?
    public var agents: [String: VerifyingKey]

    /// The aggregator's public key and each enrolled agent's.
    public init(aggregator: VerifyingKey?, agents: [String: VerifyingKey]) {
        self.aggregator = aggregator
        self.agents = agents
    }

    /// Refuses invalid agent ids.
    public func validate() throws(ProtocolError) {
        for agent in agents.keys { try Identifier.validate(agent, kind: "agent") }
    }
}
