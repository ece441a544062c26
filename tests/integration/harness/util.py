"""Small helpers shared by the harness: ports, temp dirs, bounded waits, users."""

import os
import pwd
import shutil
import socket
import tempfile
import time

LOOPBACK = "127.0.0.1"

# Unprivileged account that runs PostgreSQL (initdb/postgres refuse root) and
# PgBouncer (which also refuses to run as root).
SERVICE_USER = "postgres"


def service_ids():
    pw = pwd.getpwnam(SERVICE_USER)
    return pw.pw_uid, pw.pw_gid


def service_popen_kwargs():
    """subprocess keyword arguments that run a child as the service account;
    none when not root (the child then runs as the caller, who is not root
    either: bench/ can run that way)."""
    if os.geteuid() != 0:
        return {}
    uid, gid = service_ids()
    return {"user": uid, "group": gid, "extra_groups": []}


def free_port():
    """A TCP port on loopback that was free a moment ago.

    There is a small race between closing the probe socket and the service
    binding it; the harness retries service start-up on a fresh port when the
    bind fails.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def port_open(port, host=LOOPBACK, timeout=0.2):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    """Poll predicate() until truthy or timeout; returns its last value.

    Every loop in the tests goes through here or through an explicit bound, so
    no test can hang forever on a misbehaving pooler.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def make_service_tempdir(prefix):
    """A temp dir under /tmp owned by the service user.

    pytest's tmp_path lives under a 0700 root-owned directory that the
    postgres account cannot traverse, so the harness makes its own.
    Unix socket paths must stay under ~100 bytes, hence short names.
    """
    path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(path, 0o755)
    chown_service(path)
    return path


def chown_service(path):
    """Give path to the service account (nothing to do when not root)."""
    if os.geteuid() != 0:
        return
    uid, gid = service_ids()
    os.chown(path, uid, gid)


def remove_tree(path):
    if os.environ.get("KEEP_TMP") == "1":
        print(f"KEEP_TMP=1: leaving {path}")
        return
    shutil.rmtree(path, ignore_errors=True)


def read_text(path):
    try:
        with open(path, "r", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""
