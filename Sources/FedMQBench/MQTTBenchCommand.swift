import ArgumentParser
import FedMQCommandLine
import FedMQLocalBroker
import FedMQTransport
import Foundation

/// `fedmq bench mqtt`: QoS 1 publish-to-receive throughput through one local broker,
/// FedMQTransport beside libmosquitto's own command-line clients.
struct MQTTBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mqtt",
        abstract: "QoS 1 throughput of FedMQTransport vs mosquitto_pub/mosquitto_sub through a local broker."
    )

    @OptionGroup var output: BenchOutputOptions

    @Option(help: "Messages in flight for the FedMQ publisher (libmosquitto's default limit is 20).")
    var window = 20

    func run() async throws {
        let workloads = [MQTTWorkload(count: 10_000, size: 1024), MQTTWorkload(count: 200, size: 1 << 20)]
        let machine = BenchmarkReport.machine()
        let broker = try await LocalBroker(LocalBrokerConfiguration(extraLines: ["log_type subscribe"]))
        defer { Task { await broker.remove() } }
        var results: [BenchmarkResult] = []
        for workload in workloads {
            var runs: [BenchmarkResult.Run] = []
            for run in 1...output.runs {
                let bench = MQTTThroughput(broker: broker, workload: workload, run: run)
                // Alternate the order so neither side always runs on a warmer broker.
                let peer: Double
                let fedmq: Double
                if run % 2 == 1 {
                    peer = try await bench.measurePeer()
                    fedmq = try await bench.measureFedMQ(window: window)
                } else {
                    fedmq = try await bench.measureFedMQ(window: window)
                    peer = try await bench.measurePeer()
                }
                let rates = (fedmq: Double(workload.count) / fedmq, peer: Double(workload.count) / peer)
                print("\(workload.label) run \(run): FedMQ \(Int(rates.fedmq)) msg/s, C tools \(Int(rates.peer)) msg/s")
                runs.append(.init(fedmq: rates.fedmq, peer: rates.peer))
            }
            let fedmq = BenchmarkReport.median(runs.map(\.fedmq))
            let peer = BenchmarkReport.median(runs.map(\.peer))
            results.append(
                BenchmarkResult(
                    name: "mqtt-qos1-\(workload.label)", metric: "messages/s", fedmq: fedmq, peer: peer,
                    peerName: "mosquitto_pub + mosquitto_sub (libmosquitto \(workload.peerMode))",
                    goal: "ratio >= 1.0", goalMet: fedmq / peer >= 1.0, machine: machine, runs: runs))
        }
        await broker.remove()
        try BenchmarkReport.writeJSON(results, to: output.results)
        let table = markdown(results, workloads: workloads, machine: machine)
        try BenchmarkReport.replaceSection("mqtt", with: table, in: output.markdown)
        print(table)
    }

    private func markdown(_ results: [BenchmarkResult], workloads: [MQTTWorkload], machine: String) -> String {
        var lines = [
            "## MQTT transport throughput (`make bench-mqtt`)",
            "",
            "QoS 1, one publisher and one subscriber through one local `mosquitto`, timed from the",
            "publisher's start (process start for the C tools, client creation for FedMQ) to the",
            "subscriber's last message. FedMQ: two `MQTTClient`s in one process, \(window) messages in",
            "flight. Peer: `mosquitto_sub -C N` with `mosquitto_pub -l` (1 KiB lines from stdin) or",
            "`mosquitto_pub -f FILE --repeat N` (binary 1 MiB). Medians of \(output.runs) runs; the spread is",
            "min–max. Machine: \(machine). Absolute rates are machine-specific; the ratio is the headline.",
            "",
            "| workload | FedMQ msg/s | FedMQ MB/s | C tools msg/s | C tools MB/s | ratio | spread FedMQ | spread C | goal | met |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for (result, workload) in zip(results, workloads) {
            let megabytes = Double(workload.size) / 1_000_000
            lines.append(
                "| \(workload.count) x \(workload.label.split(separator: "x").last ?? "") "
                    + "| \(BenchmarkReport.format(result.fedmq)) | \(BenchmarkReport.format(result.fedmq * megabytes, digits: 1)) "
                    + "| \(BenchmarkReport.format(result.peer)) | \(BenchmarkReport.format(result.peer * megabytes, digits: 1)) "
                    + "| \(BenchmarkReport.format(result.ratio, digits: 2)) "
                    + "| \(BenchmarkReport.spread(result.runs.map(\.fedmq))) | \(BenchmarkReport.spread(result.runs.map(\.peer))) "
                    + "| \(result.goal) | \(result.goalMet ? "yes" : "no") |")
        }
        lines.append("")
        lines.append("Figures: `bench/results/mqtt.json`.")
        return lines.joined(separator: "\n")
    }
}
