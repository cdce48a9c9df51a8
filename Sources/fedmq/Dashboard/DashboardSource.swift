import FedMQMetrics
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Logging
import ServiceLifecycle

/// Follows a job on the broker and keeps the dashboard's feed up to date.
struct DashboardSource: Service {
    let topics: Topics
    let options: ConnectionOptions
    let feed: LiveFeed
    let logger: Logger

    func run() async throws {
        let client = try MQTTClient(options: options)
        var job = JobState(topics: topics)
        do {
            guard try await untilShutdown({ try await client.connect() }) != nil else {
                await client.disconnect()
                return
            }
            let messages = try await client.subscribe(
                to: [topics.metrics, topics.globalRound, topics.aggregatorStatus, topics.allStatuses], qos: .atLeastOnce)
            for await message in messages.cancelOnGracefulShutdown()
            where job.receive(topic: message.topic, payload: message.payload) {
                feed.publish(job.dashboardSnapshot())
            }
        } catch {
            await client.disconnect()
            throw error
        }
        await client.disconnect()
    }

}
