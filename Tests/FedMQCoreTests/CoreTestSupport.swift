import FedMQCore
import Foundation

/// The repository's root, found from this file's path (tests run from a checkout).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

func dataFile(_ name: String) -> String { repositoryRoot.appendingPathComponent("data/\(name)").path }

func fixture(_ name: String) -> String {
    repositoryRoot.appendingPathComponent("Tests/FedMQCoreTests/Fixtures/\(name)").path
}

func tensor(_ name: String, _ shape: [Int], _ values: [Float]) -> Tensor {
    // Test inputs are consistent by construction; a mistake shows as a failed test.
    (try? Tensor(name: name, shape: shape, values: values)) ?? Tensor(zeros: [0], name: "invalid \(name)")
}

/// Loads a shipped CSV, splits it 80/20 stratified, standardizes on the training part.
func standardizedSplit(_ file: String, classes: Int, seed: UInt64 = 7) throws -> (train: Dataset, test: Dataset, scaling: FeatureScaling) {
    let data = try readCSV(dataFile(file), options: CSVOptions(hasHeader: true, label: .name("label")))
    var (train, test) = try DataSplit.trainTest(data, testFraction: 0.2, classes: classes, seed: seed)
    let scaling = FeatureScaling.fit(train)
    try scaling.apply(to: &train)
    try scaling.apply(to: &test)
    return (train, test, scaling)
}

/// A CSV file of the test fixtures, parsed (FedMQCore parses; reading files is the runtimes' job).
func readCSV(_ path: String, options: CSVOptions = .init()) throws -> Dataset {
    try CSVReader.parse(String(contentsOfFile: path, encoding: .utf8), file: path, options: options)
}

/// Runs `work` on a thread of its own and returns what it returns. The test process shares a
/// cooperative pool of one thread per core among every test's awaits; a computation of many
/// seconds (a debug build's PLD composition) held there would stall them all, and the
/// kernel shares the cores fairly with a thread of its own.
func onOwnThread<Result: Sendable>(_ work: @escaping @Sendable () throws -> Result) async throws -> Result {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Swift.Result { try work() }) }.start()
    }
}
