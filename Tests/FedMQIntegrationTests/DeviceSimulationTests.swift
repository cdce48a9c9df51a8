import FedMQLocalBroker
import FedMQProtocol
import Foundation
import Testing

@testable import FedMQBench

@Suite("Simulated devices: availability, training times, and fedmq simulate --data", .hangGuard)
struct DeviceSimulationTests {
    @Test("a seeded Markov chain is online the asked fraction of the time, for the asked mean stretch, the same in every run")
    func markov() {
        let behaviour = DeviceBehaviour(availability: .markov(fraction: 0.3, meanOnlineSeconds: 5), seed: 9)
        let horizon = 20_000.0
        var online = 0.0
        var stretches: [Double] = []
        for index in 0..<50 {
            let periods = behaviour.onlinePeriods(agent: index, name: "d\(index)", horizon: horizon)
            #expect(zip(periods, periods.dropFirst()).allSatisfy { $0.end < $1.start }, "periods in order, apart")
            online += periods.reduce(0) { $0 + $1.end - $1.start }
            stretches += periods.dropLast().map { $0.end - $0.start }
        }
        let fraction = online / (horizon * 50)
        #expect(abs(fraction - 0.3) < 0.01, "\(fraction)")
        let mean = stretches.reduce(0, +) / Double(stretches.count)
        #expect(abs(mean - 5) < 0.2, "\(mean)")
        #expect(behaviour.onlinePeriods(agent: 3, name: "d3", horizon: 100) == behaviour.onlinePeriods(agent: 3, name: "d3", horizon: 100))
        #expect(behaviour.onlinePeriods(agent: 3, name: "d3", horizon: 100) != behaviour.onlinePeriods(agent: 4, name: "d4", horizon: 100))
    }

    @Test("training times: log-normal around the median, exactly the asked share of devices slower by the factor")
    func trainingTimes() {
        let behaviour = DeviceBehaviour(trainingMedianSeconds: 0.3, trainingSigma: 0.5, slowFraction: 0.2, slowFactor: 10, seed: 4)
        let slow = (0..<20).filter { behaviour.isSlow($0, of: 20) }
        #expect(slow.count == 4)
        let fast = (0..<20).first { !slow.contains($0) }!
        let draws = (0..<2001).map { behaviour.trainingSeconds(agent: fast, of: 20, draw: $0) }.sorted()
        #expect(abs(draws[1000] - 0.3) < 0.03, "median \(draws[1000])")
        let slowDraws = (0..<2001).map { behaviour.trainingSeconds(agent: slow[0], of: 20, draw: $0) }.sorted()
        #expect(abs(slowDraws[1000] - 3) < 0.3, "median \(slowDraws[1000])")
        #expect(behaviour.trainingSeconds(agent: fast, of: 20, draw: 7) == behaviour.trainingSeconds(agent: fast, of: 20, draw: 7))
    }

    @Test("an availability trace is read per agent; a bad line is refused with its file and line")
    func trace() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("trace-\(UUID()).csv").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "agent,online_from,online_until\ndev-1,10,20\ndev-0,0,5\ndev-1,0,4\n".write(toFile: path, atomically: true, encoding: .utf8)
        guard case .trace(let periods) = try DeviceBehaviour.Availability(parsing: "trace:\(path)") else {
            Issue.record("not a trace")
            return
        }
        #expect(periods["dev-1"] == [.init(start: 0, end: 4), .init(start: 10, end: 20)])
        #expect(DeviceBehaviour(availability: .trace(periods)).onlinePeriods(agent: 2, name: "dev-2", horizon: 60).isEmpty)
        try "agent,online_from,online_until\ndev-1,10,2\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: (any Error).self) { try DeviceBehaviour.Availability(parsing: "trace:\(path)") }
        do {
            _ = try DeviceBehaviour.Availability(parsing: "trace:\(path)")
        } catch {
            #expect("\(error)".contains("\(path):2:"))
        }
        #expect(throws: (any Error).self) { try DeviceBehaviour.Availability(parsing: "markov:1.5:5") }
    }

    @Test("fedmq simulate --data, asynchronous, devices online by a trace: the job learns, and a device never online never counts")
    func simulateDevices() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-devices-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let trace = work.appendingPathComponent("trace.csv").path
        // dev-0..dev-4 online from the start (dev-4 for a while only); dev-5 never.
        try "agent,online_from,online_until\ndev-0,0,600\ndev-1,0,600\ndev-2,0,600\ndev-3,0,600\ndev-4,0,1\n"
            .write(toFile: trace, atomically: true, encoding: .utf8)
        let log = work.path + ".log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let process = try ChildProcess(
            try fedmqExecutable().path,
            [
                "simulate", "--agents", "6", "--data", repositoryFile("data/digits.csv"), "--partition", "iid", "--mode", "asynchronous",
                "--target", "2", "--updates", "20", "--availability", "trace:\(trace)", "--training-time", "lognormal:0.01:0.2",
                // The run ends on the update count; the time limit only guards against a hang (a loaded
                // machine runs this many times slower than an idle one).
                "--target-accuracy", "0.5", "--time-limit", "3600", "--work-dir", work.appendingPathComponent("run").path,
            ], logFile: log,
            // Its own process group: should it hang, the kill at the end of the test reaches the
            // broker and the aggregator it started too, instead of leaving them running.
            ownGroup: true)
        let status = try await within(.seconds(540), "fedmq simulate") { try await process.wait() }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(output.suffix(2000))")
        #expect(output.contains("asynchronous job"))
        #expect(output.contains("accuracy 0.5: ") && !output.contains("not reached"), "\(output.suffix(1500))")
        let metrics = try String(contentsOf: work.appendingPathComponent("run/aggregator/metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try ProtocolJSON.decode(RoundMetrics.self, from: Array($0.utf8)) }
        #expect(metrics.reduce(0) { $0 + $1.updates } >= 20)
        #expect(metrics.allSatisfy { !$0.participants.contains("dev-5") }, "dev-5 was never online")
        #expect(metrics.allSatisfy { $0.staleness != nil })
    }
}
