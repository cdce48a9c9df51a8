/// Federated rounds in one process, with the core's trainer, strategies and privacy code: for
/// tests and benchmarks that compare settings rather than transports.
///
/// Round r, client k shuffles with SplitMix64(1000·r + k + seed) (the shared benchmark task's
/// rule when seed is 0) and draws DP-SGD noise from SplitMix64(31·seed + 1000·r + k).
public struct FederatedSimulation {
    public var spec: ModelSpec
    public var clients: [Dataset]
    public var rounds: Int
    public var training: TrainingConfig
    /// Client-level DP applied to each delta (and by the aggregator in central mode).
    public var privacy: ClientPrivacy?
    public var seed: UInt64

    /// A simulation of `rounds` rounds over `clients`' data sets, seeded.
    public init(
        spec: ModelSpec, clients: [Dataset], rounds: Int, training: TrainingConfig, privacy: ClientPrivacy? = nil, seed: UInt64 = 0
    ) {
        self.spec = spec
        self.clients = clients
        self.rounds = rounds
        self.training = training
        self.privacy = privacy
        self.seed = seed
    }

    /// Runs every round from `initial` and returns the final global model. `tamper` may
    /// change client k's delta before it is aggregated (attack simulations); `afterRound`
    /// sees each new global model.
    public func run(
        from initial: Parameters, strategy: any AggregationStrategy,
        tamper: (_ client: Int, _ delta: inout Parameters) -> Void = { _, _ in },
        afterRound: (_ round: Int, _ global: Parameters) throws -> Void = { _, _ in }
    ) throws -> Parameters {
        var strategy = strategy
        var global = initial
        var noise = SplitMix64(seed: seed &+ 7)
        for round in 1...rounds {
            strategy.begin(global: global)
            for (index, data) in clients.enumerated() {
                let stream = UInt64(1000 * round + index)
                var local = global
                var trainer = try Trainer(spec: spec, config: training, privacyRandom: SplitMix64(seed: seed &* 31 &+ stream))
                var shuffle = SplitMix64(seed: stream &+ seed)
                _ = try trainer.train(&local, on: data, random: &shuffle, reference: global)
                try local.subtract(global)
                try privacy?.privatize(&local, using: &noise)
                tamper(index, &local)
                try strategy.add(delta: local, examples: data.count)
            }
            global = try strategy.finish()
            if let privacy {
                try privacy.addAggregatorNoise(to: &global, updates: clients.count, using: &noise)
            }
            try afterRound(round, global)
        }
        return global
    }
}
