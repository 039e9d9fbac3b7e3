#!/usr/bin/env python3
"""An APC rPDU outlet table for Debian's snmpd, through its pass_persist protocol.

snmpd does the SNMP (v1, v2c, v3 USM with authentication and privacy); this script only holds
four outlets the way PowerNet-MIB describes them: rPDUOutletStatusOutletState (1 on, 2 off),
rPDUOutletStatusCommandPending (2 = none), rPDUOutletControlOutletCommand (SET 1 on, 2 off,
3 reboot; GET reads the state) and the names. Every accepted SET is appended to the file named
by the first argument, so a test can count what reached the device.
"""
import sys

BASE = ".1.3.6.1.4.1.318.1.1.12"
log_path = sys.argv[1]
state = {1: 1, 2: 1, 3: 2, 4: 1}
names = {1: "web-1", 2: "db-1", 3: "spare", 4: "storage-1"}


def table():
    rows = {BASE + ".3.1.4.0": ("integer", str(len(state)))}
    for n in state:
        rows[f"{BASE}.3.3.1.1.2.{n}"] = ("string", names[n])
        rows[f"{BASE}.3.3.1.1.4.{n}"] = ("integer", str(state[n]))
        rows[f"{BASE}.3.5.1.1.2.{n}"] = ("string", names[n])
        rows[f"{BASE}.3.5.1.1.4.{n}"] = ("integer", str(state[n]))
        rows[f"{BASE}.3.5.1.1.5.{n}"] = ("integer", "2")
    return rows


def key(oid):
    return [int(x) for x in oid.strip(".").split(".")]


def out(*lines):
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()


while True:
    cmd = sys.stdin.readline()
    if not cmd:
        break
    cmd = cmd.strip()
    if cmd == "PING":
        out("PONG")
    elif cmd in ("get", "getnext"):
        oid = sys.stdin.readline().strip()
        rows = table()
        if cmd == "get":
            hit = oid if oid in rows else None
        else:
            later = sorted((o for o in rows if key(o) > key(oid)), key=key)
            hit = later[0] if later else None
        if hit is None:
            out("NONE")
        else:
            out(hit, *rows[hit])
    elif cmd == "set":
        oid = sys.stdin.readline().strip()
        typ, _, value = sys.stdin.readline().strip().partition(" ")
        prefix = BASE + ".3.3.1.1.4."
        if not oid.startswith(prefix):
            out("not-writable")
            continue
        n = int(oid[len(prefix):])
        if n not in state:
            out("no-creation")
        elif typ != "integer":
            out("wrong-type")
        elif value not in ("1", "2", "3"):
            out("wrong-value")
        else:
            state[n] = 2 if value == "2" else 1
            with open(log_path, "a") as f:
                f.write(f"{n} {value}\n")
            out("DONE")
