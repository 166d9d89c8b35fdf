"""Pub/sub both ways through the broker's WebSocket (or WebSocket over TLS) listener with
paho-mqtt 2.x: an MQTT 3.1.1 client and an MQTT 5 client each receive what the other sends.

usage: paho_ws.py HOST PORT PATH [CA_FILE [CERT KEY]]   (a CA file means wss; a client
certificate and key mean mutual TLS)
Exits 0 on success, 1 with a message on failure.
"""
import sys
import threading

import paho.mqtt.client as mqtt

HOST, PORT, PATH = sys.argv[1], int(sys.argv[2]), sys.argv[3]
CA = sys.argv[4] if len(sys.argv) > 4 else None
CERT, KEY = (sys.argv[5], sys.argv[6]) if len(sys.argv) > 6 else (None, None)
TIMEOUT = 10


def make(client_id, protocol, topic):
    got = threading.Event()
    subscribed = threading.Event()
    received = []
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        transport="websockets",
        protocol=protocol,
    )
    c.ws_set_options(path=PATH)
    if CA:
        c.tls_set(ca_certs=CA, certfile=CERT, keyfile=KEY)

    def on_connect(client, userdata, flags, reason, properties):
        client.subscribe(topic, qos=1)

    def on_subscribe(client, userdata, mid, reasons, properties):
        subscribed.set()

    def on_message(client, userdata, msg):
        received.append(msg.payload)
        got.set()

    c.on_connect = on_connect
    c.on_subscribe = on_subscribe
    c.on_message = on_message
    c.connect(HOST, PORT, keepalive=30)
    c.loop_start()
    return c, subscribed, got, received


def main():
    a, a_sub, a_got, a_rx = make("paho-ws-v311", mqtt.MQTTv311, "ws/to-a")
    b, b_sub, b_got, b_rx = make("paho-ws-v5", mqtt.MQTTv5, "ws/to-b")
    if not (a_sub.wait(TIMEOUT) and b_sub.wait(TIMEOUT)):
        print("subscriptions not acknowledged")
        return 1
    # A large message spans several reads; the small one fits in one frame.
    big = b"x" * 100_000
    a.publish("ws/to-b", big, qos=1).wait_for_publish(TIMEOUT)
    b.publish("ws/to-a", b"hello a", qos=1).wait_for_publish(TIMEOUT)
    ok = a_got.wait(TIMEOUT) and b_got.wait(TIMEOUT)
    for c in (a, b):
        c.disconnect()
        c.loop_stop()
    if not ok:
        print(f"missing messages: a={a_rx!r:.40} b={len(b_rx)}")
        return 1
    if a_rx[0] != b"hello a" or b_rx[0] != big:
        print("wrong payloads")
        return 1
    print("ok")
    return 0


sys.exit(main())
