import FedMQCommandLine
import Foundation

/// bench/flower/harness.py: launches a whole job (or one idle client) as separate processes
/// and measures FedMQ and Flower the same way.
struct Harness {
    var python: String
    var script: String

    /// A whole job: `fedmq --spec FILE` or `flower --model M --split S ...`; `environment` is
    /// added to every process's (`FEDMQ_TRACE` for the round breakdown).
    func job(_ arguments: [String], environment: [String: String] = [:]) throws -> JobMeasurement {
        try decode(JobMeasurement.self, arguments, environment: environment)
    }

    /// One connected client with no round open: `idle-fedmq --spec FILE` or `idle-flower --work DIR`.
    func idle(_ arguments: [String]) throws -> IdleMeasurement {
        try decode(IdleMeasurement.self, arguments)
    }

    /// What the peer's processes run with, as Flower's docs advise for a machine without
    /// internet access: telemetry off (its calls to an unreachable server cost time and CPU
    /// that a production deployment would not spend). Every Flower process inherits it.
    static let peerEnvironment = ["FLWR_TELEMETRY_ENABLED": "0"]

    private func decode<Value: Decodable>(_ type: Value.Type, _ arguments: [String], environment: [String: String] = [:]) throws -> Value {
        let data = try PythonScript.run(
            python, [script] + arguments, hint: "run 'make bench-flower', which installs flwr==1.42.0 into it",
            environment: Self.peerEnvironment.merging(environment) { $1 })
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(type, from: data)
    }
}

/// What the harness reports for one job.
struct JobMeasurement: Decodable, Sendable {
    var accuracy: Double
    var roundsWall: Double
    var launchToResult: Double
    var loopbackBytesPerRound: Double
    /// Not measured for Flower's deployment runtime (its HTTP connections come and go between samples).
    var clientLinkBytesPerRound: Double?
    var cpuSeconds: Double
    var serverPeakRssMib: Double
    var clientPeakRssMib: Double
    /// FedMQ only: update payload bytes the aggregator received per round.
    var updateBytesPerRound: Double?
    /// CPU seconds summed by role ("agent", "client", "aggregator", "server", "broker").
    var cpuByRole: [String: Double]?
}

struct IdleMeasurement: Decodable {
    var idleCpuSeconds: Double
    var idleRssMib: Double
}
