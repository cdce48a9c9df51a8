import FedMQCore
import FedMQRuntime
import Foundation

extension AggregatorRuntime {
    /// Central evaluation of each new model: by the `evaluation_command` (handed
    /// `evaluation_csv`, if given), or natively on `evaluation_csv` (scaled like the model's
    /// inputs); nil when neither is configured.
    func makeEvaluator(spec: ModelSpec) throws -> (@Sendable (Parameters) -> Evaluation?)? {
        if let command = config.evaluationCommand {
            let evaluation = EvaluationCommand(
                command: command, directory: config.stateDirectory + "/evaluation", job: config.job, spec: spec,
                dataCSV: config.evaluationCSV.map { URL(fileURLWithPath: $0).standardizedFileURL.path })
            return { [logger] parameters in
                switch evaluation.evaluate(parameters) {
                case .success(let result): return result
                case .failure(let failure):
                    logger.warning("central evaluation failed: \(failure)")
                    return nil
                }
            }
        }
        guard let path = config.evaluationCSV else { return nil }
        guard spec.isNative else {
            throw RuntimeError.configuration(
                "evaluation_csv: FedMQ cannot evaluate a model of kind \(spec.kind.rawValue) natively; give an evaluation_command instead")
        }
        var data = try CSVReader.read(file: path, options: config.evaluationOptions)
        if let columns = config.evaluationColumns {
            do {
                data = try data.selectingFeatures(named: columns)
            } catch {
                throw RuntimeError.file(path: path, reason: "evaluation_columns: \(error)")
            }
        }
        if let scaling = spec.scaling {
            try scaling.apply(to: &data)
        } else if let warning = FeatureScaling.unscaledWarning(data) {
            logger.warning("evaluation data \(path): \(warning)")
        }
        let evaluationData = data
        return { [trace] parameters in
            trace.mark("evaluation_started")
            defer { trace.mark("evaluation_finished") }
            return try? Evaluation.evaluate(parameters, spec: spec, on: evaluationData)
        }
    }
}
