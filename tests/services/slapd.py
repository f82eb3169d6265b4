"""A throwaway OpenLDAP server for the tests (Debian's slapd + ldap-utils).

``start_slapd(ldif)`` writes a slapd.conf and a database in a temporary
folder, loads the LDIF with ``slapadd``, and runs ``slapd`` in the foreground
(``-d stats``: every connection and operation goes to ``slapd.log``, so a test
can tell whether a bind was even attempted) on two free loopback ports: plain
LDAP (StartTLS available) and LDAPS, with a certificate for 127.0.0.1 signed
by a CA made for this run (``ca_file``). ``stop()`` ends it by its PID and
removes the folder.

The server is deliberately lenient where the hub must not be: it accepts an
unauthenticated bind (a DN with an empty password, ``allow bind_anon_dn``)
and lets anyone read everything but passwords, so a test that a login is
refused shows the hub refused it, not the server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.ports import free_port

SLAPD = Path("/usr/sbin/slapd")
SLAPADD = Path("/usr/sbin/slapadd")
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
SUFFIX = "dc=tenanthub,dc=test"
ROOT_DN = f"cn=admin,{SUFFIX}"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ldap"
DIRECTORY_LDIF = FIXTURES / "directory.ldif"


class SlapdUnavailable(RuntimeError):
    pass


def _missing() -> str:
    tools = [SLAPD, SLAPADD, MODULE_DIR / "back_mdb.la"]
    absent = [str(t) for t in tools if not t.exists()]
    for name in ("ldapmodify", "ldapwhoami", "openssl"):
        if shutil.which(name) is None:
            absent.append(name)
    if not absent:
        return ""
    return (
        f"OpenLDAP test server not available (missing: {', '.join(absent)}); "
        "`make test` installs Debian's slapd, ldap-utils and openssl "
        "(scripts/install-system.sh test)"
    )


CONF = """\
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
include {schema}/nis.schema
modulepath {modules}
moduleload back_mdb
pidfile {root}/slapd.pid
argsfile {root}/slapd.args
# lenient on purpose: the hub has to refuse these itself
allow bind_anon_dn bind_anon_cred
TLSCACertificateFile {root}/ca.pem
TLSCertificateFile {root}/server.pem
TLSCertificateKeyFile {root}/server.key
sizelimit 1000

database mdb
suffix "{suffix}"
rootdn "{root_dn}"
rootpw {root_password}
directory {root}/db
maxsize 104857600
index objectClass,uid,cn,memberUid,member eq
access to attrs=userPassword
    by self write
    by anonymous auth
    by * none
access to *
    by * read
"""


def _make_certificates(root: Path) -> None:
    """A CA for this run and a server certificate for 127.0.0.1 / localhost signed by it."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=root, check=True, capture_output=True)

    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=TenantHub test CA",
    )  # fmt: skip
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1",
    )  # fmt: skip
    (root / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext",
    )  # fmt: skip


@dataclass
class SlapdServer:
    root: Path
    port: int
    tls_port: int
    proc: subprocess.Popen[bytes]
    suffix: str = SUFFIX
    root_dn: str = ROOT_DN

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def tls_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.tls_port}"

    @property
    def ca_file(self) -> Path:
        return self.root / "ca.pem"

    @property
    def log_path(self) -> Path:
        return self.root / "slapd.log"

    @property
    def root_password_file(self) -> Path:
        return self.root / "rootpw"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")

    def ldapmodify(self, ldif: str) -> None:
        """Change the directory as its admin (ldapmodify over the loopback port)."""
        result = subprocess.run(
            ["ldapmodify", "-x", "-H", self.url, "-D", self.root_dn, "-y", self.root_password_file],
            input=ldif.encode(),
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"ldapmodify failed: {result.stderr.decode(errors='replace')}")

    def whoami(self, dn: str, password: str) -> subprocess.CompletedProcess[str]:
        """``ldapwhoami`` as ``dn`` (a simple bind with exactly this password, even empty)."""
        return subprocess.run(
            ["ldapwhoami", "-x", "-H", self.url, "-D", dn, "-w", password],
            capture_output=True,
            text=True,
            check=False,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def start_slapd(ldif: Path | str = DIRECTORY_LDIF, log_operations: bool = True) -> SlapdServer:
    """slapd on free loopback ports with ``ldif`` (a path, or LDIF text) loaded.

    ``log_operations=False`` runs it without the stats log (benchmarks).
    """
    problem = _missing()
    if problem:
        raise SlapdUnavailable(problem)
    root = Path(tempfile.mkdtemp(prefix="tenanthub-slapd-"))
    try:
        (root / "db").mkdir()
        root_password = os.urandom(12).hex()
        (root / "rootpw").write_text(root_password)  # ldapmodify -y: no newline
        _make_certificates(root)
        conf = root / "slapd.conf"
        conf.write_text(
            CONF.format(
                schema=SCHEMA_DIR,
                modules=MODULE_DIR,
                root=root,
                suffix=SUFFIX,
                root_dn=ROOT_DN,
                root_password=root_password,
            )
        )
        if isinstance(ldif, str):
            (root / "data.ldif").write_text(ldif)
            ldif = root / "data.ldif"
        loaded = subprocess.run(
            [str(SLAPADD), "-q", "-f", str(conf), "-l", str(ldif)],
            capture_output=True,
            text=True,
            check=False,
        )
        if loaded.returncode != 0:
            raise SlapdUnavailable(f"slapadd of {ldif} failed: {loaded.stderr.strip()}")
        port, tls_port = free_port(), free_port()
        with (root / "slapd.log").open("wb") as log:
            proc = subprocess.Popen(
                [
                    str(SLAPD),
                    "-h",
                    f"ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/",
                    "-f",
                    str(conf),
                    "-d",
                    "stats" if log_operations else "0",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = SlapdServer(root, port, tls_port, proc)
    except (OSError, subprocess.CalledProcessError, SlapdUnavailable) as exc:
        shutil.rmtree(root, ignore_errors=True)
        if isinstance(exc, SlapdUnavailable):
            raise
        detail = exc.stderr.decode(errors="replace") if hasattr(exc, "stderr") else str(exc)
        raise SlapdUnavailable(f"slapd could not be set up: {detail}") from exc
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = server.log()[-2000:]
            server.stop()
            raise SlapdUnavailable(f"slapd exited with {proc.returncode}: {output}")
        connected = False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            connected = True
        if connected:
            # slapd logs the probe connection late; let it land before any test takes
            # a log offset (tests count the connections a login opens)
            settle = time.monotonic() + 5
            while log_operations and time.monotonic() < settle:
                log = server.log()
                if " ACCEPT " in log and log.count(" ACCEPT ") <= log.count(" closed"):
                    break
                time.sleep(0.05)
            return server
        time.sleep(0.1)
    server.stop()
    raise SlapdUnavailable("slapd did not accept connections within 30 s")
