/// What a broker must queue for an aggregator's session at the end of a round: up to four
/// messages per agent (the update, two statuses and, with federated evaluation, an evaluation)
/// arrive at about the same time, and mosquitto drops QoS 1 messages past its
/// `max_queued_messages`, so an update lost there would not count.
public enum BrokerSizing {
    public static let messagesPerAgentPerRound = 4

    /// `max_queued_messages` for a fleet of `agents`: room for one round's burst, and never
    /// below the 10,000 FedMQ's deployment files have always shipped.
    public static func queuedMessages(forAgents agents: Int) -> Int {
        max(10_000, messagesPerAgentPerRound * max(0, agents))
    }
}
