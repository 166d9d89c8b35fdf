#!/usr/bin/env python3
"""Capture the raw bytes real MQTT peers put on the wire, for petrel-codec's tests.

Two kinds of capture, each written as a raw binary file next to this script:

* client-*.bin: everything mosquitto_pub / mosquitto_sub send to a fake server. The fake
  server listens on an ephemeral port, answers CONNECT with CONNACK, SUBSCRIBE with SUBACK,
  PUBLISH with PUBACK / PUBREC, PUBREL with PUBCOMP, and sends one PUBLISH to a subscriber.
* broker-*.bin: everything a real mosquitto broker (started here on an ephemeral port with
  `listener PORT 127.0.0.1` and `allow_anonymous true`) sends to a scripted client that
  connects, subscribes, publishes at QoS 1 and 2 to itself, pings, unsubscribes and
  disconnects. The bytes the scripted client sent are in broker-*.sent.bin.

Usage: python3 capture.py   (needs mosquitto, mosquitto_pub, mosquitto_sub on PATH or in
/usr/sbin). Re-running overwrites the files; the tests assert field values, so check them.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def find(tool):
    path = shutil.which(tool) or os.path.join("/usr/sbin", tool)
    if not os.path.exists(path):
        sys.exit(f"{tool} not found")
    return path


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def s(text):
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw


def split_packets(data):
    """Yields (first_byte, body) for every complete packet in data."""
    i = 0
    while i < len(data):
        first = data[i]
        mult, length, j = 1, 0, i + 1
        while True:
            if j >= len(data):
                return
            b = data[j]
            length += (b & 0x7F) * mult
            mult *= 128
            j += 1
            if not b & 0x80:
                break
        if j + length > len(data):
            return
        yield first, data[j : j + length]
        i = j + length


class Stream:
    """Reads whole packets from a socket, recording every byte."""

    def __init__(self, sock):
        self.sock = sock
        self.raw = bytearray()
        self.seen = 0

    def next(self, timeout=3.0):
        deadline = time.time() + timeout
        while True:
            pkts = list(split_packets(bytes(self.raw)))
            if len(pkts) > self.seen:
                self.seen += 1
                return pkts[self.seen - 1]
            left = deadline - time.time()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                return None
            self.raw += chunk


def fake_server(args, out_name, v5):
    """Runs a mosquitto client against a fake server and stores what the client sent."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    proc = subprocess.Popen(
        [args[0], "-h", "127.0.0.1", "-p", str(port)] + args[1:],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    srv.settimeout(5)
    conn, _ = srv.accept()
    st = Stream(conn)
    props = b"\x00" if v5 else b""
    while True:
        pkt = st.next()
        if pkt is None:
            break
        first, body = pkt
        kind = first >> 4
        if kind == 1:  # CONNECT
            conn.sendall(packet(0x20, b"\x00\x00" + props))
        elif kind == 3:  # PUBLISH
            qos = (first >> 1) & 3
            if qos == 1:
                conn.sendall(packet(0x40, pid_after_topic(body)))
            elif qos == 2:
                conn.sendall(packet(0x50, pid_after_topic(body)))
        elif kind == 6:  # PUBREL
            conn.sendall(packet(0x70, body[:2]))
        elif kind == 8:  # SUBSCRIBE: grant QoS 1, then deliver one message
            conn.sendall(packet(0x90, body[:2] + props + b"\x01"))
            conn.sendall(packet(0x30, s("petrel/test") + props + b"hi"))
        elif kind == 14:  # DISCONNECT
            break
    conn.close()
    srv.close()
    proc.wait(timeout=5)
    with open(os.path.join(HERE, out_name), "wb") as f:
        f.write(st.raw)
    print(f"{out_name}: {len(st.raw)} bytes")


def pid_after_topic(body):
    tlen = int.from_bytes(body[:2], "big")
    return body[2 + tlen : 4 + tlen]


