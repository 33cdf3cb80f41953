"""Tests of a Python SSH client (paramiko) against the DemoServer (see conftest.py)."""
import io

import paramiko


def connect(server, tmp_path):
    """Logs in, trusting exactly the server's host key (its known_hosts line)."""
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(server["knownHosts"] + "\n")
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts))  # unknown keys are rejected
    client.connect(server["host"], server["port"], username="tester", password=server["password"],
                   look_for_keys=False, allow_agent=False)
    return client


def test_exec(demo_server, tmp_path):
    with connect(demo_server, tmp_path) as client:
        _, stdout, _ = client.exec_command("echo from-pytest; exit 4")
        assert stdout.read() == b"from-pytest\n"
        assert stdout.channel.recv_exit_status() == 4


def test_sftp_round_trip(demo_server, tmp_path):
    with connect(demo_server, tmp_path) as client, client.open_sftp() as sftp:
        target = str(tmp_path / "uploaded.txt")
        sftp.putfo(io.BytesIO(b"payload"), target)
        assert (tmp_path / "uploaded.txt").read_bytes() == b"payload"
