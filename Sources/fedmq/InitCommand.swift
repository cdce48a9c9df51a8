import ArgumentParser
import FedMQCommandLine
import FedMQCore
import FedMQProtocol
import FedMQRuntime
import Foundation

/// `fedmq init`: a ready local setup for a job on the user's own data, like `flwr new`: the data
/// split into agents and an evaluation set, the configs, a broker config, and a script that runs
/// it all.
struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a ready local job on your data: agent data, configs, a broker config and run.sh.",
        discussion: """
            OUT/data/          agent-<k>.csv (the training rows, split), test.csv (20% held out, for central evaluation)
            OUT/aggregator.json, OUT/agents/agent-<k>.json   configs (JSON, see docs/operations.md; data and state paths
                               are relative to OUT, where run.sh starts the processes); edit them to taste
            OUT/mosquitto.conf a local broker on --port (loopback, anonymous)
            OUT/run.sh         starts the broker, the aggregator and the agents, waits for the job, stops them all
            The label is the last column, or the column named by --label (which implies a header line).
            """
    )

    @Option(help: "Job id.") var job: String
    @Option(help: "Your data (CSV).") var data: String
    @Option(help: "Label column name (implies a header line); default: the last column.") var label: String?
    @Flag(help: "The CSV starts with a header line.") var header = false
    @Option(help: "Number of agents.") var agents = 3
    @Option(help: "Rounds.") var rounds = 10
    @Option(help: "softmax or mlp.") var model = "softmax"
    @Option(help: "How rows are dealt to agents: iid, dirichlet:ALPHA, shards:K, quantity:ALPHA.") var partition = "iid"
    @Option(help: "The local broker's port.") var port = 1883
    @Option(help: "Seed for the split, the partition and the model.") var seed: UInt64 = 0
    @Option(help: "Output directory (must not exist yet).") var out: String

    func validate() throws {
        guard Identifier.isValid(job) else { throw ValidationError("--job must be a valid id (letters, digits, . _ -)") }
        guard (1...1000).contains(agents), (1...100_000).contains(rounds) else { throw ValidationError("--agents or --rounds is out of range") }
        guard ["softmax", "mlp"].contains(model) else { throw ValidationError("--model is softmax or mlp") }
        guard (1...65535).contains(port) else { throw ValidationError("--port must be within 1...65535") }
    }

    func run() throws {
        let root = URL(fileURLWithPath: out).standardizedFileURL
        guard !FileManager.default.fileExists(atPath: root.path) else { throw CommandFailure("\(root.path) already exists") }
        let dataDirectory = root.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        let options = CSVOptions(hasHeader: header || label != nil, label: label.map { .name($0) } ?? .last)
        let setup = try DemoSetup(
            data: data, options: options, job: job, model: model, partition: partition, agents: agents, rounds: rounds, seed: seed,
            work: dataDirectory.path, privacy: nil)
        // The setup writes client_<k>.csv and aggregator.json beside the data; give them their places.
        let files = FileManager.default
        for index in 0..<agents {
            try files.moveItem(
                at: dataDirectory.appendingPathComponent("client_\(index).csv"), to: dataDirectory.appendingPathComponent("agent-\(index).csv"))
        }
        var aggregator = try FleetFiles.readJSON(URL(fileURLWithPath: setup.configPath))
        try files.removeItem(atPath: setup.configPath)
        let broker: [String: Any] = ["host": "127.0.0.1", "port": port]
        aggregator["broker"] = broker
        aggregator["evaluation_csv"] = "data/test.csv"
        aggregator["state_directory"] = "state/aggregator"
        try FleetFiles.writeJSON(aggregator, to: root.appendingPathComponent("aggregator.json"))
        let agentDirectory = root.appendingPathComponent("agents")
        try files.createDirectory(at: agentDirectory, withIntermediateDirectories: true)
        for index in 0..<agents {
            try FleetFiles.writeJSON(
                [
                    "agent": "agent-\(index)", "job": job, "broker": broker, "data_csv": "data/agent-\(index).csv",
                    "state_directory": "state/agent-\(index)", "seed": index,
                ], to: agentDirectory.appendingPathComponent("agent-\(index).json"))
        }
        try """
        # A local broker for `fedmq init`'s job: loopback only, anonymous.
        listener \(port) 127.0.0.1
        allow_anonymous true
        set_tcp_nodelay true
        max_queued_messages 10000

        """.write(to: root.appendingPathComponent("mosquitto.conf"), atomically: true, encoding: .utf8)
        let script = root.appendingPathComponent("run.sh")
        try Self.runScript(agents: agents).write(to: script, atomically: true, encoding: .utf8)
        try files.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        print("Wrote job '\(job)' with \(agents) agents to \(root.path); run it with: \(script.path)")
    }

    /// Starts the broker, the aggregator and the agents from the folder it is in; waits for the
    /// aggregator to finish the job; stops the rest. FEDMQ_BIN names where the executables are
    /// (default: on PATH).
    static func runScript(agents: Int) -> String {
        """
        #!/bin/sh
        # Written by `fedmq init`. Logs go to logs/; state (checkpoint, metrics.jsonl) to state/.
        set -eu
        cd "$(dirname "$0")"
        bin="${FEDMQ_BIN:+$FEDMQ_BIN/}"
        mkdir -p logs state
        pids=""
        stop() { for pid in $pids; do kill "$pid" 2>/dev/null || true; done; }
        trap stop EXIT INT TERM
        mosquitto -c mosquitto.conf > logs/mosquitto.log 2>&1 &
        pids="$pids $!"
        for k in $(seq 0 \(agents - 1)); do
            "${bin}fedmq-agent" --config "agents/agent-$k.json" > "logs/agent-$k.log" 2>&1 &
            pids="$pids $!"
        done
        status=0
        "${bin}fedmq-aggregator" --config aggregator.json > logs/aggregator.log 2>&1 || status=$?
        if [ "$status" -eq 0 ]; then
            echo "Done: metrics in state/aggregator/metrics.jsonl"
        else
            echo "The aggregator failed (status $status); the end of logs/aggregator.log:" >&2
            tail -n 5 logs/aggregator.log >&2
        fi
        exit "$status"

        """
    }
}
