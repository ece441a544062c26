"""The command line: usher [-d] [-q] [-v] [-u user] [-V] [-h] config.ini,
as PgBouncer's."""

import os
import signal
import subprocess
import time

import pytest

from harness import clients, util
from harness.pooler import pooler_binary


def _run(args, timeout=10, **kw):
    return subprocess.run(
        [pooler_binary(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, timeout=timeout, **kw,
    )


def test_version(kind):
    res = _run(["-V"])
    assert res.returncode == 0
    first = res.stdout.splitlines()[0]
    if kind == "pgbouncer":
        assert first.startswith("PgBouncer 1.18")
    else:
        assert first.startswith(("Usher", "PgBouncer"))


def test_help():
    res = _run(["-h"])
    assert res.returncode == 0
    assert "Usage" in res.stdout
    for opt in ("-d", "-q", "-v", "-u", "-V", "-h"):
        assert opt in res.stdout, opt


def test_missing_config_file_fails():
    res = _run(["/nonexistent/usher-it.ini"])
    assert res.returncode != 0
    assert "nonexistent" in res.stdout + res.stderr


def test_unknown_option_fails():
    res = _run(["--no-such-option", "/nonexistent/usher-it.ini"])
    assert res.returncode != 0


def _proc_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_daemon_mode(pooler):
    p = pooler(start=False)
    res = subprocess.run(
        [p.binary, "-d", p.ini_path], cwd=p.base_dir, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=15,
        **p.popen_kwargs(),
    )
    assert res.returncode == 0, res.stdout + res.stderr
    pid = None
    try:
        util.wait_until(lambda: os.path.exists(p.pid_path) and open(p.pid_path).read().strip(),
                        10, what="pidfile")
        pid = int(open(p.pid_path).read().strip())
        assert _proc_alive(pid)
        util.wait_until(lambda: util.port_open(p.port), 10, what="daemon listening")
        with p.connect() as conn:
            assert conn.execute("select 'daemon'").fetchone() == ("daemon",)
        # Detached: not a child of the launcher, own session.
        assert os.getsid(pid) == pid or os.getpgid(pid) != os.getpgid(0)
    finally:
        if pid and _proc_alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while _proc_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _proc_alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_quiet_keeps_stderr_empty(pooler):
    p = pooler(args=["-q"])
    clients.assert_pooler_serves(p)
    time.sleep(0.2)
    assert util.read_text(p.stdout_path).strip() == ""
    assert util.read_text(p.log_path).strip() != ""  # the logfile still gets it


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch user")
def test_switch_user(pooler):
    """-u USER: started as root, runs as USER."""
    p = pooler(start=False, args=["-u", util.SERVICE_USER])
    p.run_as_service = False  # start as root; the pooler drops privileges
    p.start()
    uid, _ = util.service_ids()

    def running_uid():
        with open(f"/proc/{p.pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1])

    assert util.wait_until(lambda: running_uid() == uid, 5, what="uid switch")
    clients.assert_pooler_serves(p)
