/// Mini-batch SGD with momentum, weight decay and the FedProx proximal term.
///
/// Each step computes the gradient of the mean batch loss at the current parameters, adds
/// `weightDecay * w + proximalMu * (w - reference)`, folds it into the momentum buffer
/// (`v = momentum * v + g`) and steps `w -= learningRate * v`.
public struct Trainer {
    public let config: TrainingConfig
    private var network: DenseNetwork
    private var gradient: Parameters
    private var velocity: Parameters?
    private var batchFeatures: [Float] = []
    private var batchTargets: [Float] = []
    /// DP-SGD's sampling and noise: the system's CSPRNG unless a test passes a seeded one.
    private var privacyRandom: any RandomNumberGenerator

    /// A trainer for `spec` with the local training settings.
    public init(
        spec: ModelSpec, config: TrainingConfig, privacyRandom: any RandomNumberGenerator = SystemRandomNumberGenerator()
    ) throws(CoreError) {
        try config.validate()
        self.config = config
        self.privacyRandom = privacyRandom
        network = try DenseNetwork(spec: spec)
        gradient = try spec.initialParameters(seed: 0).zeros()
    }

    /// What a training run did.
    public struct Report: Sendable, Equatable {
        /// Mean batch loss over the last epoch.
        public var meanLoss: Double
        public var steps: Int
        public var examples: Int
        /// With DP-SGD: the mechanism this training ran, for the accountant.
        public var privacyEvent: DPEvent?
    }

    /// Trains `parameters` in place on `data`. Each epoch visits the rows in the order of
    /// `random.permutation(n)`, in consecutive batches (the last one smaller). `reference` is
    /// the global model for FedProx (required when `proximalMu > 0`).
    public mutating func train(
        _ parameters: inout Parameters, on data: Dataset, random: inout SplitMix64, reference: Parameters? = nil
    ) throws(CoreError) -> Report {
        try network.spec.check(parameters)
        guard data.featureCount == network.spec.inputs else {
            throw .invalidData("data has \(data.featureCount) features, the model takes \(network.spec.inputs)")
        }
        guard data.count > 0 else { throw .invalidData("no rows to train on") }
        if network.spec.isClassifier { _ = try data.labels(classes: network.spec.outputs) }
        if config.proximalMu > 0 {
            guard let reference else { throw .invalidTraining("proximal_mu > 0 needs the global model as reference") }
            try parameters.checkCompatible(with: reference)
        }
        try config.augmentation?.check(featureCount: data.featureCount)
        if config.momentum > 0 && velocity == nil { velocity = parameters.zeros() }
        // Dropout's masks follow the run's seed (drawn only for models with dropout, so the
        // shuffles of the others stay as they were).
        if network.usesRandomness { network.reseed(random.next()) }
        if let dpSGD = config.dpSGD { return try trainPrivately(&parameters, on: data, dpSGD: dpSGD, reference: reference) }
        let width = data.featureCount
        var steps = 0
        var lossSum = 0.0
        var lastEpochBatches = 0
        for epoch in 0..<config.epochs {
            let order = random.permutation(data.count)
            if epoch == config.epochs - 1 { lossSum = 0 }
            lastEpochBatches = 0
            var start = 0
            while start < order.count {
                let rows = min(config.batchSize, order.count - start)
                batchFeatures.removeAll(keepingCapacity: true)
                batchTargets.removeAll(keepingCapacity: true)
                for index in order[start..<(start + rows)] {
                    batchFeatures += data.features[(index * width)..<((index + 1) * width)]
                    batchTargets.append(data.targets[index])
                }
                config.augmentation?.perturb(&batchFeatures, rows: rows, using: &random)
                let mixed = config.augmentation?.mix(&batchFeatures, targets: batchTargets, rows: rows, width: width, using: &random)
                let loss = batchFeatures.withUnsafeBufferPointer { features in
                    batchTargets.withUnsafeBufferPointer { targets in
                        network.lossAndGradient(parameters, features: features, targets: targets, rows: rows, into: &gradient, mixed: mixed)
                    }
                }
                step(&parameters, reference: reference)
                lossSum += loss
                lastEpochBatches += 1
                steps += 1
                start += rows
            }
        }
        return Report(meanLoss: lossSum / Double(max(1, lastEpochBatches)), steps: steps, examples: data.count, privacyEvent: nil)
    }

    /// DP-SGD: Poisson batches, per-example clipping, Gaussian noise on the clipped sum.
    private mutating func trainPrivately(
        _ parameters: inout Parameters, on data: Dataset, dpSGD: DPSGDConfig, reference: Parameters?
    ) throws(CoreError) -> Report {
        let width = data.featureCount
        let steps = dpSGD.steps(epochs: config.epochs)
        let expectedBatch = Float(dpSGD.samplingRate * Double(data.count))
        var example = parameters.zeros()
        var sum = parameters.zeros()
        var lossSum = 0.0
        var examplesSeen = 0
        for _ in 0..<steps {
            sum.scale(by: 0)
            for row in 0..<data.count where privacyRandom.nextUnit() < dpSGD.samplingRate {
                // Noise on one example's features keeps the per-example bound (mixup is refused).
                batchFeatures = Array(data.features[(row * width)..<((row + 1) * width)])
                config.augmentation?.perturb(&batchFeatures, rows: 1, using: &privacyRandom)
                let loss = batchFeatures.withUnsafeBufferPointer { features in
                    [data.targets[row]].withUnsafeBufferPointer { target in
                        network.lossAndGradient(parameters, features: features, targets: target, rows: 1, into: &example)
                    }
                }
                example.clip(norm: dpSGD.clipNorm)
                try sum.add(example)
                lossSum += loss
                examplesSeen += 1
            }
            try GaussianNoise.add(to: &sum, std: dpSGD.noiseMultiplier * dpSGD.clipNorm, using: &privacyRandom)
            sum.scale(by: 1 / max(expectedBatch, 1))
            gradient = sum
            step(&parameters, reference: reference)
        }
        return Report(
            meanLoss: lossSum / Double(max(1, examplesSeen)), steps: steps, examples: data.count,
            privacyEvent: dpSGD.event(epochs: config.epochs))
    }

    private mutating func step(_ parameters: inout Parameters, reference: Parameters?) {
        let (rate, decay, mu, momentum) = (config.learningRate, config.weightDecay, config.proximalMu, config.momentum)
        for index in parameters.tensors.indices {
            let anchor = mu > 0 ? reference?.tensors[index].values : nil
            gradient.withValues(at: index) { gradientValues in
                parameters.withValues(at: index) { weightValues in
                    gradientValues.withUnsafeMutableBufferPointer { g in
                        weightValues.withUnsafeMutableBufferPointer { w in
                            let weights = UnsafeBufferPointer(w)
                            if decay > 0 { Vector.axpy(decay, weights, g) }
                            if let anchor {
                                Vector.axpy(mu, weights, g)
                                anchor.withUnsafeBufferPointer { Vector.axpy(-mu, $0, g) }
                            }
                            if momentum > 0, velocity != nil {
                                velocity!.withValues(at: index) { velocityValues in
                                    velocityValues.withUnsafeMutableBufferPointer { v in
                                        Vector.scale(momentum, v)
                                        Vector.axpy(1, UnsafeBufferPointer(g), v)
                                        Vector.axpy(-rate, UnsafeBufferPointer(v), w)
                                    }
                                }
                            } else {
                                Vector.axpy(-rate, UnsafeBufferPointer(g), w)
                            }
                        }
                    }
                }
            }
        }
    }
}
