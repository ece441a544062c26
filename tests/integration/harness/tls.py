"""Certificates for the TLS tests, made with the `openssl` command line tool.

A `Pki` lives in one directory and makes certificate authorities and leaf
certificates (EC P-256 keys: fast to make) signed by them:

    pki = Pki(directory)
    ca = pki.ca("ca")
    server = pki.leaf("server", ca, cn="localhost",
                      san="DNS:localhost,IP:127.0.0.1")
    client = pki.leaf("client", ca, cn="app", client=True)
    old = pki.leaf("old", ca, cn="old", expired=True)

Each result is a `Cert` with .cert and .key paths (PEM). `for_service()`
copies one where the postgres account can read it (PostgreSQL wants its key
owned by itself, mode 0600).
"""

import os
import shutil
import ssl
import subprocess

from . import util

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

# `openssl ca` is used only for certificates with chosen validity dates (an
# expired one): `openssl x509 -req` in OpenSSL 3.0 cannot backdate.
_CA_CONFIG = """\
[ca]
default_ca = tests
[tests]
database = {db}/index.txt
new_certs_dir = {db}
serial = {db}/serial
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = copy
[anything]
commonName = supplied
"""


class Cert:
    def __init__(self, name, cert, key, cn, serial):
        self.name = name
        self.cert = cert
        self.key = key
        self.cn = cn
        self.serial = serial

    def der(self):
        """The certificate in DER form (what getpeercert(True) returns)."""
        with open(self.cert) as f:
            return ssl.PEM_cert_to_DER_cert(f.read())

    def __repr__(self):
        return f"Cert({self.name!r}, cn={self.cn!r}, serial={self.serial})"


class Pki:
    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        os.chmod(directory, 0o755)
        self._serial = 0x1000

    def _run(self, *args, timeout=60):
        proc = subprocess.run(
            [OPENSSL, *args], cwd=self.dir, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, timeout=timeout,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(args)} failed:\n{proc.stdout}")
        return proc.stdout

    def _path(self, name, ext):
        return os.path.join(self.dir, f"{name}.{ext}")

    def _next_serial(self):
        self._serial += 1
        return self._serial

    def _new_key(self, name):
        key = self._path(name, "key")
        self._run("genpkey", "-algorithm", "EC", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-out", key)
        os.chmod(key, 0o600)
        return key

    def ca(self, name, cn=None):
        """A self-signed certificate authority."""
        cn = cn or f"Usher test CA {name}"
        key = self._new_key(name)
        cert = self._path(name, "crt")
        serial = self._next_serial()
        self._run("req", "-x509", "-new", "-key", key, "-out", cert,
                  "-days", "30", "-subj", f"/CN={cn}", "-set_serial", str(serial),
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return Cert(name, cert, key, cn, serial)

    def leaf(self, name, ca, cn, san=None, client=False, expired=False):
        """A certificate signed by `ca`. san: e.g. "DNS:localhost,IP:127.0.0.1".
        client: extendedKeyUsage clientAuth (else serverAuth). expired:
        valid on 1-2 January 2020 only."""
        key = self._new_key(name)
        csr = self._path(name, "csr")
        cert = self._path(name, "crt")
        serial = self._next_serial()
        ext = os.path.join(self.dir, f"{name}.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n")
            f.write("keyUsage=critical,digitalSignature,keyEncipherment\n")
            f.write(f"extendedKeyUsage={'clientAuth' if client else 'serverAuth'}\n")
            if san:
                f.write(f"subjectAltName={san}\n")
        self._run("req", "-new", "-key", key, "-out", csr, "-subj", f"/CN={cn}")
        if expired:
            db = os.path.join(self.dir, f"{name}.db")
            os.makedirs(db, exist_ok=True)
            open(os.path.join(db, "index.txt"), "w").close()
            with open(os.path.join(db, "serial"), "w") as f:
                f.write(f"{serial:X}\n")
            conf = os.path.join(self.dir, f"{name}.cnf")
            with open(conf, "w") as f:
                f.write(_CA_CONFIG.format(db=db))
            self._run("ca", "-batch", "-config", conf, "-cert", ca.cert,
                      "-keyfile", ca.key, "-in", csr, "-out", cert,
                      "-extfile", ext, "-notext",
                      "-startdate", "20200101000000Z", "-enddate", "20200102000000Z")
        else:
            self._run("x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key,
                      "-out", cert, "-days", "30", "-set_serial", str(serial),
                      "-extfile", ext)
        os.chmod(cert, 0o644)
        return Cert(name, cert, key, cn, serial)

    def for_service(self, c, name=None):
        """A copy of `c` (cert and key) owned by the postgres account, the
        key mode 0600, as PostgreSQL demands; returns the copy."""
        name = name or f"{c.name}-svc"
        cert = self._path(name, "crt")
        key = self._path(name, "key")
        shutil.copyfile(c.cert, cert)
        shutil.copyfile(c.key, key)
        os.chmod(cert, 0o644)
        os.chmod(key, 0o600)
        util.chown_service(cert)
        util.chown_service(key)
        return Cert(name, cert, key, c.cn, c.serial)


def replace_file(src, dst):
    """Puts src's bytes at dst atomically, keeping dst's owner and mode."""
    st = os.stat(dst)
    tmp = dst + ".new"
    shutil.copyfile(src, tmp)
    os.chmod(tmp, st.st_mode & 0o777)
    if os.geteuid() == 0:
        os.chown(tmp, st.st_uid, st.st_gid)
    os.replace(tmp, dst)


def write_file(dst, data):
    """Puts `data` (bytes) at dst atomically, keeping dst's owner and mode."""
    st = os.stat(dst)
    tmp = dst + ".new"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, st.st_mode & 0o777)
    if os.geteuid() == 0:
        os.chown(tmp, st.st_uid, st.st_gid)
    os.replace(tmp, dst)
