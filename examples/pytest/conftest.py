"""A pytest fixture that runs the libssh DemoServer CLI as a disposable SSH server.

Copy this file beside your tests. The command that starts the CLI is:
  - $LIBSSH_DEMO when set, e.g. from a checkout of libssh:
      LIBSSH_DEMO="deno run -A /path/to/libssh/src/demo/cli.ts"
    (once published: LIBSSH_DEMO="deno run -A jsr:@libssh/libssh/demo/cli");
  - otherwise the npm package's bin: node_modules/.bin/libssh-demo in the current folder or above it
    (after `npm install` of the package or its tarball), or libssh-demo on PATH.
"""
import json
import os
import select
import shlex
import shutil
import signal
import subprocess
import tempfile

import pytest

START_TIMEOUT_S = 60


def demo_command():
    """The command that starts the DemoServer CLI (see the module docstring)."""
    if os.environ.get("LIBSSH_DEMO"):
        return shlex.split(os.environ["LIBSSH_DEMO"])
    folder = os.getcwd()
    while True:
        candidate = os.path.join(folder, "node_modules", ".bin", "libssh-demo")
        if os.access(candidate, os.X_OK):
            return [candidate]
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    on_path = shutil.which("libssh-demo")
    if on_path:
        return [on_path]
    pytest.fail(
        "no DemoServer CLI found: `npm install` the libssh package (its bin is libssh-demo), or set LIBSSH_DEMO "
        'to the command that starts it, e.g. LIBSSH_DEMO="deno run -A /path/to/libssh/src/demo/cli.ts"',
        pytrace=False,
    )


@pytest.fixture
def demo_server():
    """Yields {"host", "port", "password", "hostKeyFingerprint", "knownHosts"}; stops the server after the test."""
    command = demo_command() + ["--password", "pytest"]
    # stderr goes to a file: a pipe nobody reads would block a verbose server once full.
    with tempfile.TemporaryFile(mode="w+") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)

        def failed(what):
            if process.poll() is None:
                process.kill()
            process.wait()
            stderr.seek(0)
            return f"the DemoServer CLI {what} ({shlex.join(command)}, exit status {process.returncode}):\n{stderr.read()}"

        try:
            ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_S)
            first_line = process.stdout.readline() if ready else ""
            try:
                info = json.loads(first_line)  # the first line is the server's JSON
            except json.JSONDecodeError:
                info = None
            if info is None:
                pytest.fail(failed(f"did not start: its first line was {first_line!r}"), pytrace=False)
            yield info
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # closes every connection, exits 0
                try:
                    status = process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pytest.fail(failed("did not stop within 10 s of SIGTERM"), pytrace=False)
                assert status == 0, failed("exited badly on SIGTERM")
