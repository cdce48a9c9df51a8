/// Data augmentation of tabular rows in local training, against small and skewed local data:
/// applied to each mini-batch, drawn from the round's seeded shuffle generator (so a run is
/// reproducible), off unless set. Rows that are flattened sensor windows also take window
/// augmentations (`window`: scaling, magnitude warp, time shift; Gaussian noise is the jitter).
public struct Augmentation: Codable, Sendable, Equatable {
    /// σ of Gaussian noise added to every feature of every example, in the model's input units
    /// (after the spec's scaling: standard deviations of a standardized feature); 0 is off.
    public var gaussianNoise: Double
    /// α of mixup (Zhang et al., ICLR 2018): each batch is blended with a shuffled copy of itself,
    /// x = λ·x_i + (1 − λ)·x_j with λ ~ Beta(α, α) per batch, and the loss is λ·L(y_i) +
    /// (1 − λ)·L(y_j); 0 is off.
    public var mixupAlpha: Double
    /// Augmentations of rows that are flattened sensor windows; nil: none.
    public var window: WindowAugmentation?

    /// Noise of σ `gaussianNoise`, mixup with `mixupAlpha` (0 turns either off) and window augmentations.
    public init(gaussianNoise: Double = 0, mixupAlpha: Double = 0, window: WindowAugmentation? = nil) {
        self.gaussianNoise = gaussianNoise
        self.mixupAlpha = mixupAlpha
        self.window = window
    }

    enum CodingKeys: String, CodingKey {
        case gaussianNoise = "gaussian_noise"
        case mixupAlpha = "mixup_alpha"
        case window
    }

    /// Missing fields are off.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        gaussianNoise = try container.decodeIfPresent(Double.self, forKey: .gaussianNoise) ?? 0
        mixupAlpha = try container.decodeIfPresent(Double.self, forKey: .mixupAlpha) ?? 0
        window = try container.decodeIfPresent(WindowAugmentation.self, forKey: .window)
    }

    /// Refuses values outside [0, 100], naming the field.
    public func validate() throws(CoreError) {
        guard (0...100).contains(gaussianNoise) else { throw .invalidTraining("augmentation gaussian_noise must be within 0...100") }
        guard (0...100).contains(mixupAlpha) else { throw .invalidTraining("augmentation mixup_alpha must be within 0...100") }
        try window?.validate()
    }

    /// Refuses rows that are not the windows `window` describes.
    func check(featureCount: Int) throws(CoreError) {
        guard let window, window.channels * window.length != featureCount else { return }
        throw .invalidTraining(
            "augmentation.window is \(window.channels) channels x \(window.length) readings = \(window.channels * window.length) values; the rows have \(featureCount)"
        )
    }

    /// Blends the batch (`rows` rows of `width` features) with a shuffled copy of itself and
    /// returns λ and each row's partner's target, or nil without mixup.
    func mix(
        _ features: inout [Float], targets: [Float], rows: Int, width: Int, using random: inout SplitMix64
    ) -> (lambda: Float, partners: [Float])? {
        guard mixupAlpha > 0 else { return nil }
        let a = random.nextGamma(shape: mixupAlpha)
        let b = random.nextGamma(shape: mixupAlpha)
        let lambda = Float(a + b > 0 ? a / (a + b) : 0.5)
        let partner = random.permutation(rows)
        let original = features
        for row in 0..<rows {
            for column in 0..<width {
                features[row * width + column] = lambda * original[row * width + column] + (1 - lambda) * original[partner[row] * width + column]
            }
        }
        return (lambda, partner.map { targets[$0] })
    }

    /// Applies the per-example augmentations to `rows` rows of `features`: the window ones,
    /// then the Gaussian noise on every value.
    func perturb(_ features: inout [Float], rows: Int, using random: inout some RandomNumberGenerator) {
        window?.apply(to: &features, rows: rows, using: &random)
        guard gaussianNoise > 0 else { return }
        for index in features.indices { features[index] += Float(random.nextGaussian() * gaussianNoise) }
    }
}
