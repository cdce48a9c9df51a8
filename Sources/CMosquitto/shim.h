#ifndef FEDMQ_CMOSQUITTO_SHIM_H
#define FEDMQ_CMOSQUITTO_SHIM_H

// libmosquitto 2.0.11's mosquitto.h does not include mqtt_protocol.h, where the MQTT 5
// property identifiers (MQTT_PROP_*), reason codes (MQTT_RC_*) and protocol version
// constants (MQTT_PROTOCOL_V5) are defined. Swift needs both headers to build v5 packets.
#include <mosquitto.h>
#include <mqtt_protocol.h>

// The network thread's waker is an eventfd; Swift's Glibc module leaves this header out.
#include <sys/eventfd.h>

#endif
