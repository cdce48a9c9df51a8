import FedMQCore
import FedMQProcess
import FedMQProtocol
import FedMQRuntime
import Foundation

/// Runs the aggregator's `evaluation_command` on each new model, in a private work folder
/// `<state>/evaluation/` (mode 0700, emptied before each run):
/// - FedMQ writes `model.safetensors`: the model's tensors, with the job and the model spec in
///   its metadata (`fedmq.job`, `fedmq.model_spec`);
/// - the program, started there with `FEDMQ_WORK_DIR` set (and `FEDMQ_EVALUATION_CSV`, the
///   absolute path of the aggregator's `evaluation_csv`, if it has one), writes `evaluation.json`
///   (`{"examples": N, "loss": L}`, optionally `"accuracy"` in [0, 1], `"mae"` and a
///   `"confusion"` matrix of counts) and exits 0; its output goes to `evaluation.log`.
/// The round's model is published after the evaluation (its metrics carry the result), so the
/// program's time adds to the round's; it is stopped after `timeout_seconds`.
struct EvaluationCommand: Sendable {
    let command: ExternalCommand
    /// `<state>/evaluation`.
    let directory: String
    let job: String
    let spec: ModelSpec
    /// The aggregator's `evaluation_csv` as an absolute path: the program runs in its work folder.
    var dataCSV: String?

    /// Evaluates `parameters` with the program; a failure names the program or the file.
    func evaluate(_ parameters: Parameters) -> Result<Evaluation, ProgramRun.Failure> {
        let program = ProgramRun(command: command.command, timeoutSeconds: command.timeoutSeconds, role: "the evaluation command")
        let log = directory + "/evaluation.log"
        do {
            try? FileManager.default.removeItem(atPath: directory)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let model = SafetensorsEncoder.encode(
                parameters, metadata: [ModelCodec.Key.kind: "model", ModelCodec.Key.job: job, ModelCodec.Key.modelSpec: spec.jsonString()])
            try DurableFile.write(model, to: directory + "/model.safetensors", syncDirectory: false, mode: 0o600)
        } catch {
            return .failure(ProgramRun.Failure("cannot prepare \(directory): \(error)"))
        }
        do throws(ProgramRun.Failure) {
            var environment = ["FEDMQ_WORK_DIR": directory]
            environment["FEDMQ_EVALUATION_CSV"] = dataCSV
            let child = try program.start(in: directory, environment: environment, log: log)
            try program.finishBlocking(child, log: log)
            return .success(try Self.read(directory + "/evaluation.json"))
        } catch {
            return .failure(error)
        }
    }

    /// The program's result, checked: a positive count, a finite loss, an accuracy in [0, 1],
    /// a finite non-negative MAE, and a square confusion matrix of counts that add up to it.
    static func read(_ path: String) throws(ProgramRun.Failure) -> Evaluation {
        guard let data = FileManager.default.contents(atPath: path) else { throw ProgramRun.Failure("the evaluation command wrote no \(path)") }
        let evaluation: Evaluation
        do {
            evaluation = try JSONDecoder().decode(Evaluation.self, from: data)
        } catch {
            throw ProgramRun.Failure("\(path): not {\"examples\": N, \"loss\": L, ...}: \(error.localizedDescription)")
        }
        guard evaluation.examples > 0, evaluation.examples < 1 << 40 else {
            throw ProgramRun.Failure("\(path): examples must be a positive count, not \(evaluation.examples)")
        }
        guard evaluation.loss.isFinite else { throw ProgramRun.Failure("\(path): loss must be a finite number") }
        if let accuracy = evaluation.accuracy, !(0...1).contains(accuracy) {
            throw ProgramRun.Failure("\(path): accuracy must lie in [0, 1], not \(accuracy)")
        }
        if let mae = evaluation.meanAbsoluteError, !(mae.isFinite && mae >= 0) {
            throw ProgramRun.Failure("\(path): mae must be a finite, non-negative number")
        }
        if let histogram = evaluation.errorHistogram, !ReconstructionErrors.isValid(histogram, examples: evaluation.examples) {
            throw ProgramRun.Failure("\(path): error_histogram must count the examples in \(ReconstructionErrors.binCount) bins")
        }
        if let confusion = evaluation.confusion {
            let refusal = ProgramRun.Failure("\(path): confusion must be a square matrix of counts that add up to examples")
            guard confusion.count <= 4096, confusion.allSatisfy({ $0.count == confusion.count }) else { throw refusal }
            // Added up against the remainder, so that no sum of large counts can overflow.
            var left = evaluation.examples
            for count in confusion.joined() {
                guard count >= 0, count <= left else { throw refusal }
                left -= count
            }
            guard left == 0 else { throw refusal }
        }
        return evaluation
    }
}
