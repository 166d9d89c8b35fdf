#!/usr/bin/env python3
"""Drives a Petrel broker with Eclipse paho-mqtt (MQTT 3.1.1 and 5).

Usage: paho_check.py SCENARIO HOST PORT
Exits 0 when the scenario behaved as expected; prints the problem and exits 1 otherwise.
Requires paho-mqtt >= 2.0 (pip install paho-mqtt); a missing module is a failure.
"""
import os
import queue
import subprocess
import sys
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

HOST = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
PORT = int(sys.argv[3]) if len(sys.argv) > 3 else 1883
WAIT = 5.0


class Peer:
    """A connected paho client whose messages land in a queue."""

    def __init__(self, client_id, v5, clean=True, expiry=None, will=None, props=None):
        self.v5 = v5
        proto = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
        kwargs = {} if v5 else {"clean_session": clean}
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=proto, **kwargs)
        self.messages = queue.Queue()
        self.connack = queue.Queue()
        self.subacks = queue.Queue()
        self.c.on_message = lambda c, u, m: self.messages.put(m)
        self.c.on_connect = lambda c, u, f, rc, p: self.connack.put((f, rc, p))
        self.c.on_subscribe = lambda c, u, mid, rcs, p: self.subacks.put(rcs)
        if will:
            self.c.will_set(*will)
        if v5:
            cp = props or Properties(PacketTypes.CONNECT)
            if expiry is not None:
                cp.SessionExpiryInterval = expiry
            self.c.connect(HOST, PORT, 30, clean_start=clean, properties=cp)
        else:
            self.c.connect(HOST, PORT, 30)
        self.c.loop_start()
        flags, rc, _ = self.connack.get(timeout=WAIT)
        check(not rc.is_failure, f"{client_id}: CONNACK {rc}")
        self.session_present = flags.session_present

    def sub(self, topic, qos=1):
        self.c.subscribe(topic, qos)
        rcs = self.subacks.get(timeout=WAIT)
        check(all(not r.is_failure for r in rcs), f"SUBACK {rcs}")

    def pub(self, topic, payload, qos=1, retain=False, props=None):
        info = self.c.publish(topic, payload, qos, retain, properties=props)
        info.wait_for_publish(WAIT)

    def next(self, timeout=WAIT):
        return self.messages.get(timeout=timeout)

    def nothing(self, timeout=0.3):
        try:
            m = self.messages.get(timeout=timeout)
        except queue.Empty:
            return
        fail(f"unexpected message {m.topic} {m.payload!r}")

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def pubprops(**kw):
    p = Properties(PacketTypes.PUBLISH)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def scenario_pubsub():
    for v5 in (False, True):
        s = Peer(f"ps-sub-{v5}", v5)
        s.sub("paho/#", 2)
        p = Peer(f"ps-pub-{v5}", v5)
        for qos in (0, 1, 2):
            p.pub("paho/t", f"q{qos}", qos)
            m = s.next()
            check(m.payload == f"q{qos}".encode() and m.qos == qos, f"got {m.payload!r} qos {m.qos}")
        s.close()
        p.close()


def scenario_interop():
    s3 = Peer("io-s3", False)
    s5 = Peer("io-s5", True)
    s3.sub("io/#")
    s5.sub("io/#")
    p5 = Peer("io-p5", True)
    p5.pub("io/a", "five", 1, props=pubprops(UserProperty=[("k", "v")], ResponseTopic="io/reply",
                                             CorrelationData=b"id"))
    check(s3.next().payload == b"five", "v3 subscriber")
    m = s5.next()
    check(m.payload == b"five", "v5 subscriber")
    check(m.properties.UserProperty == [("k", "v")], f"user properties {m.properties}")
    check(m.properties.ResponseTopic == "io/reply", "response topic")
    check(m.properties.CorrelationData == b"id", "correlation data")
    p3 = Peer("io-p3", False)
    p3.pub("io/b", "three", 1)
    check(s5.next().payload == b"three", "v5 gets v3")
    check(s3.next().payload == b"three", "v3 gets v3")


