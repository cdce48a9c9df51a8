import FedMQCore
import FedMQRuntime

extension AggregatorRuntime {
    /// Central evaluation of each new model: natively on `evaluation_csv` (scaled like the
    /// model's inputs), or by the `evaluation_command`; nil when neither is configured.
    func makeEvaluator(spec: ModelSpec) throws -> (@Sendable (Parameters) -> Evaluation?)? {
        if let command = config.evaluationCommand {
            let evaluation = EvaluationCommand(
                command: command, directory: config.stateDirectory + "/evaluation", job: config.job, spec: spec)
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
                "evaluation_csv cannot evaluate a \(spec.kind.rawValue) model natively: give an evaluation_command instead")
        }
        var data = try CSVReader.read(file: path, options: config.evaluationOptions)
        if let scaling = spec.scaling {
            try scaling.apply(to: &data)
        } else if let warning = FeatureScaling.unscaledWarning(data) {
            logger.warning("evaluation data \(path): \(warning)")
        }
        let evaluationData = data
        return { parameters in try? Evaluation.evaluate(parameters, spec: spec, on: evaluationData) }
    }
}
