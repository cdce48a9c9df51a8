import FedMQCore
import FedMQProtocol

extension AgentRuntime {
    /// An analytics round's "trained model": `base` plus this agent's statistics vector.
    static func statistics(
        _ analytics: AnalyticsSettings, base: GlobalModel, data: Dataset?, labelName: String?
    ) -> Result<(parameters: Parameters, records: Int), CoreError> {
        Result { () throws(CoreError) in
            guard let data else { throw .invalidData("analytics queries need local data (data_csv)") }
            let (vector, records) = try LocalStatistics.compute(analytics, over: data, labelName: labelName)
            return (try base.parameters.reshaped(zip(base.parameters.tensors.flatMap(\.values), vector).map { $0 + $1 }), records)
        }
    }
}
