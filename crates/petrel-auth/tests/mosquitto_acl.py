"""Asks a running Mosquitto broker for its ACL decisions, one case per input line.

Usage: mosquitto_acl.py PORT CASES_FILE
Each case line is tab-separated: user (or '-' for anonymous), password, client id, kind,
then kind-specific fields:
  sub    FILTER          -> 1 if SUBACK grants the subscription (MQTT 5), else 0
  pub    TOPIC           -> 1 if PUBACK (QoS 1) has a success reason code, else 0
  deliver FILTER TOPIC   -> 1 if, subscribed with FILTER, a message an admin publishes
                            to TOPIC arrives, else 0 (admin/admin must have readwrite #)
Prints one 0/1 per case line, in order.
"""

import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

TIMEOUT = 3.0


class Probe:
    def __init__(self, port, user, password, client_id):
        self.connected = threading.Event()
        self.subacked = threading.Event()
        self.published = threading.Event()
        self.message = threading.Event()
        self.sub_codes = []
        self.pub_code = None
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if user != "-":
            self.c.username_pw_set(user, password)
        self.c.on_connect = lambda c, u, f, rc, p: self.connected.set() if not rc.is_failure else None
        self.c.on_subscribe = self._on_subscribe
        self.c.on_publish = self._on_publish
        self.c.on_message = lambda c, u, m: self.message.set()
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        if not self.connected.wait(TIMEOUT):
            raise RuntimeError(f"connect failed for {user!r}/{client_id!r}")

    def _on_subscribe(self, c, u, mid, codes, props):
        self.sub_codes = codes
        self.subacked.set()

    def _on_publish(self, c, u, mid, rc, props):
        self.pub_code = rc
        self.published.set()

    def subscribe(self, flt):
        self.c.subscribe(flt, qos=0)
        if not self.subacked.wait(TIMEOUT):
            raise RuntimeError("no SUBACK")
        return 0 if self.sub_codes[0].is_failure else 1

    def publish(self, topic):
        self.c.publish(topic, b"x", qos=1)
        if not self.published.wait(TIMEOUT):
            raise RuntimeError("no PUBACK")
        return 0 if self.pub_code.is_failure else 1

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def main():
    port = int(sys.argv[1])
    with open(sys.argv[2], encoding="utf-8") as f:
        cases = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    for n, case in enumerate(cases):
        user, password, client_id, kind, *args = case
        p = Probe(port, user, password, client_id)
        try:
            if kind == "sub":
                result = p.subscribe(args[0])
            elif kind == "pub":
                result = p.publish(args[0])
            elif kind == "deliver":
                result = p.subscribe(args[0])
                if result:
                    admin = Probe(port, "admin", "admin", f"admin-{n}")
                    admin.publish(args[1])
                    admin.close()
                    result = 1 if p.message.wait(0.5) else 0
            else:
                raise RuntimeError(f"unknown kind {kind}")
        finally:
            p.close()
        print(result, flush=True)


if __name__ == "__main__":
    main()
