/// Server-side ensemble distillation (FedDF, Lin et al., NeurIPS 2020): the round's mean as
/// FedAvg makes it, then fine-tuned on an unlabeled public data set to match the averaged
/// logits of the round's client models (global + each delta), at temperature T. It sees every
/// client model, so it runs without secure aggregation and without client-level privacy.
public struct ServerDistillation: Codable, Sendable, Equatable {
    public var temperature: Float
    public var epochs: Int
    public var learningRate: Float
    public var batchSize: Int

    /// Distillation at `temperature` for `epochs` of plain SGD over the public rows.
    public init(temperature: Float = 3, epochs: Int = 1, learningRate: Float = 0.05, batchSize: Int = 32) {
        self.temperature = temperature
        self.epochs = epochs
        self.learningRate = learningRate
        self.batchSize = batchSize
    }

    enum CodingKeys: String, CodingKey {
        case temperature, epochs
        case learningRate = "learning_rate"
        case batchSize = "batch_size"
    }

    /// Missing fields take the defaults of `init`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = ServerDistillation()
        temperature = try container.decodeIfPresent(Float.self, forKey: .temperature) ?? defaults.temperature
        epochs = try container.decodeIfPresent(Int.self, forKey: .epochs) ?? defaults.epochs
        learningRate = try container.decodeIfPresent(Float.self, forKey: .learningRate) ?? defaults.learningRate
        batchSize = try container.decodeIfPresent(Int.self, forKey: .batchSize) ?? defaults.batchSize
    }

    /// The student-side settings: only the ensemble's soft targets count (a = 1).
    func distillation(_ spec: ModelSpec) -> DistillationConfig {
        DistillationConfig(student: spec, alpha: 1, temperature: temperature, epochs: epochs, learningRate: learningRate, batchSize: batchSize)
    }

    /// Refuses settings out of range, naming the field.
    public func validate() throws(CoreError) {
        guard temperature > 0, temperature <= 100 else { throw .invalidTraining("server_distillation temperature must be within (0, 100]") }
        try TrainingConfig(learningRate: learningRate, batchSize: batchSize, epochs: epochs).validate()
    }
}

/// FedDF as an aggregation strategy: keeps the round's deltas beside FedAvg's running sum and
/// distills in `finish`.
public struct EnsembleDistillation: AggregationStrategy {
    public let settings: ServerDistillation
    public let spec: ModelSpec
    /// The public rows, scaled as the spec says; their labels are not used.
    let publicData: Dataset
    private var mean: FedAvg
    private var global: Parameters?
    private var deltas: [Parameters] = []
    private let seed: UInt64

    /// FedDF for a classifier `spec` on `publicData` (raw features; the spec's scaling is
    /// applied here), after a FedAvg with `weighting`.
    public init(
        settings: ServerDistillation, spec: ModelSpec, publicData: Dataset, weighting: FedAvg.Weighting, seed: UInt64 = 0
    ) throws(CoreError) {
        try settings.validate()
        guard spec.isClassifier else { throw .invalidModel("server distillation needs a classifier (its soft targets are class probabilities)") }
        guard publicData.featureCount == spec.inputs, publicData.count > 0 else {
            throw .invalidData(
                "the public data have \(publicData.featureCount) columns and \(publicData.count) rows; the model takes \(spec.inputs) inputs")
        }
        var scaled = publicData
        scaled.targets = [Float](repeating: 0, count: scaled.count)
        if let scaling = spec.scaling { try scaling.apply(to: &scaled) }
        self.settings = settings
        self.spec = spec
        self.publicData = scaled
        self.seed = seed
        mean = FedAvg(weighting: weighting)
    }

    /// Starts a round on the current global model, with no client models yet.
    public mutating func begin(global: Parameters) {
        self.global = global
        deltas = []
        mean.begin(global: global)
    }

    /// Folds the delta into FedAvg's sum and keeps it as one of the round's client models.
    public mutating func add(delta: Parameters, examples: Int) throws(CoreError) {
        try mean.add(delta: delta, examples: examples)
        deltas.append(delta)
    }

    /// FedAvg's model, fine-tuned towards the mean logits of the round's client models.
    public mutating func finish() throws(CoreError) -> Parameters {
        var model = try mean.finish()
        guard let global else { throw .invalidTraining("EnsembleDistillation.finish called before begin") }
        var clients: [Parameters] = []
        for delta in deltas {
            var client = global
            try client.add(delta)
            clients.append(client)
        }
        var network = try DenseNetwork(spec: spec)
        var random = SplitMix64(seed: seed &+ UInt64(deltas.count))
        let classes = spec.outputs
        try settings.distillation(spec).train(&model, on: publicData, random: &random) { batch in
            var sum = [Float](repeating: 0, count: batch.count * classes)
            for client in clients {
                let logits = batch.features.withUnsafeBufferPointer { network.outputs(client, features: $0, rows: batch.count) }
                for index in sum.indices { sum[index] += logits[index] / Float(clients.count) }
            }
            return sum
        }
        return model
    }
}
