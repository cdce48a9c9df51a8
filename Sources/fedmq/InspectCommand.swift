import ArgumentParser
import FedMQAggregator
import FedMQCommandLine
import FedMQCore
import FedMQProtocol
import FedMQRuntime
import Foundation

/// `fedmq inspect`: decode any FedMQ payload into a readable summary.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Describe a FedMQ payload: a model or update (safetensors) or a control message (JSON).",
        discussion: "Example: mosquitto_sub -t fedmq/v1/JOB/global/model -C 1 | fedmq inspect -"
    )

    @Argument(help: "A file, or - for standard input.") var file: String

    func run() throws {
        let bytes: [UInt8]
        if file == "-" {
            bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
        } else {
            guard let data = FileManager.default.contents(atPath: file) else { throw CommandFailure("cannot read '\(file)'") }
            bytes = Array(data)
        }
        print(try PayloadDescription.describe(bytes))
    }
}

/// Turns a payload into text for `inspect` and `watch`.
enum PayloadDescription {
    /// Rejections by reason, as people read them: "none", or "bad_signature 2, duplicate 1".
    static func describe(_ rejected: [String: Int]) -> String {
        rejected.isEmpty ? "none" : rejected.keys.sorted().map { "\($0) \(rejected[$0] ?? 0)" }.joined(separator: ", ")
    }

    static func describe(_ bytes: [UInt8]) throws -> String {
        if bytes.first == UInt8(ascii: "{") { return try describeJSON(bytes) }
        if SlotFile.isSlotFile(bytes) { return try describeState(bytes) }
        let file: SafetensorsFile
        do {
            file = try SafetensorsDecoder.decode(bytes, limits: SafetensorsLimits(maxHeaderBytes: 16 << 20))
        } catch {
            throw CommandFailure("not a FedMQ payload (\(bytes.count) bytes): neither JSON nor safetensors (\(error))")
        }
        var lines = ["safetensors, \(bytes.count) bytes, sha256 \(ModelCodec.sha256(bytes))"]
        for (key, value) in file.metadata.sorted(by: { $0.key < $1.key }) {
            lines.append("  \(key) = \(value.count > 120 ? String(value.prefix(117)) + "..." : value)")
        }
        var total = 0
        for tensor in file.tensors {
            total += tensor.count
            let norm = tensor.values.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let finite = tensor.values.allSatisfy(\.isFinite) ? "" : "  NOT FINITE"
            lines.append(
                "  \(tensor.name) \(file.encodings[tensor.name]?.rawValue ?? "?") \(tensor.shape): "
                    + "min \(format(tensor.values.min())) max \(format(tensor.values.max())) L2 \(format(Float(norm)))\(finite)")
        }
        for (name, indices) in file.indices.sorted(by: { $0.key < $1.key }) {
            lines.append(
                "  \(name) U32 [\(indices.count)]: first \(indices.first.map(String.init) ?? "-") last \(indices.last.map(String.init) ?? "-")")
        }
        for (name, blob) in file.blobs.sorted(by: { $0.key < $1.key }) {
            lines.append("  \(name) U8 \(blob.shape): \(blob.bytes.count) bytes (opaque: ciphertexts or plaintexts of a homomorphic round)")
        }
        let sparse = file.isSparse ? " (top-k: only the largest entries, at the positions in the .indices or .bitmap tensors)" : ""
        lines.append("  \(file.tensors.count) tensors, \(total) values\(sparse)")
        return lines.joined(separator: "\n")
    }

    /// A state file: an aggregator's checkpoint and model, or an agent's record, then the
    /// update it keeps and its top-k residual.
    private static func describeState(_ bytes: [UInt8]) throws -> String {
        let newest = try SlotFile.newest(in: bytes, path: "the state file")
        if StateSections.decode(newest)?["checkpoint"] != nil {
            let (checkpoint, model) = try CheckpointFile.decode(newest, path: "the checkpoint file")
            let state = checkpoint.finished ? "finished after round" : "open round"
            return "aggregator checkpoint of job \(checkpoint.announcement.job): \(state) \(checkpoint.announcement.round)\n"
                + "model: " + (try describe(model)).replacingOccurrences(of: "\n", with: "\n  ")
        }
        guard let sections = StateSections.decode(newest), let recordBytes = sections["record"],
            let record = try? JSONSerialization.jsonObject(with: Data(recordBytes)) as? [String: Any]
        else { throw CommandFailure("agent state file whose newest slot does not hold a record") }
        var lines = [
            "agent state of job \(record["job"] as? String ?? "?"): last served round \(record["last_served_round"] as? Int ?? 0), "
                + "\((record["ledger"] as? [Any])?.count ?? 0) privacy ledger entries, "
                + "\((record["publish_times"] as? [Any])?.count ?? 0) updates published in the last day"
        ]
        for (name, title) in [("update", "kept update"), ("residual", "top-k residual")] {
            guard let section = sections[name] else { continue }
            lines.append("\(title): " + (try describe(section)).replacingOccurrences(of: "\n", with: "\n  "))
        }
        return lines.joined(separator: "\n")
    }

