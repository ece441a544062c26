"""Minimal PostgreSQL v3 wire protocol client for raw-socket tests.

Only what the startup/hostile/cancel tests need: build startup-phase packets,
authenticate with cleartext/md5/SCRAM-SHA-256, send simple queries, and read
typed messages with a bounded wait. Message names follow the PostgreSQL docs.
bench/ uses it too (query_text; Login for its asyncio idle clients).
"""

import base64
import hashlib
import hmac
import os
import socket
import struct
import time

SSL_REQUEST_CODE = 80877103
GSSENC_REQUEST_CODE = 80877104
CANCEL_REQUEST_CODE = 80877102


def protocol_version(major, minor):
    return (major << 16) | minor


def startup_packet(params, version=protocol_version(3, 0)):
    body = struct.pack("!I", version)
    for k, v in params.items():
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def ssl_request():
    return struct.pack("!II", 8, SSL_REQUEST_CODE)


def gssenc_request():
    return struct.pack("!II", 8, GSSENC_REQUEST_CODE)


def cancel_request(pid, key):
    return struct.pack("!IIII", 16, CANCEL_REQUEST_CODE, pid, key)


def message(tag, body=b""):
    return tag + struct.pack("!I", len(body) + 4) + body


def query(sql):
    return message(b"Q", sql.encode() + b"\0")


def terminate():
    return message(b"X")


def parse_fields(body):
    """ErrorResponse / NoticeResponse fields: {'S':..., 'C':..., 'M':...}."""
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode(errors="replace")
    return fields


class Closed(Exception):
    pass


