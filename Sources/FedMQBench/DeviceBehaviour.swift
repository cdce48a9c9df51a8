import FedMQCommandLine
import FedMQCore
import Foundation

/// How simulated devices behave, seeded so that two runs (say, a synchronous and an
/// asynchronous job) meet the same fleet: when each device is online, and how long each of
/// its trainings takes.
struct DeviceBehaviour: Sendable {
    /// When a device is online.
    enum Availability: Sendable, Equatable {
        case always
        /// A two-state Markov chain in continuous time: online and offline periods drawn from
        /// exponential distributions, online `fraction` of the time, `meanOnlineSeconds` at a stretch.
        case markov(fraction: Double, meanOnlineSeconds: Double)
        /// Online periods from a trace file, per agent, in seconds since the simulation started.
        case trace([String: [OnlinePeriod]])
    }

    struct OnlinePeriod: Sendable, Equatable {
        var start: Double
        var end: Double
    }

    var availability = Availability.always
    /// Each training lasts a log-normal time: this median, and this standard deviation of its logarithm.
    var trainingMedianSeconds = 0.0
    var trainingSigma = 0.0
    /// This share of the devices (chosen by the seed) trains `slowFactor` times slower.
    var slowFraction = 0.0
    var slowFactor = 1.0
    var seed: UInt64 = 0

    /// Agent `index`'s random stream for one purpose: the same in every run with this seed.
    private func random(_ index: Int, purpose: UInt64) -> SplitMix64 {
        SplitMix64(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index) &* 0xBF58_476D_1CE4_E5B9 &+ purpose)
    }

    /// Whether agent `index` is one of the slow ones (exactly round(slowFraction x agents) are).
    func isSlow(_ index: Int, of agents: Int) -> Bool {
        let count = Int((slowFraction * Double(agents)).rounded())
        guard count > 0 else { return false }
        // A seeded permutation of the agents; the first `count` are slow.
        var generator = random(0, purpose: 1)
        let order = (0..<agents).shuffled(using: &generator)
        return order.prefix(count).contains(index)
    }

    /// How long agent `index`'s `draw`-th training takes, in seconds.
    func trainingSeconds(agent index: Int, of agents: Int, draw: Int) -> Double {
        guard trainingMedianSeconds > 0 else { return 0 }
        var generator = random(index, purpose: 2 &+ UInt64(draw) << 8)
        let seconds = trainingMedianSeconds * exp(trainingSigma * generator.nextGaussian())
        return isSlow(index, of: agents) ? seconds * slowFactor : seconds
    }

    /// Agent `index`'s online periods within the first `horizon` seconds.
    func onlinePeriods(agent index: Int, name: String, horizon: Double) -> [OnlinePeriod] {
        switch availability {
        case .always:
            return [OnlinePeriod(start: 0, end: horizon)]
        case .trace(let periods):
            return (periods[name] ?? []).filter { $0.start < horizon }
        case .markov(let fraction, let meanOnline):
            guard fraction < 1 else { return [OnlinePeriod(start: 0, end: horizon)] }
            let meanOffline = meanOnline * (1 - fraction) / fraction
            var generator = random(index, purpose: 3)
            func exponential(_ mean: Double) -> Double { -mean * log(1 - generator.nextUnit()) }
            var periods: [OnlinePeriod] = []
            // The chain starts in its stationary distribution.
            var time = generator.nextUnit() < fraction ? 0 : exponential(meanOffline)
            while time < horizon {
                let end = time + exponential(meanOnline)
                periods.append(OnlinePeriod(start: time, end: min(end, horizon)))
                time = end + exponential(meanOffline)
            }
            return periods
        }
    }
}

extension DeviceBehaviour.Availability {
    /// `always`, `markov:FRACTION:MEAN_ONLINE_SECONDS` or `trace:FILE` (CSV with a header line
    /// `agent,online_from,online_until`, seconds since the simulation started).
    init(parsing text: String) throws {
        let parts = text.split(separator: ":", maxSplits: 2).map(String.init)
        switch parts.first {
        case "always" where parts.count == 1:
            self = .always
        case "markov" where parts.count == 3:
            guard let fraction = Double(parts[1]), fraction > 0, fraction <= 1, let mean = Double(parts[2]), mean > 0, mean.isFinite else {
                throw CommandFailure("--availability markov:FRACTION:MEAN_ONLINE_SECONDS needs 0 < FRACTION <= 1 and MEAN > 0, not '\(text)'")
            }
            self = .markov(fraction: fraction, meanOnlineSeconds: mean)
        case "trace" where parts.count >= 2:
            self = .trace(try Self.readTrace(parts.dropFirst().joined(separator: ":")))
        default:
            throw CommandFailure("--availability is always, markov:FRACTION:MEAN_ONLINE_SECONDS or trace:FILE, not '\(text)'")
        }
    }

    static func readTrace(_ path: String) throws -> [String: [DeviceBehaviour.OnlinePeriod]] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw CommandFailure("\(path): cannot read the availability trace (\(error.localizedDescription))")
        }
        var lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard lines.first == "agent,online_from,online_until" else {
            throw CommandFailure("\(path): the first line must be 'agent,online_from,online_until'")
        }
        lines.removeFirst()
        var periods: [String: [DeviceBehaviour.OnlinePeriod]] = [:]
        for (number, line) in lines.enumerated() {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == 3, !cells[0].isEmpty, let start = Double(cells[1]), let end = Double(cells[2]), start >= 0, end > start,
                end.isFinite
            else {
                throw CommandFailure("\(path):\(number + 2): expected 'agent,FROM,UNTIL' with 0 <= FROM < UNTIL, not '\(line.prefix(80))'")
            }
            periods[cells[0], default: []].append(.init(start: start, end: end))
        }
        return periods.mapValues { $0.sorted { $0.start < $1.start } }
    }
}
