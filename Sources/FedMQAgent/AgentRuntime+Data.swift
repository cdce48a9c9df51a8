import FedMQCore
import FedMQRuntime

extension AgentRuntime {
    /// The local data: `data_csv` read with the config's options, and with `data_columns` only
    /// those feature columns, in that order.
    static func readData(_ config: AgentConfig) throws -> Dataset {
        let data = try CSVReader.read(file: config.dataCSV, options: config.dataOptions)
        guard let columns = config.dataColumns else { return data }
        do {
            return try data.selectingFeatures(named: columns)
        } catch {
            throw RuntimeError.file(path: config.dataCSV, reason: "data_columns: \(error)")
        }
    }
}
