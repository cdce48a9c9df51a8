/// Local training settings. JSON keys are snake_case, as in FedMQ's config files and round
/// messages.
public struct TrainingConfig: Codable, Sendable, Equatable {
    public var learningRate: Float
    public var momentum: Float
    public var weightDecay: Float
    public var batchSize: Int
    public var epochs: Int
    /// FedProx proximal term: adds mu/2 * |w - w_global|^2 to the loss. 0 turns it off.
    public var proximalMu: Float
    /// Record-level DP-SGD instead of plain mini-batches (then `batchSize` is unused).
    public var dpSGD: DPSGDConfig?
    /// Data augmentation of each batch (Gaussian noise, mixup); nil: none.
    public var augmentation: Augmentation?

    /// Local training settings; the defaults give plain SGD, batch 32, one epoch.
    public init(
        learningRate: Float = 0.1, momentum: Float = 0, weightDecay: Float = 0, batchSize: Int = 32, epochs: Int = 1,
        proximalMu: Float = 0, dpSGD: DPSGDConfig? = nil, augmentation: Augmentation? = nil
    ) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.batchSize = batchSize
        self.epochs = epochs
        self.proximalMu = proximalMu
        self.dpSGD = dpSGD
        self.augmentation = augmentation
    }

    enum CodingKeys: String, CodingKey {
        case learningRate = "learning_rate"
        case momentum
        case weightDecay = "weight_decay"
        case batchSize = "batch_size"
        case epochs
        case proximalMu = "proximal_mu"
        case dpSGD = "dp_sgd"
        case augmentation
    }

    /// Bounds that keep every derived count (steps, seeds) far inside Int: a round announcement
    /// comes from the network.
    public static let maxEpochs = 10_000
    public static let maxBatchSize = 1 << 24

    /// Missing fields take the defaults of `init`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = TrainingConfig()
        learningRate = try container.decodeIfPresent(Float.self, forKey: .learningRate) ?? defaults.learningRate
        momentum = try container.decodeIfPresent(Float.self, forKey: .momentum) ?? defaults.momentum
        weightDecay = try container.decodeIfPresent(Float.self, forKey: .weightDecay) ?? defaults.weightDecay
        batchSize = try container.decodeIfPresent(Int.self, forKey: .batchSize) ?? defaults.batchSize
        epochs = try container.decodeIfPresent(Int.self, forKey: .epochs) ?? defaults.epochs
        proximalMu = try container.decodeIfPresent(Float.self, forKey: .proximalMu) ?? defaults.proximalMu
        dpSGD = try container.decodeIfPresent(DPSGDConfig.self, forKey: .dpSGD)
        augmentation = try container.decodeIfPresent(Augmentation.self, forKey: .augmentation)
    }

    /// Refuses settings that cannot train, naming the field (rate, momentum, decay, batch, epochs,
    /// DP-SGD, augmentation, and mixup beside DP-SGD).
    public func validate() throws(CoreError) {
        if !(learningRate > 0 && learningRate.isFinite) { throw .invalidTraining("learning_rate must be positive") }
        if !(0..<1).contains(momentum) { throw .invalidTraining("momentum must be in [0, 1)") }
        if !(weightDecay >= 0 && weightDecay.isFinite) { throw .invalidTraining("weight_decay must be non-negative") }
        if !(proximalMu >= 0 && proximalMu.isFinite) { throw .invalidTraining("proximal_mu must be non-negative") }
        if !(1...Self.maxBatchSize).contains(batchSize) { throw .invalidTraining("batch_size must be within 1...\(Self.maxBatchSize)") }
        if !(1...Self.maxEpochs).contains(epochs) { throw .invalidTraining("epochs must be within 1...\(Self.maxEpochs)") }
        try dpSGD?.validate()
        try augmentation?.validate()
        if dpSGD != nil, let augmentation, augmentation.mixupAlpha > 0 {
            throw .invalidTraining(
                "mixup blends two records into one example, so DP-SGD's per-example clipping would no longer bound one record: leave out augmentation.mixup_alpha or dp_sgd"
            )
        }
    }
}
