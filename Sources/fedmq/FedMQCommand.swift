import ArgumentParser
import FedMQBench
import FedMQCommandLine

@main
struct FedMQCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fedmq",
        abstract: "FedMQ operator tool: federated learning over MQTT.",
        subcommands: [
            DemoCommand.self, InitCommand.self, DeployCommand.self, IdentityCommand.self, StatusCommand.self, WatchCommand.self,
            DashboardCommand.self, InspectCommand.self, EpsilonCommand.self, AnalyticsCommand.self, PredictCommand.self, PartitionCommand.self,
            WindowsCommand.self, ModelCommand.self,
            MQTTCommand.self,
            SimulateCommand.self, SimulatedAgentsCommand.self,
            BenchCommand.self,
        ]
    )
}
