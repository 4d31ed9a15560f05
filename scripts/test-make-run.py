#!/usr/bin/env python3
"""`make test`'s check of `make run` as a user runs it: on a terminal, started, then Ctrl-C.

It must start the sandbox gateway and the daemon (the daemon logs `Daemon ready`), and Ctrl-C must stop both
and end `make` with status 0 (not 130). Runs in a pseudo-terminal, with its state in a temporary directory,
ephemeral ports and loopback discovery on a free port.
"""
import os, pty, select, signal, socket, subprocess, sys, tempfile, time

def free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
run_dir = tempfile.mkdtemp(prefix="wpw-make-run-")
env = dict(os.environ, WPW_RUN_DIR=run_dir, SANDBOX_PORT=str(free_port(socket.SOCK_STREAM)),
           WPWITHIND_HTE_PORT="0", WPWITHIND_DISCOVERY_PORT=str(free_port(socket.SOCK_DGRAM)))
env.pop("MAKEFLAGS", None)
env.pop("MAKELEVEL", None)

pid, fd = pty.fork()
if pid == 0:
    os.chdir(root)
    os.execvpe("make", ["make", "--no-print-directory", "run"], env)

output = b""
def read_for(seconds, until=None):
    global output
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return False
            if not data:
                return False
            output += data
        if until and until in output:
            return True
    return False

def fail(message):
    sys.stderr.write(output.decode(errors="replace")[-3000:] + "\n")
    sys.stderr.write("test-make-run: " + message + "\n")
    try:
        os.killpg(os.getpgid(pid), signal.SIGKILL)
    except OSError:
        pass
    subprocess.run(["pkill", "-f", run_dir])
    sys.exit(1)

# A generous bound against a hang (a build may run first); the outcome is what is checked, not the time.
if not read_for(600, until=b"Daemon ready"):
    fail("the daemon did not say `Daemon ready`")
os.write(fd, b"\x03")  # Ctrl-C, as the terminal sends it to its foreground process group
read_for(120)
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
left = subprocess.run(["pgrep", "-f", run_dir], capture_output=True, text=True).stdout.split()
if code != 0:
    fail(f"make run ended with {code} after Ctrl-C, not 0")
if left:
    fail(f"processes left running after Ctrl-C: {left}")
if b"Daemon stopped" not in output:
    fail("the daemon did not stop gracefully (no `Daemon stopped`)")
subprocess.run(["rm", "-rf", run_dir])
print("test-make-run: ok (started, Ctrl-C stopped the gateway and the daemon, make exited 0)")
