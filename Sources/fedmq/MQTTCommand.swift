import ArgumentParser
import FedMQCommandLine
import FedMQRuntime
import FedMQTransport
import Foundation

struct MQTTCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mqtt",
        abstract: "Check MQTT connectivity with FedMQ's own client.",
        subcommands: [Connect.self]
    )

    struct Connect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Connect to a broker and report the result; with --hold, stay connected and print connection events.",
            discussion: """
                Exits 0 once the broker accepted the connection (or, with --hold, after SIGINT or SIGTERM,
                which disconnect cleanly so the broker drops the last will). Exits 1 with the reason when
                the broker cannot be reached, refuses the credentials, or fails TLS.
                """
        )

        @OptionGroup var broker: BrokerOptions

        @Option(name: .customLong("will-topic"), help: "Topic of a last will the broker publishes if this process dies.")
        var willTopic: String?

        @Option(name: .customLong("will-payload"), help: "Payload of the last will.")
        var willPayload = "offline"

        @Flag(name: .customLong("will-retain"), help: "Retain the last will.")
        var willRetain = false

        @Flag(help: "Stay connected until SIGINT or SIGTERM.")
        var hold = false

        func run() async throws {
            let will = willTopic.map { LastWill(topic: $0, payload: Array(willPayload.utf8), retain: willRetain) }
            let client = try MQTTClient(options: broker.connectionOptions(will: will))
            let events = client.connectionEvents()
            do {
                try await client.connect()
            } catch {
                await client.disconnect()
                throw CommandFailure("cannot connect to \(broker.host):\(broker.port): \(error)")
            }
            print("connected to \(broker.host):\(broker.port)")
            if hold {
                let printer = Task {
                    for await event in events { print("event: \(event)") }
                }
                await ShutdownSignal.wait()
                printer.cancel()
            }
            await client.disconnect()
        }
    }
}
