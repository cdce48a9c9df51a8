import FedMQCore
import Foundation
import Testing

@Suite("Federated analytics: queries, local statistics and answers")
struct AnalyticsTests {
    /// `rows` rows of (temperature, humidity), label 0/1, from `seed`.
    static func data(rows: Int, seed: UInt64, missingEvery: Int? = nil) throws -> Dataset {
        var random = SplitMix64(seed: seed)
        var features: [Float] = []
        var targets: [Float] = []
        for row in 0..<rows {
            let temperature = Float(random.nextUnit() * 50 - 10)
            let humidity: Float = missingEvery.map { row % $0 == 0 } == true ? .nan : Float(random.nextUnit() * 100)
            features += [temperature, humidity]
            targets.append(Float(row % 2))
        }
        return try Dataset(features: features, targets: targets, featureCount: 2, featureNames: ["temperature", "humidity"])
    }

    static func column(_ data: Dataset, _ index: Int) -> [Double] {
        (0..<data.count).map { Double(data.features[$0 * 2 + index]) }.filter { !$0.isNaN }
    }

    /// The fleet's answers without noise: the sum of each agent's vector.
    static func answers(_ settings: AnalyticsSettings, _ agents: [Dataset]) throws -> [AnalyticsAnswer] {
        var sums = [Double](repeating: 0, count: settings.layout.count)
        for data in agents {
            let vector = try LocalStatistics.compute(settings, over: data, labelName: "label").vector
            for index in sums.indices { sums[index] += Double(vector[index]) }
        }
        return try AnalyticsAnswer.answers(settings, sums: sums)
    }