def scenario_retained():
    p = Peer("rt-p", True)
    p.pub("rt/a", "kept", 1, retain=True)
    for v5 in (False, True):
        s = Peer(f"rt-s-{v5}", v5)
        s.sub("rt/#")
        m = s.next()
        check(m.retain and m.payload == b"kept", f"retained {m.payload!r} {m.retain}")
        s.close()
    p.pub("rt/a", b"", 1, retain=True)
    s = Peer("rt-s-after", False)
    s.sub("rt/#")
    s.nothing()


def will_child(client_id, v5):
    """Connects with a will and dies without DISCONNECT."""
    Peer(client_id, v5 == "1", will=(f"will/{client_id}", "gone", 1, False))
    os._exit(0)


def scenario_will():
    w = Peer("will-watch", True)
    w.sub("will/#")
    for v5 in ("0", "1"):
        cid = f"child{v5}"
        subprocess.run([sys.executable, __file__, "will-child", HOST, str(PORT), cid, v5],
                       check=True, timeout=WAIT)
        m = w.next()
        check(m.topic == f"will/{cid}" and m.payload == b"gone", f"will {m.topic} {m.payload!r}")
    # A normal DISCONNECT suppresses the will.
    q = Peer("polite", False, will=("will/polite", "no", 1, False))
    q.close()
    w.nothing(0.5)


def scenario_persistent():
    for v5 in (False, True):
        cid = f"persist-{v5}"
        s = Peer(cid, v5, clean=True if not v5 else True, expiry=300 if v5 else None)
        if not v5:
            s.close()
            s = Peer(cid, v5, clean=False)
        s.sub("pp/#")
        s.close()
        p = Peer(f"pp-pub-{v5}", v5)
        p.pub("pp/x", "queued1", 1)
        p.pub("pp/x", "queued2", 2)
        s = Peer(cid, v5, clean=False, expiry=300 if v5 else None)
        check(s.session_present, "session present")
        check(s.next().payload == b"queued1", "first queued")
        check(s.next().payload == b"queued2", "second queued")
        s.close()


def scenario_shared():
    a = Peer("sh-a", True)
    b = Peer("sh-b", False)
    a.sub("$share/grp/sh")
    b.sub("$share/grp/sh")
    p = Peer("sh-p", True)
    for i in range(4):
        p.pub("sh", f"m{i}", 1)
    got = sorted([a.next().payload, a.next().payload, b.next().payload, b.next().payload])
    check(got == [b"m0", b"m1", b"m2", b"m3"], f"shared {got}")


def scenario_alias():
    s = Peer("al-s", True)
    s.sub("alias/topic")
    p = Peer("al-p", True)
    p.pub("alias/topic", "one", 1, props=pubprops(TopicAlias=1))
    p.pub("", "two", 1, props=pubprops(TopicAlias=1))
    check(s.next().payload == b"one", "first")
    m = s.next()
    check(m.payload == b"two" and m.topic == "alias/topic", f"aliased {m.topic} {m.payload!r}")


def scenario_expiry():
    s = Peer("ex-s", True, clean=True, expiry=300)
    s.sub("ex")
    s.close()
    p = Peer("ex-p", True)
    p.pub("ex", "short", 1, props=pubprops(MessageExpiryInterval=1))
    p.pub("ex", "long", 1, props=pubprops(MessageExpiryInterval=100))
    time.sleep(1.3)
    s = Peer("ex-s", True, clean=False, expiry=300)
    m = s.next()
    check(m.payload == b"long", f"expired message delivered: {m.payload!r}")
    check(m.properties.MessageExpiryInterval <= 100, "remaining expiry")
    s.nothing()


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")}

if __name__ == "__main__":
    if sys.argv[1] == "will-child":
        will_child(sys.argv[4], sys.argv[5])
    SCENARIOS[sys.argv[1]]()
    print("ok")
