/// Turns another tool's weights (a safetensors file from PyTorch, Keras, scikit-learn or numpy)
/// into the parameters of a FedMQ model spec, reporting every problem at once.
public enum ModelImport {
    /// How a framework lays out a dense layer's weight matrix.
    public enum WeightLayout: String, Sendable, CaseIterable {
        /// (inputs, outputs): FedMQ's own, Keras' `Dense` kernel, scikit-learn's `coefs_`.
        case inOut = "in-out"
        /// (outputs, inputs): PyTorch's `nn.Linear.weight`, scikit-learn's `coef_`.
        case outIn = "out-in"
    }

    /// What an import produced: the parameters in the spec's order, and the source tensors it
    /// left out (name and dtype, the non-float ones among them), for the user to check.
    public struct Result: Sendable, Equatable {
        public var parameters: Parameters
        public var unused: [String: String]
    }

    /// The spec of an external model holding `file`'s float tensors, in the file's data order.
    public static func externalSpec(of file: SafetensorsFile, inputs: Int = 0, outputs: Int = 0) throws(CoreError) -> ModelSpec {
        let spec = ModelSpec(external: file.tensors.map { TensorSpec(name: $0.name, shape: $0.shape) }, inputs: inputs, outputs: outputs)
        try spec.validate()
        return spec
    }

    /// `spec`'s parameters from `file`. Each spec tensor is read from the source tensor that
    /// `sources` names for it (default: its own name); for a dense kind (whose weights are
    /// (in, out)), 2-D weights in `layout` `.outIn` are transposed. Sequential and external
    /// models keep PyTorch's layouts, so their tensors are taken as they are. Every missing tensor, shape mismatch and non-finite
    /// value is named in one error.
    public static func parameters(
        for spec: ModelSpec, from file: SafetensorsFile, skipped: [String: String] = [:], layout: WeightLayout = .inOut,
        sources: [String: String] = [:]
    ) throws(CoreError) -> Result {
        try spec.validate()
        let layoutNames = Set(spec.parameterLayout.map(\.name))
        let stray = sources.keys.filter { !layoutNames.contains($0) }.sorted()
        var problems = stray.map { "'\($0)' is not a tensor of this model (it has \(spec.parameterLayout.map(\.name).joined(separator: ", ")))" }
        let byName = Dictionary(file.tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var tensors: [Tensor] = []
        var used = Set<String>()
        for (name, shape) in spec.parameterLayout {
            let source = sources[name] ?? name
            guard var tensor = byName[source] else {
                let reason = skipped[source].map { "is \($0), not a float tensor" } ?? "is missing"
                problems.append("\(name) (source '\(source)', shape \(shape)) \(reason)")
                continue
            }
            used.insert(source)
            if spec.hasInOutWeights && layout == .outIn && tensor.shape.count == 2 {
                tensor = tensor.transposed()
            }
            guard tensor.shape == shape else {
                let hint = spec.hasInOutWeights && shape.count == 2 ? " in \(layout.rawValue) layout" : ""
                problems.append("\(name) (source '\(source)') has shape \(tensor.shape)\(hint), the model needs \(shape)")
                continue
            }
            if let bad = tensor.values.firstIndex(where: { !$0.isFinite }) {
                problems.append("\(name) (source '\(source)') holds a non-finite value at index \(bad)")
                continue
            }
            tensor.name = name
            tensors.append(tensor)
        }
        guard problems.isEmpty else {
            let held = file.tensors.map { "\($0.name) \($0.shape)" } + skipped.keys.sorted().map { "\($0) (\(skipped[$0] ?? ""))" }
            throw .invalidModel(
                "cannot import: " + problems.joined(separator: "; ") + "; the file holds "
                    + (held.isEmpty ? "no tensors" : held.joined(separator: ", ")))
        }
        var unused = skipped
        for tensor in file.tensors where !used.contains(tensor.name) { unused[tensor.name] = "float" }
        return Result(parameters: try Parameters(tensors), unused: unused)
    }
}

extension Tensor {
    /// A 2-D tensor's transpose (rows become columns), under the same name.
    func transposed() -> Tensor {
        guard shape.count == 2 else { return self }
        let (rows, columns) = (shape[0], shape[1])
        var values = [Float](repeating: 0, count: self.values.count)
        for row in 0..<rows {
            for column in 0..<columns { values[column * rows + row] = self.values[row * columns + column] }
        }
        return (try? Tensor(name: name, shape: [columns, rows], values: values)) ?? self
    }
}