    @Test("the text form parses to the query and back; bad ones are refused with what is wrong")
    func textForm() throws {
        let query = try AnalyticsQuery.parse("quantiles:humidity:0:100:0.5,0.9:50")
        #expect(query == AnalyticsQuery(.quantiles, column: "humidity", range: 0...100, bins: 50, levels: [0.5, 0.9]))
        #expect(try AnalyticsQuery.parse(query.description) == query)
        #expect(try AnalyticsQuery.parse("histogram:t:-10:40").binCount == 10)
        #expect(try AnalyticsQuery.parse("count") == AnalyticsQuery(.count))
        let refusals = [
            ("median:t:0:1", "unknown statistic 'median'"), ("mean:t:5:1", "finite low < high"), ("mean:t:0", "expected mean:COLUMN:LOW:HIGH"),
            ("quantiles:t:0:1:1.5", "strictly between 0 and 1"), ("histogram:t:0:1:0", "bins must be within"), ("mean:t:0:inf", "finite"),
            ("count:t", "count takes no column"), ("mean::0:1", "needs a column name"),
        ]
        for (text, reason) in refusals {
            #expect {
                try AnalyticsQuery.parse(text)
            } throws: { error in
                "\(error)".contains(reason) && "\(error)".contains("'\(text)'")
            }
        }
    }

    @Test("without noise, the fleet's answers equal the statistics of all records pooled")
    func exactAnswers() throws {
        let agents = try [40, 75, 13].enumerated().map { try Self.data(rows: $0.element, seed: UInt64($0.offset), missingEvery: 7) }
        let settings = AnalyticsSettings(
            queries: [
                AnalyticsQuery(.count), AnalyticsQuery(.mean, column: "temperature", range: -10...40),
                AnalyticsQuery(.variance, column: "humidity", range: 0...100), AnalyticsQuery(.sum, column: "label", range: 0...1),
                AnalyticsQuery(.histogram, column: "temperature", range: -10...40, bins: 5),
                AnalyticsQuery(.quantiles, column: "humidity", range: 0...100, bins: 1000, levels: [0.5]),
            ], maxRecords: 100)
        let answers = try Self.answers(settings, agents)
        let temperature = agents.flatMap { Self.column($0, 0) }
        let humidity = agents.flatMap { Self.column($0, 1) }
        #expect(answers.map(\.query) == settings.queries.map(\.description))
        #expect(abs((answers[0].value ?? 0) - 128) < 1e-3)
        #expect(abs((answers[1].value ?? 0) - temperature.reduce(0, +) / 128) < 1e-3)
        let mean = humidity.reduce(0, +) / Double(humidity.count)
        let variance = humidity.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(humidity.count)
        #expect(abs((answers[2].value ?? 0) - variance) < 1e-2 * variance)
        #expect(abs(answers[2].records - Double(humidity.count)) < 1e-3, "rows with a missing humidity are left out of its query only")
        #expect(abs((answers[3].value ?? 0) - Double(agents.map { $0.targets.reduce(0, +) }.reduce(0, +))) < 1e-3)
        let bins = (0..<5).map { bin in Double(temperature.filter { min(4, Int(($0 + 10) / 10)) == bin }.count) }
        #expect(zip(answers[4].histogram ?? [], bins).allSatisfy { abs($0 - $1) < 1e-3 })
        let median = humidity.sorted()[humidity.count / 2]
        #expect(abs((answers[5].quantiles?.first ?? 0) - median) < 1, "within a bin or two of 0.1 of the pooled median")
    }

    @Test("an agent with more than max_records records weighs max_records of them, its mean kept")
    func recordCap() throws {
        let data = try Self.data(rows: 500, seed: 9)
        let settings = AnalyticsSettings(
            queries: [AnalyticsQuery(.count), AnalyticsQuery(.mean, column: "temperature", range: -10...40)], maxRecords: 50)
        let computed = try LocalStatistics.compute(settings, over: data)
        #expect(computed.records == 50)
        let answers = try AnalyticsAnswer.answers(settings, sums: computed.vector.map(Double.init))
        #expect(abs((answers[0].value ?? 0) - 50) < 1e-3)
        #expect(abs((answers[1].value ?? 0) - Self.column(data, 0).reduce(0, +) / 500) < 1e-3)
    }

    @Test("an agent's vector stays within C, and one record moves it by at most the record-level sensitivity")
    func bounds() throws {
        let queries = [
            AnalyticsQuery(.count), AnalyticsQuery(.variance, column: "temperature", range: 0...1),
            AnalyticsQuery(.histogram, column: "humidity", range: 0...1, bins: 4),
        ]
        for maxRecords in [1, 5, 20] {
            let client = AnalyticsSettings(queries: queries, maxRecords: maxRecords, level: .client)
            let record = AnalyticsSettings(queries: queries, maxRecords: maxRecords, level: .record)
            #expect(abs(client.contributionBound - 5.0.squareRoot()) < 1e-12, "1 + 3 + 1 entries touched")
            #expect(client.sensitivity == client.contributionBound)
            for rows in [1, 4, 5, 6, 19, 20, 21, 60] {
                // Extreme records (values far outside the ranges) are the worst case for both bounds.
                var random = SplitMix64(seed: UInt64(rows * 31 + maxRecords))
                let values = (0..<(rows * 2)).map { _ in Float(random.nextUnit() < 0.5 ? -5 : 5) }
                let full = try Dataset(
                    features: values, targets: [Float](repeating: 0, count: rows), featureCount: 2, featureNames: ["temperature", "humidity"])
                let vector = try LocalStatistics.compute(client, over: full).vector
                #expect(Self.norm(vector) <= client.contributionBound * (1 + 1e-6))
                guard rows > 1 else { continue }
                let fewer = full.subset(Array(1..<rows))
                let moved = try zip(vector, LocalStatistics.compute(record, over: fewer).vector).map { $0 - $1 }
                #expect(Self.norm(moved) <= record.sensitivity * (1 + 1e-6), "rows \(rows), max_records \(maxRecords)")
            }
        }
    }

    static func norm(_ vector: [Float]) -> Double { vector.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot() }

    @Test("noisy sums are post-processed into each statistic's domain")
    func domains() throws {
        let settings = AnalyticsSettings(
            queries: [
                AnalyticsQuery(.count), AnalyticsQuery(.mean, column: "t", range: 0...10), AnalyticsQuery(.variance, column: "t", range: 0...10),
                AnalyticsQuery(.histogram, column: "t", range: 0...10, bins: 2),
            ], maxRecords: 10)
        // count -0.3, mean's (records 0.5, Σy 2), variance's (records -1, ...), bins (-0.2, 0.5)
        let answers = try AnalyticsAnswer.answers(settings, sums: [-0.03, 0.05, 0.2, -0.1, 0.3, 0.1, -0.02, 0.05])
        #expect(answers[0].value == 0)
        #expect(answers[1].value == 10, "a mean is clamped to its range")
        #expect(answers[2].value == nil, "no records: no variance")
        #expect(answers[3].histogram == [0, 0.5])
        #expect(throws: CoreError.self) { try AnalyticsAnswer.answers(settings, sums: [1]) }
    }

    @Test("quantiles read the raw noisy counts' running sum, so noise in empty bins does not push them up")
    func noisyQuantiles() throws {
        let settings = AnalyticsSettings(
            queries: [AnalyticsQuery(.quantiles, column: "t", range: 0...4, bins: 4, levels: [0.5, 0.99])], maxRecords: 1)
        // Noisy counts -1, 3, 1, 1: four records in all, the median at the end of bin 1.
        let answer = try #require(try AnalyticsAnswer.answers(settings, sums: [-1, 3, 1, 1]).first)
        #expect(answer.records == 4)
        #expect(answer.quantiles?.first == 2)
        #expect(abs((answer.quantiles?.last ?? 0) - 3.96) < 1e-9)
    }

    @Test("the noise multiplier for an (epsilon, delta) target gives back that epsilon")
    func calibration() throws {
        for (epsilon, delta) in [(0.1, 1e-5), (1.0, 1e-5), (8.0, 1e-6)] {
            let sigma = try AnalyticGaussian.sigma(epsilon: epsilon, delta: delta)
            #expect(abs(AnalyticGaussian.epsilon(delta: delta, sigma: sigma) - epsilon) < 1e-6 * epsilon)
        }
        #expect(throws: CoreError.self) { try AnalyticGaussian.sigma(epsilon: 0, delta: 1e-5) }
    }

    @Test("fleet-wide feature scaling: each variance query's mean and standard deviation, floored at a thousandth of its range")
    func scaling() throws {
        let settings = AnalyticsSettings(
            queries: [
                AnalyticsQuery(.variance, column: "a", range: 0...10), AnalyticsQuery(.count),
                AnalyticsQuery(.variance, column: "b", range: -1...1),
            ], maxRecords: 1)
        // a: 4 records with y summing to 2 and y² to 2 (mean 7.5, variance (0.5 - 0.25)·25); b: constant 0.
        let scaling = try FeatureScaling.fleetWide(settings, answers: AnalyticsAnswer.answers(settings, sums: [4, 2, 2, 4, 4, 0, 0]))
        #expect(scaling.mean == [7.5, 0])
        #expect(abs(scaling.std[0] - 2.5) < 1e-6 && scaling.std[1] == 0.002)
        #expect(throws: CoreError.self) {
            try FeatureScaling.fleetWide(settings, answers: AnalyticsAnswer.answers(settings, sums: [0, 0, 0, 0, 0, 0, 0]))
        }
    }
}
