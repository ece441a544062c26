"""Helpers of the HTTP endpoint's tests (test_http.py): a pooler with the
endpoint on a free loopback port, a small HTTP client on http.client, raw
sockets for what http.client will not send, and the pooler's RSS.

Standard library only, like harness/."""

import http.client
import json
import os
import socket
import time

from harness import util

TOKEN = "tok-3f9c1b7e-usher-http-A1b2C3d4"
TOKEN_FILE = "http-token.txt"  # relative: beside pgbouncer.ini


class Reply:
    """One HTTP answer: status, headers (names lower case), body bytes."""

    def __init__(self, status, headers, body):
        self.status = status
        self.header_list = [(k.lower(), v) for k, v in headers]
        self.headers = {}
        for k, v in self.header_list:
            self.headers[k] = v if k not in self.headers else self.headers[k] + ", " + v
        self.body = body

    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    def cors_headers(self):
        return {k: v for k, v in self.headers.items() if k.startswith("access-control-")}

    def __repr__(self):
        return f"Reply({self.status}, {self.headers!r}, {self.body[:300]!r})"


def http_pooler(pooler, token=None, token_file=TOKEN_FILE, extra_ini=None, start=True,
                listen_addr=util.LOOPBACK, **kw):
    """A pooler with the HTTP endpoint on a free loopback port (p.http_port).

    token: written to token_file beside the ini before the start, and
    http_auth_token_file set to that relative name; None: no token file.
    listen_addr: http_listen_addr; None leaves it out (Usher's default)."""
    for attempt in range(3):  # a free port can be raced away: retry
        ini = {"http_listen_port": util.free_port()}
        if listen_addr is not None:
            ini["http_listen_addr"] = listen_addr
        if token is not None:
            ini["http_auth_token_file"] = token_file
        ini.update(extra_ini or {})
        p = pooler(extra_ini=ini, start=False, **kw)
        p.http_port = int(p.settings["http_listen_port"])
        if token is not None:
            write_token(p, token, token_file)
        if not start:
            return p
        try:
            p.start()
        except RuntimeError as e:
            p.stop()
            if "exited" not in str(e) or attempt == 2:
                raise
            continue
        wait_http(p)
        return p


def write_token(p, token, token_file=TOKEN_FILE):
    path = os.path.join(p.base_dir, token_file)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(token + "\n")
    os.replace(tmp, path)


def wait_http(p, timeout=10):
    util.wait_until(lambda: util.port_open(p.http_port), timeout,
                    what=f"HTTP endpoint on {p.http_port}")


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def port_of(p):
    """A pooler's HTTP port (p.http_port), or a port number as such."""
    return p if isinstance(p, int) else p.http_port


def request(p, method, path, headers=None, body=None, timeout=10):
    """One request on a fresh connection to port_of(p); a Reply."""
    conn = http.client.HTTPConnection(util.LOOPBACK, port_of(p), timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        data = res.read()
        return Reply(res.status, res.getheaders(), data)
    finally:
        conn.close()


def get(p, path, token=None, headers=None, **kw):
    h = dict(headers or {})
    if token is not None:
        h.update(bearer(token))
    return request(p, "GET", path, headers=h, **kw)


def post(p, path, token=None, headers=None, **kw):
    h = dict(headers or {})
    if token is not None:
        h.update(bearer(token))
    return request(p, "POST", path, headers=h, **kw)


def get_json(p, path, token=None):
    r = get(p, path, token=token)
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("application/json"), r
    return r.json()


def raw_exchange(port, data, timeout=10, read_limit=1 << 20):
    """Sends data on a fresh socket and reads until the peer closes (or
    timeout, or read_limit bytes). Returns (bytes read, closed_by_peer)."""
    with socket.create_connection((util.LOOPBACK, port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused part-way: what came back is still read below
        return read_to_close(s, timeout, read_limit)


def read_to_close(s, timeout=10, read_limit=1 << 20):
    """Reads s until EOF/RST (closed_by_peer True), or timeout or limit."""
    out = b""
    deadline = time.monotonic() + timeout
    while len(out) < read_limit:
        left = deadline - time.monotonic()
        if left <= 0:
            return out, False
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return out, False
        except ConnectionResetError:
            return out, True
        if not chunk:
            return out, True
        out += chunk
    return out, False


def status_of(raw):
    """The status code of the first response in raw bytes, or None."""
    if not raw.startswith(b"HTTP/1."):
        return None
    try:
        return int(raw.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def parse_prometheus(text):
    """{(name, frozenset(labels.items())): value} of a text exposition
    (enough of the format for Usher's output: no escapes in our labels)."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        if "{" in series:
            name, rest = series.split("{", 1)
            labels = {}
            for item in _split_labels(rest.rstrip("}")):
                k, v = item.split("=", 1)
                labels[k] = v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        else:
            name, labels = series, {}
        samples[(name, frozenset(labels.items()))] = float(value)
    return samples


def _split_labels(s):
    items, cur, quoted, esc = [], "", False, False
    for ch in s:
        if esc:
            cur += ch
            esc = False
        elif ch == "\\":
            cur += ch
            esc = True
        elif ch == '"':
            cur += ch
            quoted = not quoted
        elif ch == "," and not quoted:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        items.append(cur)
    return items


def sample(samples, name, **labels):
    """One sample's value; KeyError naming what is there when absent."""
    key = (name, frozenset(labels.items()))
    if key not in samples:
        there = sorted(str(dict(k[1])) for k in samples if k[0] == name)
        raise KeyError(f"{name}{labels} not in metrics; {name} has {there}")
    return samples[key]
