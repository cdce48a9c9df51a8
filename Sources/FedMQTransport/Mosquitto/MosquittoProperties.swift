import CMosquitto
import FoundationEssentials
import Glibc

/// An owned MQTT 5 property list, freed when the value goes away.
///
/// Only used within one call on one thread; never shared.
final class PropertyList {
    private(set) var head: OpaquePointer?

    init() {}

    deinit {
        mosquitto_property_free_all(&head)
    }

    func addInt32(_ identifier: Int32, _ value: UInt32, call: String) throws(MQTTError) {
        try MosquittoLibrary.check(mosquitto_property_add_int32(&head, identifier, value), call)
    }

    func addUserProperty(_ property: UserProperty, call: String) throws(MQTTError) {
        try MosquittoLibrary.check(
            mosquitto_property_add_string_pair(&head, Int32(MQTT_PROP_USER_PROPERTY.rawValue), property.name, property.value),
            call)
    }
}

enum MessagePropertyReader {
    /// Copies the properties FedMQ uses out of a received message's property list.
    static func read(_ list: OpaquePointer?) -> MessageProperties {
        var result = MessageProperties()
        var current = list
        while let property = current {
            let identifier = mosquitto_property_identifier(property)
            switch identifier {
            case Int32(MQTT_PROP_MESSAGE_EXPIRY_INTERVAL.rawValue):
                var value: UInt32 = 0
                if mosquitto_property_read_int32(property, identifier, &value, false) != nil {
                    result.messageExpiry = value
                }
            case Int32(MQTT_PROP_CONTENT_TYPE.rawValue):
                var value: UnsafeMutablePointer<CChar>?
                if mosquitto_property_read_string(property, identifier, &value, false) != nil, let value {
                    result.contentType = String(cString: value)
                    free(value)
                }
            case Int32(MQTT_PROP_USER_PROPERTY.rawValue):
                var name: UnsafeMutablePointer<CChar>?
                var value: UnsafeMutablePointer<CChar>?
                if mosquitto_property_read_string_pair(property, identifier, &name, &value, false) != nil {
                    if let name, let value {
                        result.userProperties.append(UserProperty(String(cString: name), String(cString: value)))
                    }
                    free(name)
                    free(value)
                }
            default:
                break
            }
            current = mosquitto_property_next(property)
        }
        return result
    }
}
