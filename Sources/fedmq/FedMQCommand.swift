import ArgumentParser
import FedMQBench
import FedMQCommandLine

@main
struct FedMQCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fedmq",
        abstract: "FedMQ operator tool: federated learning over MQTT.",
        subcommands: [
            DemoCommand.self, InitCommand.self, DeployCommand.self, IdentityCommand.self, InspectCommand.self, PredictCommand.self,
            StatusCommand.self,
            WatchCommand.self, PartitionCommand.self,
            MQTTCommand.self,
            SimulateCommand.self, BenchCommand.self,
        ]
    )
}
