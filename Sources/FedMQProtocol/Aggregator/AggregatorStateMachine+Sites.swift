import FedMQCore

/// A central aggregator with sites: it folds each site aggregator's partial aggregate (its
/// agents' weighted mean delta, weighted by their examples or count) with the same strategy code
/// that folds an agent's update, and closes the round when every site (or, at the deadline, the
/// quorum of sites) has sent one.
extension AggregatorStateMachine {
    /// A site's partial arrived on `round/<round>/partial/<site>`, with its `fedmq-signature` property if any.
    public mutating func receivePartial(site: String, round: Int, payload: [UInt8], signature: String? = nil, now: Double) -> [AggregatorAction] {
        bytesReceived += payload.count
        guard policy.sites != nil else {
            return reject(
                Rejection(
                    agent: site, round: round, reason: .wrongContributor,
                    detail: "this aggregator has no sites (policy.sites): it takes agents' updates"))
        }
        guard !finished else { return reject(Rejection(agent: site, round: round, reason: .closedRound, detail: "the job is finished")) }
        return accept(agent: site, round: round, payload: payload, signature: signature, now: now)
    }

    /// What the round's metrics say of its sites: the agents' updates each contributing site
    /// folded, the sites missing, and the total count of agents' updates (what privacy's noise
    /// and accounting divide by). Without sites, the participants are agents, one update each.
    func siteReport(_ participants: [String: Int]) -> (updates: Int, siteUpdates: [String: Int]?, missingSites: [String]?) {
        guard let sites = policy.sites else { return (participants.count, nil, nil) }
        let counts = partialUpdates.filter { participants[$0.key] != nil }
        return (counts.values.reduce(0, +), counts, sites.filter { participants[$0] == nil })
    }

    /// Who added the privacy noise the metrics report: the agents, or the aggregator in central mode.
    var noiseAddedBy: String? {
        policy.privacy.map { $0.mode == .central ? "aggregator" : "agents" }
    }
}
