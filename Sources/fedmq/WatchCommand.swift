import ArgumentParser
import FedMQCommandLine
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation

/// `fedmq watch`: a live, line-per-event view of one job.
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Show a job's rounds, updates, agents and metrics as they happen.",
        discussion: "Retained state (model, round, metrics, statuses) is shown first. Stops on SIGINT, or after --limit lines."
    )

    @OptionGroup var broker: BrokerOptions
    @Option(help: "Job id.") var job: String
    @Option(help: "Stop after this many lines.") var limit: Int?

    func run() async throws {
        let topics = try Topics(job: job)
        // First, on a connection of its own (a subscription overlapping the job's would show
        // its messages twice): does the job exist?
        if let statuses = try await RetainedState.read([Topics.everyAggregatorStatus], broker: broker),
            case let seen = Set(statuses.keys.compactMap(Topics.job(ofAggregatorStatus:))), !seen.contains(job)
        {
            let others = seen.isEmpty ? "no job has one there" : "jobs there: \(seen.sorted().joined(separator: ", "))"
            FileHandle.standardError.write(
                Data("fedmq watch: job '\(job)' has no aggregator status on \(broker.host):\(broker.port) (yet); \(others)\n".utf8))
        }
        let client = try MQTTClient(options: broker.connectionOptions())
        do {
            try await client.connect()
        } catch {
            await client.disconnect()
            throw CommandFailure("cannot connect to \(broker.host):\(broker.port): \(error)")
        }
        let messages = try await client.subscribe(to: [topics.everything], qos: .atLeastOnce)
        let printer = Task {
            var lines = 0
            for await message in messages {
                // Written straight to the descriptor: each line goes out at once, also into a
                // pipe or a file (where print's buffer would hold it until exit).
                FileHandle.standardOutput.write(Data((Self.line(for: message, topics: topics) + "\n").utf8))
                lines += 1
                if let limit, lines >= limit { break }
            }
        }
        let signal = Task {
            await ShutdownSignal.wait()
            printer.cancel()
        }
        await printer.value
        signal.cancel()
        messages.cancel()
        await client.disconnect()
    }

    static func line(for message: MQTTMessage, topics: Topics) -> String {
        let time = Date().formatted(.iso8601.time(includingFractionalSeconds: false))
        let retained = message.retain ? " (retained)" : ""
        let text: String
        switch try? topics.parse(message.topic) {
        case .globalModel:
            text = "model \(message.payload.count) bytes, sha256 \(ModelCodec.sha256(message.payload).prefix(12))"
        case .update(let round, let agent):
            text = "update from \(agent) for round \(round), \(message.payload.count) bytes"
        default:
            text = (try? PayloadDescription.describe(message.payload)) ?? "\(message.topic): \(message.payload.count) bytes"
        }
        return "\(time) \(text)\(retained)"
    }
}
