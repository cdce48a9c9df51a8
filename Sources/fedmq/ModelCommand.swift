import ArgumentParser
import FedMQCommandLine
import FedMQCore
import FedMQProtocol
import FedMQRuntime
import Foundation

/// `fedmq model`: model files.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model", abstract: "Make FedMQ model files from other tools' weights.", subcommands: [ModelImportCommand.self])
}

/// `fedmq model import`: another tool's safetensors weights plus a spec in, a job's initial
/// model (`initial_model` of the aggregator) out.
struct ModelImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Turn a safetensors file from PyTorch, Keras, scikit-learn or numpy into a job's initial model.",
        discussion: """
            A dense model (softmax_regression, mlp, linear_regression) names its tensors W, b (one layer) or
            W1, b1, W2, b2 ...; map other names with --rename W1=fc1.weight, and give --layout out-in for PyTorch's
            Linear weights (outputs x inputs). A sequential model's tensors are those of PyTorch's nn.Sequential of
            the same layers (0.weight, 0.bias, ...), in PyTorch's layouts: its state dict imports as it is. An
            external model (--spec with kind external, or --external to list every float tensor of the file) keeps
            the names, shapes and layouts of its framework: its trainer and evaluation command read them back as
            they are. F64, F16 and BF16 become float32; integer tensors (a batch norm's step count) stay out.
            Everything missing or mismatched is named in one message.
            Example: fedmq model import --weights cnn.safetensors --external --job motions --out initial.safetensors
            """
    )

    @Option(help: "The weights (safetensors) to import.") var weights: String
    @Option(help: "The model spec (JSON) the weights are for.") var spec: String?
    @Flag(help: "Make an external model of every float tensor in the file (instead of --spec).") var external = false
    @Option(help: "The job the model is for (its metadata names it).") var job: String
    @Option(help: "Where to write the model (safetensors with FedMQ's metadata).") var out: String
    @Option(help: "Weights' layout in the file, for the dense kinds: in-out (Keras, FedMQ) or out-in (PyTorch).")
    var layout: String = ModelImport.WeightLayout.inOut.rawValue
    @Option(help: "A spec tensor's name in the file, as SPEC=FILE (repeatable).") var rename: [String] = []
    @Option(help: "With --external: features per data row, for the trainer (optional).") var inputs: Int = 0
    @Option(help: "With --external: classes, for the trainer (optional).") var outputs: Int = 0

    func run() throws {
        guard (spec == nil) != !external else { throw ValidationError("give exactly one of --spec FILE and --external") }
        guard let weightLayout = ModelImport.WeightLayout(rawValue: layout) else {
            throw ValidationError("--layout takes \(ModelImport.WeightLayout.allCases.map(\.rawValue).joined(separator: " or ")), not '\(layout)'")
        }
        guard Identifier.isValid(job) else { throw ValidationError("--job '\(job)' is not a valid job name (letters, digits, '-', '_')") }
        var sources: [String: String] = [:]
        for pair in rename {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw ValidationError("--rename takes SPEC=FILE, not '\(pair)'") }
            sources[parts[0]] = parts[1]
        }
        let (file, skipped) = try Self.read(weights)
        let modelSpec: ModelSpec
        do {
            if let spec {
                modelSpec = try ModelSpec.parse(try String(contentsOfFile: spec, encoding: .utf8))
            } else {
                modelSpec = try ModelImport.externalSpec(of: file, inputs: inputs, outputs: outputs)
            }
        } catch let error as CoreError {
            throw CommandFailure("\(spec ?? weights): \(error)")
        } catch {
            throw CommandFailure("\(spec ?? weights): cannot read: \(error.localizedDescription)")
        }
        let result: ModelImport.Result
        do {
            result = try ModelImport.parameters(for: modelSpec, from: file, skipped: skipped, layout: weightLayout, sources: sources)
        } catch {
            throw CommandFailure("\(weights): \(error)")
        }
        try DurableFile.write(ModelCodec.encodeModel(result.parameters, spec: modelSpec, job: job, round: 0), to: out)
        print("\(out): \(modelSpec.kind.rawValue) model, \(result.parameters.count) parameters in \(result.parameters.names.count) tensors")
        if !result.unused.isEmpty {
            print("not imported: " + result.unused.keys.sorted().map { "\($0) (\(result.unused[$0] ?? ""))" }.joined(separator: ", "))
        }
    }

    /// The file's tensors, float ones converted to float32, and the names and dtypes of the others.
    static func read(_ path: String) throws -> (SafetensorsFile, [String: String]) {
        let bytes: [UInt8]
        do {
            bytes = try DurableFile.read(path)
        } catch {
            throw CommandFailure("\(path): cannot read: \(error)")
        }
        do {
            return try SafetensorsDecoder.decodeForeign(bytes)
        } catch {
            throw CommandFailure("\(path): \(error)")
        }
    }
}
