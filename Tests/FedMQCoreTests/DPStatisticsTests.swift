import FedMQCore
import Foundation
import Testing

@Suite("DP statistics against diffprivlib's analytic output distributions")
struct DPStatisticsTests {
    let vectors = try! DPVectors.load()
    let runs = 10_000

    func check(_ draws: [Double], mean: Double, std: Double, _ label: String) {
        let empiricalMean = draws.reduce(0, +) / Double(draws.count)
        let empiricalStd = (draws.reduce(0) { $0 + ($1 - empiricalMean) * ($1 - empiricalMean) } / Double(draws.count - 1)).squareRoot()
        #expect(abs(empiricalMean - mean) <= 5 * std / Double(draws.count).squareRoot(), "\(label): mean \(empiricalMean) vs \(mean)")
        #expect(abs(empiricalStd / std - 1) <= 0.06, "\(label): std \(empiricalStd) vs \(std)")
    }

    func numbers(_ value: Any?) -> [Double] { (value as? [NSNumber])?.map(\.doubleValue) ?? [] }

    @Test("mean and variance: empirical mean and std of 10,000 outputs match the analytic values")
    func meanAndVariance() throws {
        var random = SplitMix64(seed: 7)
        for item in vectors.cases where item.kind == "diffprivlib_mean" || item.kind == "diffprivlib_var" {
            let data = numbers(item.inputs["data"])
            let bounds = numbers(item.inputs["bounds"])
            let range = bounds[0]...bounds[1]
            let epsilon = item.input("epsilon")
            var draws: [Double] = []
            for _ in 0..<runs {
                draws.append(
                    item.kind == "diffprivlib_mean"
                        ? try DPStatistics.mean(data, bounds: range, epsilon: epsilon, using: &random)
                        : try DPStatistics.variance(data, bounds: range, epsilon: epsilon, using: &random))
            }
            #expect(draws.allSatisfy { range.contains($0) || item.kind == "diffprivlib_var" })
            check(draws, mean: try #require(item.value("analytic_output_mean")), std: try #require(item.value("analytic_output_std")), item.id)
            if item.kind == "diffprivlib_var" {
                let n = Double(data.count)
                let width = bounds[1] - bounds[0]
                let scale = DPStatistics.boundedDomainScale(
                    sensitivity: (width / n) * (width / n) * (n - 1), epsilon: epsilon, domainWidth: width * width / 4)
                #expect(abs(scale - (item.value("laplace_scale") ?? 0)) < 1e-6)
            }
        }
    }

    @Test("histogram: per-bin mean and std of 10,000 noisy histograms match the analytic values")
    func histogram() throws {
        var random = SplitMix64(seed: 8)
        for item in vectors.cases where item.kind == "diffprivlib_histogram" {
            let data = numbers(item.inputs["data"])
            let range = numbers(item.inputs["range"])
            let bins = Int(item.input("bins"))
            var perBin = [[Double]](repeating: [], count: bins)
            for _ in 0..<runs {
                let counts = try DPStatistics.histogram(data, bins: bins, range: range[0]...range[1], epsilon: item.input("epsilon"), using: &random)
                for (bin, count) in counts.enumerated() { perBin[bin].append(Double(count)) }
            }
            let means = numbers(item.expected["analytic_output_mean_per_bin"])
            let stds = numbers(item.expected["analytic_output_std_per_bin"])
            for bin in 0..<bins { check(perBin[bin], mean: means[bin], std: stds[bin], "\(item.id) bin \(bin)") }
        }
    }

    @Test("sum and count stay in their domains; bad inputs are refused")
    func domains() throws {
        var random = SplitMix64(seed: 9)
        for _ in 0..<1000 {
            let sum = try DPStatistics.sum([1, 2, 3], bounds: 0...5, epsilon: 0.5, using: &random)
            #expect((0...15).contains(sum))
            #expect(try DPStatistics.count(3, epsilon: 0.5, using: &random) >= 0)
            #expect(try DPStatistics.standardDeviation([1, 2, 3], bounds: 0...5, epsilon: 1, using: &random) <= 2.5)
        }
        #expect(throws: CoreError.self) { try DPStatistics.mean([], bounds: 0...1, epsilon: 1, using: &random) }
        #expect(throws: CoreError.self) { try DPStatistics.mean([1], bounds: 0...1, epsilon: 0, using: &random) }
        #expect(throws: CoreError.self) { try DPStatistics.mean([.nan], bounds: 0...1, epsilon: 1, using: &random) }
    }
}
