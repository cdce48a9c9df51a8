import FedMQCore
import FedMQProcess
import FedMQProtocol
import FedMQRuntime
import FoundationEssentials
import Glibc
import Synchronization

/// Runs the agent's `trainer` (an `ExternalCommand`) for one round, in a private work folder `<state>/trainer/round-<r>/`
/// (mode 0700, emptied of earlier rounds):
/// - FedMQ writes `global.safetensors` (the round's base model, as on `global/model`) and
///   `round.json` (`fedmq.trainer-round/1`: job, agent, round, seed, the training settings, the
///   model spec and tensor layout, the file names, and the local data file if configured);
/// - the program, started in that folder with `FEDMQ_WORK_DIR` and `FEDMQ_ROUND` set, writes
///   `trained.safetensors` (every tensor of the global model, same names and shapes, F32 or F16)
///   and `result.json` (`{"examples": N, "metrics": {"name": number, ...}}`), then exits 0;
/// - its output goes to `trainer.log` there. Everything after (delta, clipping, noise,
///   encoding, signing, secure or homomorphic aggregation, the ledger) is FedMQ's, as always.
struct ExternalTrainer: Sendable {
    let trainer: ExternalCommand
    /// `<state>/trainer`.
    let directory: String
    let job: String
    let agent: String
    /// The local data file, handed on in `round.json` (the program may read its own instead).
    let dataCSV: String?
    /// The program while it runs, so that a shutting-down agent stops it (it leads a process
    /// group of its own, which the agent's exit alone would leave running).
    let running = Running()

    final class Running: Sendable {
        let child = Mutex<ChildProcess?>(nil)

        /// Stops the running program's whole process group, if one runs.
        func stop() {
            child.withLock { $0?.sendToGroup(SIGKILL) }
        }
    }

    /// What a successful run produced.
    struct Output: Sendable {
        var parameters: Parameters
        var examples: Int
        var metrics: [String: Double]
    }

    /// Why a run produced nothing usable; each names the file or the program.
    typealias Failure = ProgramRun.Failure

    private struct RoundFile: Encodable {
        var schema = "fedmq.trainer-round/1"
        var job: String
        var agent: String
        var round: Int
        var seed: UInt64
        var training: TrainingConfig
        var modelSpec: ModelSpec
        var tensors: [Tensor]
        var globalModel = "global.safetensors"
        var trainedModel = "trained.safetensors"
        var result = "result.json"
        var dataCSV: String?

        struct Tensor: Encodable {
            var name: String
            var shape: [Int]
        }

        enum CodingKeys: String, CodingKey {
            case schema, job, agent, round, seed, training, tensors, result
            case modelSpec = "model_spec"
            case globalModel = "global_model"
            case trainedModel = "trained_model"
            case dataCSV = "data_csv"
        }
    }

    private struct ResultFile: Decodable {
        var examples: Int
        var metrics: [String: Double]?
    }

    /// Trains round `round` from `base`: writes the inputs, runs the program within its
    /// timeout, reads and checks what it wrote.
    func train(round: Int, base: GlobalModel, training: TrainingConfig, seed: UInt64) async -> Result<Output, Failure> {
        let work = directory + "/round-\(round)"
        do {
            try prepare(work, round: round, base: base, training: training, seed: seed)
            try await run(in: work, round: round)
            return .success(try collect(from: work, like: base.parameters))
        } catch let failure as Failure {
            return .failure(failure)
        } catch {
            return .failure(Failure("\(error)"))
        }
    }

    private func prepare(_ work: String, round: Int, base: GlobalModel, training: TrainingConfig, seed: UInt64) throws {
        // Only the current round's folder stays: earlier models and results are not kept.
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory)
        try DurableFile.write(
            ModelCodec.encodeModel(base.parameters, spec: base.spec, job: job, round: base.round), to: work + "/global.safetensors", mode: 0o600)
        let file = RoundFile(
            job: job, agent: agent, round: round, seed: seed, training: training, modelSpec: base.spec,
            tensors: base.parameters.tensors.map { .init(name: $0.name, shape: $0.shape) },
            // The program runs in the work folder: a relative path would not lead it to the data.
            dataCSV: dataCSV.map { URL(fileURLWithPath: $0).standardizedFileURL.path })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try DurableFile.write(Array(try encoder.encode(file)), to: work + "/round.json", mode: 0o600)
    }

    private func run(in work: String, round: Int) async throws {
        let program = ProgramRun(command: trainer.command, timeoutSeconds: trainer.timeoutSeconds, role: "the trainer")
        let log = work + "/trainer.log"
        let child = try program.start(in: work, environment: ["FEDMQ_WORK_DIR": work, "FEDMQ_ROUND": "\(round)"], log: log)
        running.child.withLock { $0 = child }
        defer { running.child.withLock { $0 = nil } }
        try await program.finish(child, log: log)
    }

    private func collect(from work: String, like global: Parameters) throws -> Output {
        let resultPath = work + "/result.json"
        guard let data = FileManager.default.contents(atPath: resultPath) else {
            throw Failure("the trainer wrote no \(resultPath)")
        }
        let result: ResultFile
        do {
            result = try JSONDecoder().decode(ResultFile.self, from: data)
        } catch {
            throw Failure("\(resultPath): not {\"examples\": N, \"metrics\": {...}}: \(ErrorText.describe(error))")
        }
        guard result.examples > 0, result.examples < 1 << 40 else {
            throw Failure("\(resultPath): examples must be a positive count, not \(result.examples)")
        }
        let modelPath = work + "/trained.safetensors"
        guard let bytes = FileManager.default.contents(atPath: modelPath) else { throw Failure("the trainer wrote no \(modelPath)") }
        let parameters: Parameters
        do {
            parameters = try SafetensorsDecoder.decode(Array(bytes)).parameters(orderedAs: global.names)
            try global.checkCompatible(with: parameters)
        } catch {
            throw Failure("\(modelPath) does not fit the global model (\(global.names.joined(separator: ", "))): \(error)")
        }
        return Output(parameters: parameters, examples: result.examples, metrics: result.metrics ?? [:])
    }
}
