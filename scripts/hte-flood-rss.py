#!/usr/bin/env python3
"""Connection flood against a producer's HTE port on loopback, with the daemon's RSS before, during and after.

Starts `wpwithind` (producer role only, state in a temporary directory, HTE on 127.0.0.1), opens N TCP
connections to its HTE port, each sending the first bytes of a request head and then nothing (an idle,
half-sent request), keeps them open for a while, closes them all and samples the daemon's VmRSS from
/proc. Prints one JSON line per phase. Used for the numbers in docs/operations.md ("Connection floods").

    scripts/hte-flood-rss.py --daemon .build/release/wpwithind --connections 10000

Loopback only. Needs enough file descriptors for N sockets in this process (it raises its soft limit to
the hard limit; the daemon inherits that limit, so a daemon without caps can take them all).
"""
import argparse
import errno
import json
import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_for_port(log_path, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"daemon exited: {open(log_path).read()}")
        text = open(log_path).read()
        match = re.search(r"hte\.port=(\d+).*HTE server listening", text)
        if match:
            return int(match.group(1))
        time.sleep(0.05)
    sys.exit("daemon did not start its HTE server")


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def discover(port):
    """One normal HTE request; returns the status (or the error)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(b"GET /service/discover HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else f"bad answer {data[:40]!r}"
    except OSError as error:
        return f"error {error}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--daemon", default=".build/debug/wpwithind")
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--sources", type=int, default=1,
                        help="spread the connections over 127.0.0.1 … 127.0.0.N (distinct peers for the per-peer cap)")
    parser.add_argument("--hold", type=float, default=5.0, help="seconds to keep the connections open")
    parser.add_argument("--after", type=float, default=10.0, help="seconds to wait after closing them")
    parser.add_argument("--gdb-trim", action="store_true",
                        help="after the flood, call malloc_trim(0) in the daemon through gdb and sample again (diagnosis)")
    parser.add_argument("--env", action="append", default=[], help="extra KEY=VALUE for the daemon")
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    work = tempfile.mkdtemp(prefix="wpw-flood-")
    log_path = os.path.join(work, "daemon.log")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WPWITHIND_")}
    env.update({
        "WPWITHIND_ROLES": "producer", "WPWITHIND_HTE_HOST": "127.0.0.1", "WPWITHIND_HTE_PORT": "0",
        "WPWITHIND_BROADCAST_ADDRESS": "127.255.255.255", "WPWITHIND_BROADCAST_SOURCE": "127.0.0.1",
        "WPWITHIND_ADVERTISED_HOST": "127.0.0.1", "WPWITHIND_DISCOVERY_PORT": str(free_udp_port()),
        "WPWITHIND_SCAN_BIND_ADDRESS": "127.255.255.255",
    })
    for item in args.env:
        key, _, value = item.partition("=")
        env[key] = value
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [args.daemon, "--socket", os.path.join(work, "rpc.sock"), "--state-dir", os.path.join(work, "state"),
             "--log-level", "info"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, env=env)
    try:
        port = wait_for_port(log_path, proc)
        for _ in range(20):
            discover(port)
        time.sleep(1)
        report = lambda phase, **extra: print(json.dumps({
            "phase": phase, "rss_kib": rss_kib(proc.pid), "fds": open_fds(proc.pid), **extra}), flush=True)
        report("before", discover=discover(port))

        sel = selectors.DefaultSelector()
        sockets = []
        failed = 0
        peak = 0
        started = time.time()
        for index in range(args.connections):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(5)
            try:
                sock.bind((f"127.0.0.{1 + index % args.sources}", 0))
                sock.connect(("127.0.0.1", port))
                sock.send(b"GET /service/discover HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                sock.setblocking(False)
                sockets.append(sock)
                sel.register(sock, selectors.EVENT_READ)
            except OSError:
                failed += 1
                sock.close()
            if index % 200 == 199:
                peak = max(peak, rss_kib(proc.pid))
        answered = {"503": 0, "408": 0, "closed": 0, "reset": 0}
        deadline = time.time() + args.hold
        alive = set(sockets)
        while time.time() < deadline and alive:
            for key, _ in sel.select(timeout=0.2):
                sock = key.fileobj
                try:
                    data = sock.recv(65536)
                except OSError as error:
                    answered["reset" if error.errno == errno.ECONNRESET else "closed"] += 1
                    data = None
                if data:
                    status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/1.1 ") else "other"
                    answered[status] = answered.get(status, 0) + 1
                    continue
                if data is not None:
                    answered["closed"] += 1
                sel.unregister(sock)
                alive.discard(sock)
            peak = max(peak, rss_kib(proc.pid))
        report("during", connections=len(sockets), connect_failed=failed, still_open=len(alive),
               peak_rss_kib=peak, answers=answered, seconds=round(time.time() - started, 1), discover=discover(port))
        for sock in sockets:
            sock.close()
        time.sleep(args.after)
        report("after", discover=discover(port), rpc_alive=proc.poll() is None)
        if args.gdb_trim:
            subprocess.run(["gdb", "-p", str(proc.pid), "-batch", "-ex", "call (int)malloc_trim(0)"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            report("after-gdb-malloc_trim")
        warnings = [line for line in open(log_path) if "warning" in line]
        print(json.dumps({"phase": "log", "warning_lines": len(warnings), "sample": warnings[:3]}), flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
