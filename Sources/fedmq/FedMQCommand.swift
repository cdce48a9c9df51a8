import ArgumentParser

@main
struct FedMQCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fedmq",
        abstract: "FedMQ operator tool: federated learning over MQTT.",
        subcommands: [MQTTCommand.self, BenchCommand.self]
    )
}