def broker_session(port, version, out_name):
    """Scripted client against a real broker; stores what the broker sent."""
    v5 = version == 5
    props = b"\x00" if v5 else b""
    name, level = ("MQIsdp", 3) if version == 3 else ("MQTT", version)
    sent = bytearray()
    sock = socket.create_connection(("127.0.0.1", port))
    st = Stream(sock)

    def send(data):
        sent.extend(data)
        sock.sendall(data)

    connect_props = b"\x05\x11\x00\x00\x00\x3c" if v5 else b""  # session expiry 60
    send(packet(0x10, s(name) + bytes([level, 0x02, 0, 30]) + connect_props + s(f"petrel-{version}")))
    st.next()  # CONNACK
    send(packet(0x82, b"\x00\x01" + props + s("petrel/#") + b"\x02"))
    st.next()  # SUBACK
    pub_props = b""
    if v5:
        user = b"\x26" + s("k") + s("v")
        ctype = b"\x03" + s("text/plain")
        expiry = b"\x02\x00\x00\x0e\x10"
        allp = user + ctype + expiry
        pub_props = varint(len(allp)) + allp
    send(packet(0x32, s("petrel/one") + b"\x00\x02" + pub_props + b"qos1"))
    st.next()
    st.next()  # PUBACK and the forwarded PUBLISH, in either order
    send(packet(0x34, s("petrel/two") + b"\x00\x03" + props + b"qos2"))
    for _ in range(2):  # PUBREC and the forwarded QoS 2 PUBLISH
        pkt = st.next()
        if pkt and pkt[0] >> 4 == 5:
            send(packet(0x62, pkt[1][:2]))
        elif pkt and pkt[0] >> 4 == 3:
            qos = (pkt[0] >> 1) & 3
            pid = pid_after_topic(pkt[1])
            send(packet(0x40 if qos == 1 else 0x50, pid))
    while True:  # PUBCOMP, PUBREL for our PUBREC, anything else
        pkt = st.next(timeout=1.0)
        if pkt is None:
            break
        if pkt[0] >> 4 == 6:
            send(packet(0x70, pkt[1][:2]))
    send(packet(0xC0, b""))
    st.next()  # PINGRESP
    send(packet(0xA2, b"\x00\x04" + props + s("petrel/#")))
    st.next()  # UNSUBACK
    send(packet(0xE0, b""))
    time.sleep(0.2)
    sock.close()
    with open(os.path.join(HERE, out_name), "wb") as f:
        f.write(st.raw)
    with open(os.path.join(HERE, out_name.replace(".bin", ".sent.bin")), "wb") as f:
        f.write(sent)
    print(f"{out_name}: {len(st.raw)} bytes")


def broker_captures():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
        broker = subprocess.Popen(
            [find("mosquitto"), "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            for _ in range(50):
                try:
                    socket.create_connection(("127.0.0.1", port)).close()
                    break
                except OSError:
                    time.sleep(0.1)
            for version, name in [(3, "v31"), (4, "v311"), (5, "v5")]:
                broker_session(port, version, f"broker-{name}.bin")
        finally:
            broker.terminate()
            broker.wait(timeout=5)


def main():
    pub, sub = find("mosquitto_pub"), find("mosquitto_sub")
    common = ["-i", "petrel-cap", "-t", "petrel/test", "-m", "hello"]
    fake_server([pub, "-V", "mqttv31", "-q", "1"] + common, "client-pub-v31.bin", False)
    fake_server(
        [pub, "-V", "mqttv311", "-q", "2", "-r", "-u", "user", "-P", "secret",
         "--will-topic", "petrel/will", "--will-payload", "bye", "--will-qos", "1"] + common,
        "client-pub-v311.bin",
        False,
    )
    fake_server(
        [pub, "-V", "mqttv5", "-q", "1",
         "-D", "connect", "session-expiry-interval", "60",
         "-D", "connect", "receive-maximum", "20",
         "-D", "publish", "user-property", "a", "b",
         "-D", "publish", "content-type", "text/plain",
         "-D", "publish", "message-expiry-interval", "3600",
         "--will-topic", "petrel/will", "--will-payload", "bye",
         "-D", "will", "will-delay-interval", "5"] + common,
        "client-pub-v5.bin",
        True,
    )
    fake_server(
        [sub, "-V", "mqttv311", "-i", "petrel-sub", "-t", "petrel/#", "-t", "other/+", "-q", "1", "-C", "1"],
        "client-sub-v311.bin",
        False,
    )
    fake_server(
        [sub, "-V", "mqttv5", "-i", "petrel-sub", "-t", "petrel/#", "-q", "2", "-C", "1",
         "-D", "subscribe", "subscription-identifier", "7",
         "-D", "subscribe", "user-property", "x", "y"],
        "client-sub-v5.bin",
        True,
    )
    broker_captures()


if __name__ == "__main__":
    main()
