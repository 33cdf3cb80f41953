"""A pytest fixture that runs the libssh DemoServer CLI as a disposable SSH server.

Set LIBSSH_DEMO to the command that starts the CLI; the default runs it from a
checkout with Deno. With the npm package: LIBSSH_DEMO="node_modules/.bin/libssh-demo".
"""
import json
import os
import shlex
import signal
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_COMMAND = f"{ROOT}/node_modules/.bin/deno run -A {ROOT}/src/demo/cli.ts"


@pytest.fixture
def demo_server():
    """Yields {"host", "port", "password", "hostKeyFingerprint", "knownHosts"}; stops the server after the test."""
    command = shlex.split(os.environ.get("LIBSSH_DEMO", DEFAULT_COMMAND)) + ["--password", "pytest"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(process.stdout.readline())  # the first line is the server's JSON
        yield info
    finally:
        process.send_signal(signal.SIGTERM)  # closes every connection, exits 0
        assert process.wait(timeout=10) == 0