class Conn:
    """A raw client socket with a receive buffer and bounded reads."""

    def __init__(self, host, port, timeout=10.0, sock=None):
        if sock is None:
            sock = socket.create_connection((host, port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.timeout = timeout
        self.buf = b""
        self.backend_pid = None
        self.backend_key = None
        self.params = {}

    @classmethod
    def unix(cls, path, timeout=10.0):
        """A raw client on the Unix socket at `path`."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(path)
        return cls(None, None, timeout, sock=sock)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data from peer")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no data from peer")
        except ConnectionResetError:
            raise Closed("connection reset")
        if not chunk:
            raise Closed("connection closed by peer")
        self.buf += chunk

    def read_bytes(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < n:
            self._fill(deadline)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_message(self, timeout=None):
        """(tag, body) of the next backend message."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < 5:
            self._fill(deadline)
        tag = self.buf[:1]
        (length,) = struct.unpack("!I", self.buf[1:5])
        if length < 4 or length > 1 << 30:
            raise ValueError(f"bad length {length} from peer (tag {tag!r})")
        while len(self.buf) < 1 + length:
            self._fill(deadline)
        body = self.buf[5:1 + length]
        self.buf = self.buf[1 + length:]
        return tag, body

    def read_until(self, tags, timeout=None):
        """Messages up to and including the first whose tag is in tags."""
        deadline = time.monotonic() + (timeout or self.timeout)
        out = []
        for _ in range(100000):
            tag, body = self.read_message(max(0.01, deadline - time.monotonic()))
            out.append((tag, body))
            if tag in tags:
                return out
        raise RuntimeError("too many messages")

    def expect_closed(self, timeout=5.0):
        """True if the peer closes (EOF/reset) within timeout, reading
        and discarding whatever it sends first."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._fill(deadline)
                self.buf = b""
        except Closed:
            return True
        except TimeoutError:
            return False

    # ------------------------------------------------------------- startup
    def startup(self, user, database, password=None, params=None,
                version=protocol_version(3, 0), binding=None):
        """Send StartupMessage and authenticate; returns list of messages
        received through ReadyForQuery (or up to the ErrorResponse).
        binding: a Binding for SCRAM (default: none, "n,,")."""
        p = {"user": user, "database": database}
        if params:
            p.update(params)
        self.send(startup_packet(p, version))
        return self.finish_login(user, password, binding)

    def finish_login(self, user, password, binding=None):
        msgs = []
        login = Login(user, password, binding=binding)
        self.login = login
        for _ in range(1000):
            tag, body = self.read_message()
            msgs.append((tag, body))
            if tag == b"E":
                return msgs
            if tag == b"Z":
                return msgs
            if tag == b"K":
                self.backend_pid, self.backend_key = struct.unpack("!II", body)
            elif tag == b"S":
                k, v, _ = body.split(b"\0", 2)
                self.params[k.decode()] = v.decode()
            elif tag == b"R":
                reply = login.answer(body)
                if reply:
                    self.send(reply)
        raise RuntimeError("login did not finish")

    def read_stream(self, stop_tags, stop_count=1, timeout=None, keep=None,
                    max_messages=10_000_000):
        """Messages through the stop_count-th one whose tag is in stop_tags,
        parsed in place (no quadratic copying), for answers to long
        pipelines. Returns (counts, kept): counts maps each tag to how many
        arrived; kept lists (tag, body) of the messages whose tag is in keep
        (None: keep all). Bounded by timeout (TimeoutError) and max_messages.
        """
        deadline = time.monotonic() + (timeout or self.timeout)
        counts = {}
        kept = []
        seen = 0
        total = 0
        buf = bytearray(self.buf)
        self.buf = b""
        pos = 0
        while True:
            while len(buf) - pos >= 5:
                tag = bytes(buf[pos:pos + 1])
                (length,) = struct.unpack_from("!I", buf, pos + 1)
                if length < 4 or length > 1 << 30:
                    raise ValueError(f"bad length {length} from peer (tag {tag!r})")
                if len(buf) - pos < 1 + length:
                    break
                counts[tag] = counts.get(tag, 0) + 1
                total += 1
                if keep is None or tag in keep:
                    kept.append((tag, bytes(buf[pos + 5:pos + 1 + length])))
                pos += 1 + length
                if tag in stop_tags:
                    seen += 1
                    if seen >= stop_count:
                        self.buf = bytes(buf[pos:])
                        return counts, kept
                if total >= max_messages:
                    raise RuntimeError(f"more than {max_messages} messages")
            del buf[:pos]
            pos = 0
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no complete answer from peer; so far {counts}")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(1 << 20)
            except socket.timeout:
                raise TimeoutError(f"no complete answer from peer; so far {counts}")
            except ConnectionResetError:
                raise Closed(f"connection reset; so far {counts}")
            if not chunk:
                raise Closed(f"connection closed by peer; so far {counts}")
            buf += chunk

    def simple_query(self, sql, timeout=None):
        """Send a Query; returns messages through ReadyForQuery."""
        self.send(query(sql))
        return self.read_until({b"Z"}, timeout)


def rows_of(msgs):
    """Text values of DataRow messages."""
    rows = []
    for tag, body in msgs:
        if tag != b"D":
            continue
        (n,) = struct.unpack("!H", body[:2])
        pos = 2
        row = []
        for _ in range(n):
            (ln,) = struct.unpack("!i", body[pos:pos + 4])
            pos += 4
            if ln < 0:
                row.append(None)
            else:
                row.append(body[pos:pos + ln].decode())
                pos += ln
        rows.append(tuple(row))
    return rows


def errors_of(msgs):
    return [parse_fields(body) for tag, body in msgs if tag == b"E"]


class Binding:
    """What a SCRAM client says about channel binding: the mechanism it
    selects, its GS2 header, and what follows the header in client-final's
    c= (the tls-server-end-point hash when binding). The default binds to
    end_point with SCRAM-SHA-256-PLUS; tests that misbehave change the rest."""

    def __init__(self, end_point=b"", mechanism=b"SCRAM-SHA-256-PLUS",
                 header=b"p=tls-server-end-point,,"):
        self.end_point = end_point
        self.mechanism = mechanism
        self.header = header


NO_BINDING = Binding(mechanism=b"SCRAM-SHA-256", header=b"n,,")


def end_point_of(tls_sock):
    """tls-server-end-point data for a TLS socket's server certificate:
    SHA-256 of its DER, right for the harness's certificates, which are
    signed with SHA-256 (RFC 5929 takes the signature's digest)."""
    return hashlib.sha256(tls_sock.getpeercert(binary_form=True)).digest()


class Login:
    """The client's side of authentication without I/O (Conn and asyncio
    clients share it): answer(body of an 'R' message) is the bytes to send
    back, b"" for none. Cleartext, md5, SCRAM-SHA-256 (and -PLUS with a
    Binding); salted_cache, a dict shared by many logins, runs SCRAM's PBKDF2
    once per salt, not per login. After SASL, `mechanisms` is what the
    server offered."""

    def __init__(self, user, password, salted_cache=None, binding=None):
        self.user = user
        self.password = password
        self.salted_cache = salted_cache
        self.binding = binding or NO_BINDING
        self.mechanisms = None
        self.scram = None

    def answer(self, body):
        (code,) = struct.unpack("!I", body[:4])
        if code == 0:  # AuthenticationOk
            return b""
        if code == 3:  # AuthenticationCleartextPassword
            return message(b"p", self.password.encode() + b"\0")
        if code == 5:  # AuthenticationMD5Password
            salt = body[4:8]
            inner = hashlib.md5((self.password + self.user).encode()).hexdigest()
            outer = hashlib.md5(inner.encode() + salt).hexdigest()
            return message(b"p", b"md5" + outer.encode() + b"\0")
        if code == 10:  # AuthenticationSASL
            self.mechanisms = [m for m in body[4:].split(b"\0") if m]
            self.scram = _Scram(self.password, self.salted_cache, self.binding)
            first = self.scram.client_first()
            mech = self.binding.mechanism + b"\0"
            return message(b"p", mech + struct.pack("!i", len(first)) + first)
        if code == 11:  # AuthenticationSASLContinue
            return message(b"p", self.scram.client_final(body[4:]))
        if code == 12:  # AuthenticationSASLFinal
            self.scram.verify_server(body[4:])
            return b""
        raise RuntimeError(f"unsupported auth request {code}")


class ServerError(Exception):
    """An ErrorResponse where none was wanted; fields as parse_fields gives."""

    def __init__(self, fields):
        self.fields = fields
        super().__init__(f"{fields.get('S', 'ERROR')} {fields.get('C', '')}: "
                         f"{fields.get('M', '')}")


def query_text(host, port, user, database, password, sql, timeout=10.0):
    """Log in, run one simple Query, log out: rows_of its answer; ServerError
    if either fails. Standard library only, for bench/ (no psycopg there)."""
    with Conn(host, port, timeout=timeout) as conn:
        errors = errors_of(conn.startup(user, database, password))
        if errors:
            raise ServerError(errors[0])
        msgs = conn.simple_query(sql, timeout)
        errors = errors_of(msgs)
        if errors:
            raise ServerError(errors[0])
        conn.send(terminate())
        return rows_of(msgs)


class _Scram:
    def __init__(self, password, salted_cache=None, binding=NO_BINDING):
        self.password = password.encode()
        self.salted_cache = salted_cache
        self.binding = binding
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.client_first_bare = f"n=,r={self.nonce}".encode()

    def client_first(self):
        return self.binding.header + self.client_first_bare

    def client_final(self, server_first):
        attrs = dict(kv.split("=", 1) for kv in server_first.decode().split(","))
        salt = base64.b64decode(attrs["s"])
        iters = int(attrs["i"])
        key = (self.password, attrs["s"], iters)
        salted = self.salted_cache.get(key) if self.salted_cache is not None else None
        if salted is None:
            salted = hashlib.pbkdf2_hmac("sha256", self.password, salt, iters)
            if self.salted_cache is not None:
                self.salted_cache[key] = salted
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        stored_key = hashlib.sha256(client_key).digest()
        cbind = base64.b64encode(self.binding.header + self.binding.end_point).decode()
        without_proof = f"c={cbind},r={attrs['r']}".encode()
        auth_message = self.client_first_bare + b"," + server_first + b"," + without_proof
        sig = hmac.new(stored_key, auth_message, "sha256").digest()
        proof = bytes(a ^ b for a, b in zip(client_key, sig))
        server_key = hmac.new(salted, b"Server Key", "sha256").digest()
        self.server_sig = hmac.new(server_key, auth_message, "sha256").digest()
        return without_proof + b",p=" + base64.b64encode(proof)

    def verify_server(self, server_final):
        attrs = dict(kv.split("=", 1) for kv in server_final.decode().split(","))
        if base64.b64decode(attrs["v"]) != self.server_sig:
            raise RuntimeError("server signature mismatch")


# ------------------------------------------------------- extended protocol
def parse(name, sql, types=()):
    body = name.encode() + b"\0" + sql.encode() + b"\0" + struct.pack("!h", len(types))
    body += b"".join(struct.pack("!I", t) for t in types)
    return message(b"P", body)


def bind(statement, params=(), portal=""):
    """Text-format parameters (None is NULL), text results."""
    body = portal.encode() + b"\0" + statement.encode() + b"\0" + struct.pack("!h", 0)
    body += struct.pack("!h", len(params))
    for p in params:
        if p is None:
            body += struct.pack("!i", -1)
        else:
            v = p if isinstance(p, bytes) else str(p).encode()
            body += struct.pack("!i", len(v)) + v
    return message(b"B", body + struct.pack("!h", 0))


def describe(kind, name):
    return message(b"D", kind.encode() + name.encode() + b"\0")


def execute(portal="", max_rows=0):
    return message(b"E", portal.encode() + b"\0" + struct.pack("!i", max_rows))


def close(kind, name):
    return message(b"C", kind.encode() + name.encode() + b"\0")


def sync():
    return message(b"S")


def flush():
    return message(b"H")


def tags_of(msgs):
    """The message types as a string, e.g. '12DCZ'."""
    return "".join(tag.decode() for tag, _ in msgs)
