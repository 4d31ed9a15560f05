"""The example apps in examples/python, run as subprocesses against real daemons."""

import os
import queue
import signal
import subprocess
import sys
import threading
import time

from conftest import REPO

EXAMPLES = REPO / "examples" / "python"


def example(name, *args):
    # The examples find the client themselves (installed, or next to them in the checkout).
    env = {k: v for k, v in os.environ.items() if k != "WPWITHIN_SOCKET"}
    return subprocess.Popen(
        [sys.executable, str(EXAMPLES / name), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def wait_for_line(process, needle, timeout=30):
    """Reads the example's stdout until a line contains ``needle``. The rest stays readable."""
    lines = queue.Queue()

    def read():
        for line in iter(process.stdout.readline, ""):
            lines.put(line)
            if needle in line:
                return
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if needle in line:
            return seen
    process.kill()
    raise AssertionError(f"no {needle!r} from the example; got {seen}, stderr: {process.stderr.read()}")


def test_the_carwash_producer_and_the_consumer_examples(fresh_world):
    producer = example("carwash_producer.py", "--socket", fresh_world.producer.socket_path, "--deliveries", "2")
    try:
        head = wait_for_line(producer, "ready:")
        assert "service 1 registered: Car wash, 5.00 GBP a wash" in "".join(head)

        consumer = example("consumer.py", "--socket", fresh_world.consumer.socket_path, "--name", "carwash")
        out, err = consumer.communicate(timeout=60)
        assert consumer.returncode == 0, out + err
        lines = out.splitlines()
        phases = [line.split(":")[0] for line in lines]
        assert phases == ["discovered", "service 1", "price 1", "selected", "paid",
                          "delivery 1 begun", "delivery 1 ended", "delivery 2 begun", "delivery 2 ended", "done"], out
        assert "3 unit(s) for 15.00 GBP" in out and ", 15.00 GBP, 3 unit(s)" in out and ", 5.00 GBP per " in out
        assert "delivery 1 begun: 2 unit(s)" in out and "delivery 2 begun: 1 unit(s)" in out
        assert "3 delivered, 0 remaining" in out

        out, err = producer.communicate(timeout=30)
        assert producer.returncode == 0, out + err
        assert out.count("delivery begun:") == 2 and out.count("delivery ended:") == 2, out
        assert "3 of 3 delivered" in out and "stopped after 2 deliveries" in out
    finally:
        if producer.poll() is None:
            producer.kill()
            producer.communicate()


def test_the_producer_example_stops_on_sigint(fresh_world):
    producer = example("carwash_producer.py", "--socket", fresh_world.producer.socket_path)
    try:
        wait_for_line(producer, "ready:")
        producer.send_signal(signal.SIGINT)
        out, err = producer.communicate(timeout=15)
        assert producer.returncode == 0 and "interrupted" in out, out + err
        # Run again: the service is already there, and that is fine.
        again = example("carwash_producer.py", "--socket", fresh_world.producer.socket_path)
        head = wait_for_line(again, "ready:")
        assert "service 1 already registered" in "".join(head)
        again.send_signal(signal.SIGINT)
        again.communicate(timeout=15)
        assert again.returncode == 0
    finally:
        for process in (producer, locals().get("again")):
            if process is not None and process.poll() is None:
                process.kill()


def test_the_consumer_example_without_a_daemon(tmp_path):
    consumer = example("consumer.py", "--socket", str(tmp_path / "none.sock"), "--name", "x")
    out, err = consumer.communicate(timeout=30)
    assert consumer.returncode == 1 and "no such socket" in err, out + err
