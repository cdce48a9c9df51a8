/// MQTT delivery guarantee of a publish or subscription.
public enum QoS: Int, Sendable, Codable, CaseIterable {
    case atMostOnce = 0
    case atLeastOnce = 1
    case exactlyOnce = 2
}
