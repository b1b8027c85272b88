"""Events leave the car: store-and-forward upload of the durable event log to an MQTT broker.

A room of its own because it is neither the per-frame loop (runtime) nor the install
(deploy): it reads the event log that runtime writes, from its own thread or process, and
talks to the fleet's broker. paho-mqtt is its only extra dependency (the `fleet` extra).
"""