    private static func describeJSON(_ bytes: [UInt8]) throws -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw CommandFailure("payload starts like JSON but does not parse")
        }
        let schema = object["schema"] as? String ?? "(no schema)"
        switch schema {
        case RoundAnnouncement.schema:
            let round = try ProtocolJSON.decode(RoundAnnouncement.self, from: bytes)
            let schedule =
                round.asynchronous.map {
                    "asynchronous, buffer of \(round.targetUpdates) updates on versions up to \($0.maxStaleness) old (\($0.staleness.function.rawValue) weight), "
                }
                ?? "target \(round.targetUpdates), quorum \(round.minUpdates), deadline in \(Int(round.deadline - Date().timeIntervalSince1970)) s, "
            return
                "round \(round.round)\(round.rounds.map { "/\($0)" } ?? "") of job \(round.job): \(schedule)base model \(round.baseModelSHA256.prefix(12)), "
                + "training lr \(round.training.learningRate) batch \(round.training.batchSize) epochs \(round.training.epochs)"
        case RoundMetrics.schema:
            let metrics = try ProtocolJSON.decode(RoundMetrics.self, from: bytes)
            return "metrics of round \(metrics.round): \(metrics.updates) updates (\(metrics.participants.joined(separator: ", "))), "
                + "rejected \(Self.describe(metrics.rejected)), accuracy \(metrics.accuracy.map { String(format: "%.4f", $0) } ?? "-"), "
                + "loss \(metrics.loss.map { String(format: "%.4f", $0) } ?? "-"), \(metrics.bytesReceived) bytes, "
                + String(format: "%.2f s", metrics.durationSeconds)
                + (metrics.staleness.map { String(format: ", staleness mean %.2f max %d", $0.mean, $0.max) } ?? "")
        case AgentStatus.schema:
            let status = try ProtocolJSON.decode(AgentStatus.self, from: bytes)
            return "agent \(status.agent): \(status.state.rawValue), last round \(status.lastRound)"
                + (status.lastError.map { ", last error: \($0)" } ?? "")
        case AggregatorStatus.schema:
            let status = try ProtocolJSON.decode(AggregatorStatus.self, from: bytes)
            return "aggregator of job \(status.job): \(status.state.rawValue)\(status.round.map { ", round \($0)" } ?? "")"
        case SecAggKeys.schema:
            let keys = try ProtocolJSON.decode(SecAggKeys.self, from: bytes)
            return "secure-aggregation keys of \(keys.agent) for round \(keys.round) (identity \(keys.identityKey.prefix(12))…)"
        case SecAggRoster.schema:
            let roster = try ProtocolJSON.decode(SecAggRoster.self, from: bytes)
            return "secure-aggregation roster for \(roster.agent), round \(roster.round): threshold \(roster.threshold), "
                + "neighbours \(roster.neighbours.map(\.agent).joined(separator: ", "))"
        case SecAggShares.schema:
            let shares = try ProtocolJSON.decode(SecAggShares.self, from: bytes)
            return "secure-aggregation shares from \(shares.agent), round \(shares.round): \(shares.shares.count) sealed"
        case SecAggShareDelivery.schema:
            let delivery = try ProtocolJSON.decode(SecAggShareDelivery.self, from: bytes)
            return "secure-aggregation shares for \(delivery.agent), round \(delivery.round): \(delivery.shares.count) sealed"
        case SecAggUnmask.schema:
            let unmask = try ProtocolJSON.decode(SecAggUnmask.self, from: bytes)
            return "secure-aggregation unmask, round \(unmask.round): \(unmask.survivors.count) survivors, dropped \(unmask.dropped)"
        case SecAggReveal.schema:
            let reveal = try ProtocolJSON.decode(SecAggReveal.self, from: bytes)
            return "secure-aggregation reveal from \(reveal.agent), round \(reveal.round): \(reveal.selfMasks.count) self-mask "
                + "and \(reveal.maskKeys.count) mask-key shares"
        case HomomorphicKeyMessage.schema:
            let message = try ProtocolJSON.decode(HomomorphicKeyMessage.self, from: bytes)
            let key = try HomomorphicKey(payload: bytes, job: message.job)
            return "key holder's Paillier key of job \(message.job): \(message.bits) bits, fingerprint \(key.fingerprint.prefix(16))"
        default:
            throw CommandFailure("JSON with unknown schema '\(schema)'")
        }
    }

    private static func format(_ value: Float?) -> String {
        value.map { String(format: "%.4g", $0) } ?? "-"
    }
}
