/// The teacher's side of a distillation batch: its logits for the batch's rows (row-major),
/// the weight `alpha` of the distillation term and the softmax temperature.
public struct DistillationTargets: Sendable {
    public var logits: [Float]
    public var alpha: Float
    public var temperature: Float

    /// The teacher's `logits` for a batch, weighted by `alpha`, softened by `temperature`.
    public init(logits: [Float], alpha: Float, temperature: Float) {
        self.logits = logits
        self.alpha = alpha
        self.temperature = temperature
    }
}

/// Client-side knowledge distillation: a device's own student model (any classifier spec with
/// the teacher's inputs and classes, often smaller) learns from the current global model with
/// loss (1 − a)·CE(student, y) + a·T²·KL(teacher_T ‖ student_T) on the device's rows. The
/// student stays on the device: it is evaluated, never published.
public struct DistillationConfig: Codable, Sendable, Equatable {
    public var student: ModelSpec
    /// a: the weight of the teacher's soft targets against the labels.
    public var alpha: Float
    /// T: the softmax temperature of both sides' soft targets.
    public var temperature: Float
    /// Plain SGD on the student each time a global model is evaluated.
    public var epochs: Int
    public var learningRate: Float
    public var batchSize: Int

    /// A student trained with weight `alpha` at `temperature`.
    public init(student: ModelSpec, alpha: Float = 0.5, temperature: Float = 3, epochs: Int = 1, learningRate: Float = 0.1, batchSize: Int = 32) {
        self.student = student
        self.alpha = alpha
        self.temperature = temperature
        self.epochs = epochs
        self.learningRate = learningRate
        self.batchSize = batchSize
    }

    enum CodingKeys: String, CodingKey {
        case student, alpha, temperature, epochs
        case learningRate = "learning_rate"
        case batchSize = "batch_size"
    }

    /// `student` is required; the rest take the defaults of `init`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = DistillationConfig(student: ModelSpec(kind: .softmaxRegression, inputs: 1, outputs: 2))
        student = try container.decode(ModelSpec.self, forKey: .student)
        alpha = try container.decodeIfPresent(Float.self, forKey: .alpha) ?? defaults.alpha
        temperature = try container.decodeIfPresent(Float.self, forKey: .temperature) ?? defaults.temperature
        epochs = try container.decodeIfPresent(Int.self, forKey: .epochs) ?? defaults.epochs
        learningRate = try container.decodeIfPresent(Float.self, forKey: .learningRate) ?? defaults.learningRate
        batchSize = try container.decodeIfPresent(Int.self, forKey: .batchSize) ?? defaults.batchSize
    }

    /// Refuses a student that is no classifier, or settings out of range, naming the field.
    public func validate() throws(CoreError) {
        try student.validate()
        guard student.isClassifier else { throw .invalidTraining("distillation student must be a classifier (softmax_regression or mlp)") }
        guard (0...1).contains(alpha) else { throw .invalidTraining("distillation alpha must be within 0...1") }
        guard temperature > 0, temperature <= 100 else { throw .invalidTraining("distillation temperature must be within (0, 100]") }
        try TrainingConfig(learningRate: learningRate, batchSize: batchSize, epochs: epochs).validate()
    }

    /// Trains `student` in place on `data` (already scaled as the teacher's spec says) from the
    /// teacher `teacher` of spec `teacherSpec`, with the batches of `random`'s permutations.
    /// Returns the mean loss of the last epoch.
    @discardableResult
    public func train(
        _ student: inout Parameters, teacher: Parameters, teacherSpec: ModelSpec, on data: Dataset, random: inout SplitMix64
    ) throws(CoreError) -> Double {
        try validate()
        guard teacherSpec.isClassifier, teacherSpec.inputs == self.student.inputs, teacherSpec.outputs == self.student.outputs else {
            throw .invalidModel(
                "the student (\(self.student.inputs) inputs, \(self.student.outputs) classes) does not match the global model (\(teacherSpec.inputs) inputs, \(teacherSpec.outputs) outputs)"
            )
        }
        try teacherSpec.check(teacher)
        var teacherNetwork = try DenseNetwork(spec: teacherSpec)
        return try train(&student, on: data, random: &random) { batch in
            batch.features.withUnsafeBufferPointer { teacherNetwork.outputs(teacher, features: $0, rows: batch.count) }
        }
    }

    /// Trains `student` in place on `data` with the logits `teacher` gives for each batch: plain
    /// SGD on the distillation loss. Returns the mean loss of the last epoch.
    @discardableResult
    public func train(
        _ student: inout Parameters, on data: Dataset, random: inout SplitMix64, teacher: (Dataset) -> [Float]
    ) throws(CoreError) -> Double {
        try self.student.check(student)
        guard data.count > 0, data.featureCount == self.student.inputs else {
            throw .invalidData("no rows of \(self.student.inputs) features to distill on")
        }
        _ = try data.labels(classes: self.student.outputs)
        var studentNetwork = try DenseNetwork(spec: self.student)
        var gradient = student.zeros()
        var lastLoss = 0.0
        for _ in 0..<epochs {
            let order = random.permutation(data.count)
            var (sum, batches) = (0.0, 0)
            for start in stride(from: 0, to: order.count, by: batchSize) {
                let rows = order[start..<min(order.count, start + batchSize)]
                let batch = data.subset(Array(rows))
                let logits = teacher(batch)
                guard logits.count == batch.count * self.student.outputs else {
                    throw .invalidModel("the teacher gave \(logits.count) logits for \(batch.count) rows of \(self.student.outputs) classes")
                }
                let targets = DistillationTargets(logits: logits, alpha: alpha, temperature: temperature)
                sum += batch.features.withUnsafeBufferPointer { features in
                    batch.targets.withUnsafeBufferPointer { labels in
                        studentNetwork.lossAndGradient(
                            student, features: features, targets: labels, rows: batch.count, into: &gradient, teacher: targets)
                    }
                }
                try student.axpy(-learningRate, gradient)
                batches += 1
            }
            lastLoss = sum / Double(max(1, batches))
        }
        return lastLoss
    }
}
