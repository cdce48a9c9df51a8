import ArgumentParser
import FedMQCommandLine

/// `fedmq bench`: the benchmarks, each against a peer in the same run.
public struct BenchCommand: AsyncParsableCommand {
    /// Made by swift-argument-parser when `fedmq bench` is parsed.
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks that compare FedMQ with a peer in the same run.",
        subcommands: [
            MQTTBenchCommand.self, TrainBenchCommand.self, PrivacyBenchCommand.self, FlowerBenchCommand.self, EncodingsBenchCommand.self,
            OverheadBenchCommand.self, SoakBenchCommand.self, FootprintBenchCommand.self, IngestBenchCommand.self, StrategiesBenchCommand.self,
            SecAggBenchCommand.self, AsyncBenchCommand.self, HomomorphicBenchCommand.self, AnalyticsBenchCommand.self,
            HeterogeneityBenchCommand.self, SensorsBenchCommand.self, ScaleBenchCommand.self, ShardsBenchCommand.self,
            RoundBenchCommand.self,
        ]
    )
}

/// Where a benchmark writes its figures.
struct BenchOutputOptions: ParsableArguments {
    @Option(help: "Repetitions of each measurement (the report gives medians and spreads).")
    var runs = 3

    @Option(help: "JSON results file.")
    var results: String

    @Option(help: "Markdown file whose section for this benchmark is rewritten.")
    var markdown = "docs/benchmarks.md"

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
    }
}
