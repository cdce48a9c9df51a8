/// Record-level DP-SGD on the device (Abadi et al. 2016): each step takes a Poisson sample of
/// the local rows (each with probability `samplingRate`), clips every example's gradient to
/// `clipNorm`, adds Gaussian noise with std `noiseMultiplier × clipNorm` to their sum, and
/// divides by the expected batch size. Protects each record of the device's data.
public struct DPSGDConfig: Codable, Sendable, Equatable {
    public var clipNorm: Double
    public var noiseMultiplier: Double
    public var samplingRate: Double

    /// DP-SGD with per-example clip norm, noise multiplier and Poisson sampling rate.
    public init(clipNorm: Double, noiseMultiplier: Double, samplingRate: Double) {
        self.clipNorm = clipNorm
        self.noiseMultiplier = noiseMultiplier
        self.samplingRate = samplingRate
    }

    enum CodingKeys: String, CodingKey {
        case clipNorm = "clip_norm"
        case noiseMultiplier = "noise_multiplier"
        case samplingRate = "sampling_rate"
    }

    /// Refuses a clip norm that is not positive, a negative multiplier and a sampling rate outside 1e-6...1.
    public func validate() throws(CoreError) {
        guard clipNorm > 0, clipNorm.isFinite else { throw .invalidTraining("dp_sgd clip_norm must be positive") }
        guard noiseMultiplier >= 0, noiseMultiplier.isFinite else { throw .invalidTraining("dp_sgd noise_multiplier must be >= 0") }
        // 1e-6 keeps epochs / sampling_rate (the step count) a modest integer.
        guard samplingRate >= 1e-6, samplingRate <= 1 else { throw .invalidTraining("dp_sgd sampling_rate must be within 1e-6 and 1") }
    }

    /// Steps for `epochs` passes: each step sees q·n rows on average, so 1/q steps per epoch.
    public func steps(epochs: Int) -> Int {
        max(1, Int((Double(epochs) / samplingRate).rounded()))
    }

    /// The mechanism `epochs` of training runs, for the accountant.
    public func event(epochs: Int) -> DPEvent {
        .selfComposed(
            event: .poissonSampled(probability: samplingRate, event: .gaussian(noiseMultiplier: noiseMultiplier)), count: steps(epochs: epochs))
    }
}
