import ArgumentParser
import FedMQCommandLine
import FedMQCore
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation

/// `fedmq predict`: the global model's predictions for rows of a CSV file, from a model file
/// or from a job's retained model on the broker.
struct PredictCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Predict with a global model: one line per row (the class index, the value for regression, an autoencoder's reconstruction error).",
        discussion: """
            The rows are the model's inputs, raw (the model's scaling is applied), with or without a label column:
            a file with one column more than the model's inputs has its label last, and the accuracy and loss on
            it are reported on standard error. For an autoencoder each line is the row's reconstruction error (mean
            squared), and with --threshold (the metrics' federated.anomaly_threshold) a comma and 1 for an anomaly,
            0 otherwise. Example:
              fedmq predict --job digits --host 127.0.0.1 --data new-readings.csv --out predictions.txt
            """
    )

    @Option(help: "A global model file (safetensors, as retained on global/model).") var model: String?
    @Option(help: "Or: the job whose retained global model to use (from the broker).") var job: String?
    @OptionGroup var broker: BrokerOptions
    @Option(help: "The rows to predict (CSV).") var data: String
    @Flag(help: "The CSV starts with a header line.") var header = false
    @Option(help: "Write the predictions here instead of standard output.") var out: String?
    @Option(help: "Autoencoders: flag rows whose reconstruction error exceeds this.") var threshold: Double?

    func validate() throws {
        guard (model == nil) != (job == nil) else { throw ValidationError("give exactly one of --model and --job") }
    }

    func run() async throws {
        let global = try ModelCodec.decodeModel(try await modelBytes())
        let spec = global.spec
        guard let text = try? String(contentsOfFile: data, encoding: .utf8) else { throw CommandFailure("cannot read '\(data)'") }
        let firstRow = text.split(whereSeparator: \.isNewline).dropFirst(header ? 1 : 0).first ?? ""
        let columns = firstRow.split(separator: ",", omittingEmptySubsequences: false).count
        guard columns == spec.inputs || columns == spec.inputs + 1 else {
            throw CommandFailure("\(data): \(columns) columns, but the model takes \(spec.inputs) inputs (or \(spec.inputs + 1) with a label last)")
        }
        let labelled = columns == spec.inputs + 1
        var rows = try CSVReader.parse(text, file: data, options: CSVOptions(hasHeader: header, label: labelled ? .last : .none))
        // What the network's buffers need, checked here rather than trusted to the parse above.
        guard rows.count > 0, rows.featureCount == spec.inputs else {
            throw CommandFailure("\(data): \(rows.count) rows of \(rows.featureCount) inputs; the model takes \(spec.inputs)")
        }
        if let scaling = spec.scaling { try scaling.apply(to: &rows) }
        guard threshold == nil || spec.reconstructs else { throw ValidationError("--threshold is for an autoencoder (objective reconstruction)") }
        var network = try DenseNetwork(spec: spec)
        let lines: String
        if spec.reconstructs {
            let outputs = rows.features.withUnsafeBufferPointer { network.outputs(global.parameters, features: $0, rows: rows.count) }
            lines =
                (0..<rows.count).map { row in
                    let range = (row * spec.inputs)..<((row + 1) * spec.inputs)
                    let error =
                        zip(outputs[range], rows.features[range]).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / Double(spec.inputs)
                    return threshold.map { "\(error),\(error > $0 ? 1 : 0)" } ?? "\(error)"
                }.joined(separator: "\n") + "\n"
        } else {
            let predictions = rows.features.withUnsafeBufferPointer { network.predict(global.parameters, features: $0, rows: rows.count) }
            lines = predictions.map { spec.isClassifier ? "\(Int($0))" : "\($0)" }.joined(separator: "\n") + "\n"
        }
        if let out {
            try lines.write(toFile: out, atomically: true, encoding: .utf8)
        } else {
            FileHandle.standardOutput.write(Data(lines.utf8))
        }
        let source = model ?? "job \(job ?? "") round \(global.round)"
        var summary = "\(rows.count) predictions with the model of \(source)"
        if labelled {
            let evaluation = try Evaluation.evaluate(global.parameters, spec: spec, on: rows)
            summary += evaluation.accuracy.map { String(format: "; accuracy %.4f", $0) } ?? ""
            summary += String(format: "; loss %.4f on the labels given", evaluation.loss)
        }
        FileHandle.standardError.write(Data((summary + "\n").utf8))
    }

    /// The model's bytes: the file, or the job's retained `global/model`.
    private func modelBytes() async throws -> [UInt8] {
        if let model {
            guard let bytes = FileManager.default.contents(atPath: model) else { throw CommandFailure("cannot read '\(model)'") }
            return Array(bytes)
        }
        let topics = try Topics(job: job ?? "")
        guard let retained = try await RetainedState.read([topics.globalModel], broker: broker) else {
            throw CommandFailure("the broker at \(broker.host):\(broker.port) does not let this user read job '\(topics.job)'")
        }
        guard let model = retained[topics.globalModel] else {
            throw CommandFailure("job '\(topics.job)' has no retained global model on \(broker.host):\(broker.port)")
        }
        return model.payload
    }
}
