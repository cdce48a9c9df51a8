import FedMQCommandLine
import FedMQCore
import FedMQProtocol

/// A whole secure-aggregation round in memory, every agent and the aggregator as their real
/// state machines with real keys, shares, ciphers and masks, messages handed over directly:
/// for benchmarks that measure what secure aggregation does to a model, not to a network.
public enum SecAggSimulation {
    /// The sum (modulo 2^32) of `inputs`, one per agent, as the aggregator decodes it.
    public static func sum(
        _ inputs: [String: [UInt32]], dropout: Double, corruption: Double, using random: inout some RandomNumberGenerator
    ) throws(ProtocolError) -> [UInt32] {
        guard let dimension = inputs.first?.value.count else { throw .secureAggregation("no inputs") }
        let identities = inputs.keys.reduce(into: [String: SigningKey]()) { $0[$1] = SigningKey() }
        var server = SecAggServer(
            job: "simulation", round: 1, dimension: dimension, cohort: Set(inputs.keys), enrolled: identities.mapValues(\.publicKey),
            dropout: dropout, corruption: corruption, seed: UInt64.random(in: 0...UInt64.max, using: &random))
        var clients: [String: SecAggClient] = [:]
        for (name, identity) in identities {
            let client = try SecAggClient(agent: name, job: "simulation", round: 1, identity: identity, using: &random)
            try server.keysReceived(from: name, client.keys)
            clients[name] = client
        }
        let requirements = SecAggRequirements(
            enrolled: identities.mapValues(\.publicKey), minimumCohort: 2, dropoutRate: dropout, corruptionRate: corruption)
        for roster in try server.closeKeys() {
            try server.sharesReceived(
                from: roster.agent, try clients[roster.agent]!.rosterReceived(roster, requirements: requirements, using: &random))
        }
        for delivery in try server.closeShares() { try clients[delivery.agent]!.deliveryReceived(delivery) }
        for (name, input) in inputs { try server.maskedReceived(from: name, try clients[name]!.maskedInput(input)) }
        let unmask = try server.closeMasking()
        for name in unmask.survivors { try server.revealReceived(from: name, try clients[name]!.reveal(unmask)) }
        return try server.finish().sum
    }
}
