import FedMQCore
import FedMQProtocol

extension AgentRuntime {
    /// The global model on the held-out rows, with personalization a copy fine-tuned on the
    /// training rows, and with distillation the agent's student; nil if the data do not fit the
    /// model. A student that could not be distilled is left out, with a warning.
    static func evaluate(
        _ base: GlobalModel, training: TrainingConfig, train: Dataset, holdout: Dataset, config: AgentConfig
    ) -> (AgentEvaluation?, warning: String?) {
        do throws(CoreError) {
            var (train, holdout) = (train, holdout)
            if let scaling = base.spec.scaling {
                try scaling.apply(to: &train)
                try scaling.apply(to: &holdout)
            }
            let global = try Evaluation.evaluate(base.parameters, spec: base.spec, on: holdout)
            var personalized: Evaluation?
            if config.personalizationEpochs > 0 {
                var tuning = training
                tuning.epochs = config.personalizationEpochs
                tuning.dpSGD = nil  // the copy never leaves the device
                var parameters = base.parameters
                var trainer = try Trainer(spec: base.spec, config: tuning)
                var random = SplitMix64(seed: config.seed &+ UInt64(base.round) &* 7919)
                _ = try trainer.train(&parameters, on: train, random: &random)
                personalized = try Evaluation.evaluate(parameters, spec: base.spec, on: holdout)
            }
            var evaluation = AgentEvaluation(
                job: config.job, agent: config.agent, round: base.round, examples: holdout.count, accuracy: global.accuracy,
                loss: global.loss, personalizedAccuracy: personalized?.accuracy, personalizedLoss: personalized?.loss)
            evaluation.errorHistogram = global.errorHistogram
            guard let distillation = config.distillation else { return (evaluation, nil) }
            do throws(CoreError) {
                let student = try distill(distillation, teacher: base, train: train, holdout: holdout, config: config)
                evaluation.studentAccuracy = student.accuracy
                evaluation.studentLoss = student.loss
                return (evaluation, nil)
            } catch {
                return (evaluation, "distillation of the student from the model of round \(base.round) failed: \(error)")
            }
        } catch {
            return (nil, nil)
        }
    }
}
