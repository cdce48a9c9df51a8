import FoundationEssentials

/// Augmentations of sensor windows: rows that are flattened windows of `channels` channels
/// by `length` readings, channel-major (channel 0's readings, then channel 1's, ...). Each is
/// drawn per example (so it keeps DP-SGD's per-example bound), from the round's seeded
/// generator; 0 turns one off.
public struct WindowAugmentation: Codable, Sendable, Equatable {
    public var channels: Int
    public var length: Int
    /// σ of a per-example, per-channel factor s ~ N(1, σ) the whole channel is multiplied by.
    public var scaling: Double
    /// σ of a smooth random curve (a Catmull-Rom spline through `knots` + 2 values ~ N(1, σ)
    /// spread over the window) each channel is multiplied by.
    public var magnitudeWarp: Double
    public var knots: Int
    /// The largest shift, in readings: every channel is rolled (circularly) by the same offset,
    /// drawn uniformly from −timeShift...timeShift.
    public var timeShift: Int

    /// Windows of `channels` x `length`, with the given strengths (0: off).
    public init(channels: Int, length: Int, scaling: Double = 0, magnitudeWarp: Double = 0, knots: Int = 4, timeShift: Int = 0) {
        self.channels = channels
        self.length = length
        self.scaling = scaling
        self.magnitudeWarp = magnitudeWarp
        self.knots = knots
        self.timeShift = timeShift
    }

    enum CodingKeys: String, CodingKey {
        case channels, length, scaling, knots
        case magnitudeWarp = "magnitude_warp"
        case timeShift = "time_shift"
    }

    /// `channels` and `length` are required; the strengths default to off and `knots` to 4.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        channels = try container.decode(Int.self, forKey: .channels)
        length = try container.decode(Int.self, forKey: .length)
        scaling = try container.decodeIfPresent(Double.self, forKey: .scaling) ?? 0
        magnitudeWarp = try container.decodeIfPresent(Double.self, forKey: .magnitudeWarp) ?? 0
        knots = try container.decodeIfPresent(Int.self, forKey: .knots) ?? 4
        timeShift = try container.decodeIfPresent(Int.self, forKey: .timeShift) ?? 0
    }

    /// Refuses shapes and strengths out of range, naming the field.
    public func validate() throws(CoreError) {
        guard (1...4096).contains(channels), (2...1 << 20).contains(length), channels * length <= 1 << 24 else {
            throw .invalidTraining("augmentation.window needs 1...4096 channels and a length of 2...2^20 readings")
        }
        guard (0...10).contains(scaling), (0...10).contains(magnitudeWarp) else {
            throw .invalidTraining("augmentation.window scaling and magnitude_warp must be within 0...10")
        }
        guard (1...64).contains(knots) else { throw .invalidTraining("augmentation.window knots must be within 1...64") }
        guard (0..<length).contains(timeShift) else { throw .invalidTraining("augmentation.window time_shift must be within 0..<length") }
    }

    /// Applies the augmentations to each of the `rows` rows of `features`.
    public func apply(to features: inout [Float], rows: Int, using random: inout some RandomNumberGenerator) {
        let width = channels * length
        guard features.count >= rows * width else { return }
        for row in 0..<rows {
            let shift = timeShift > 0 ? Int(random.next() % UInt64(2 * timeShift + 1)) - timeShift : 0
            for channel in 0..<channels {
                let start = row * width + channel * length
                var values = Array(features[start..<(start + length)])
                if shift != 0 { values = (0..<length).map { values[(($0 - shift) % length + length) % length] } }
                if scaling > 0 {
                    let factor = Float(1 + random.nextGaussian() * scaling)
                    for index in values.indices { values[index] *= factor }
                }
                if magnitudeWarp > 0 {
                    let curve = warpCurve(using: &random)
                    for index in values.indices { values[index] *= curve[index] }
                }
                features.replaceSubrange(start..<(start + length), with: values)
            }
        }
    }

    /// A smooth curve over the window: Catmull-Rom through knots + 2 points ~ N(1, σ), evenly spaced.
    public func warpCurve(using random: inout some RandomNumberGenerator) -> [Float] {
        let points = (0..<(knots + 2)).map { _ in 1 + random.nextGaussian() * magnitudeWarp }
        let segments = Double(points.count - 1)
        return (0..<length).map { index in
            let position = Double(index) / Double(length - 1) * segments
            let k = min(Int(position), points.count - 2)
            let t = position - Double(k)
            let (p0, p1, p2, p3) = (points[max(k - 1, 0)], points[k], points[k + 1], points[min(k + 2, points.count - 1)])
            let value =
                0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t * t + (-p0 + 3 * p1 - 3 * p2 + p3) * t * t * t)
            return Float(value)
        }
    }
}
