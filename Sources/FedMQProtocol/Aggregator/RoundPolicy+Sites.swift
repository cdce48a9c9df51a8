import FedMQCore

extension RoundPolicy {
    /// Strategies whose round folds into a partial aggregate a parent can fold again: the
    /// weighted mean (and the server optimizers, which step on it at the central aggregator).
    /// A median, trimmed mean or Krum of site results is not the one over all updates.
    static let decomposableStrategies: Set<String> = Set(["fedavg", "mean"] + ServerOptimizer.Kind.allCases.map(\.rawValue))

    /// A central aggregator with sites folds partial aggregates of updates that the sites saw in
    /// the clear: everything that needs each update, or hides it, is refused by name.
    func validateSites() throws(ProtocolError) {
        guard let sites else {
            if ingestShards { throw .invalidConfiguration("ingest_shards needs the shards' names in 'sites'") }
            return
        }
        func refuse(_ what: String) -> ProtocolError { .invalidConfiguration("a central aggregator with sites \(what)") }
        if sites.isEmpty { throw refuse("needs at least one site in 'sites'") }
        for site in sites { try Identifier.validate(site, kind: "site") }
        if Set(sites).count != sites.count { throw refuse("needs distinct site names") }
        if targetUpdates > sites.count {
            throw refuse("counts sites in target_updates (\(targetUpdates)), which cannot exceed the \(sites.count) sites")
        }
        if secureAggregation != nil { throw refuse("cannot run secure_aggregation: its masks cancel only in one sum over all agents") }
        if homomorphic != nil { throw refuse("cannot run homomorphic aggregation: the key holder decrypts one product over all agents") }
        if mode != .rounds { throw refuse("runs in mode 'rounds' (asynchronous buffers have no partials yet)") }
        if selection != nil { throw refuse("cannot select clients: it does not see the agents (each site does)") }
        if serverDistillation != nil { throw refuse("cannot distill: server_distillation needs every client model") }
        if analytics != nil { throw refuse("does not run analytics jobs yet") }
        if evaluateEvery != nil { throw refuse("does not run federated evaluation yet (agents' evaluations stay at their site)") }
        if allowedAgents != nil { throw refuse("does not see agents: name them in each site aggregator's allowed_agents") }
        if let strategy, !Self.decomposableStrategies.contains(strategy.name) {
            throw refuse(
                "cannot run strategy '\(strategy.name)': it has no partial aggregate (use \(Self.decomposableStrategies.sorted().joined(separator: ", ")))"
            )
        }
    }
}
