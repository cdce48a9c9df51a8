import FedMQCore

/// Federated rounds in one process, with the core's FedAvg, trainer and privacy code: for
/// benchmarks that compare settings, not transports.
struct FederatedSimulation {
    var spec: ModelSpec
    var clients: [Dataset]
    var test: Dataset
    var rounds: Int
    var training: TrainingConfig
    var privacy: ClientPrivacy?
    var seed: UInt64

    /// Final test accuracy.
    func run() throws -> Double {
        var global = try spec.initialParameters(seed: seed)
        var noise = SplitMix64(seed: seed &+ 7)
        for round in 1...rounds {
            var fedavg = FedAvg(weighting: privacy == nil ? .examples : .uniform)
            fedavg.begin(global: global)
            for (index, data) in clients.enumerated() {
                var local = global
                var trainer = try Trainer(
                    spec: spec, config: training, privacyRandom: SplitMix64(seed: seed &* 31 &+ UInt64(1000 * round + index)))
                var shuffle = SplitMix64(seed: UInt64(1000 * round + index) &+ seed)
                _ = try trainer.train(&local, on: data, random: &shuffle)
                try local.subtract(global)
                privacy?.privatize(&local, using: &noise)
                try fedavg.add(delta: local, examples: data.count)
            }
            global = try fedavg.finish()
            if let privacy {
                GaussianNoise.add(to: &global, std: privacy.aggregatorNoiseStd(updates: clients.count), using: &noise)
            }
        }
        return try Evaluation.evaluate(global, spec: spec, on: test).accuracy ?? 0
    }
}
