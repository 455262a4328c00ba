"""nginx from the system's packages in front of API processes, as an unprivileged process.

:func:`running_nginx` loads the shipped ``deploy/nginx.conf`` into a generated main
configuration in a directory of its own: the upstream's ``server`` lines become the
given loopback addresses and ``listen`` a free loopback port; the rest is used as
written.  Every response carries ``X-Upstream`` (the API process that answered), so a
test can tell which machine served what.  When the tests run as root, nginx runs as
``nobody``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.reliability.cluster import ROOT, free_port

SHIPPED = ROOT / "deploy" / "nginx.conf"
UPSTREAM_SERVER = re.compile(r"^(\s*)server \d+\.\d+\.\d+\.\d+:\d+ (.*;)$", re.MULTILINE)
LISTEN = re.compile(r"^(\s*)listen \d+;$", re.MULTILINE)
UNPRIVILEGED = "nobody"

MAIN = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    add_header X-Upstream $upstream_addr always;
    include {dir}/trebuchet.conf;
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def render(shipped: str, upstreams: Sequence[str], port: int) -> str:
    """The shipped server block with our upstream addresses and listening port."""
    first = UPSTREAM_SERVER.search(shipped)
    assert first is not None, "the shipped configuration has no upstream server lines"
    indent, options = first.group(1), first.group(2)
    servers = "\n".join(f"{indent}server {address} {options}" for address in upstreams)
    text = UPSTREAM_SERVER.sub("", shipped)
    text = text.replace("\n\n\n", "\n\n")
    text = re.sub(r"(upstream trebuchet_api \{\n(?:\s*#.*\n)*)", rf"\g<1>{servers}\n", text)
    text, listens = LISTEN.subn(rf"\g<1>listen 127.0.0.1:{port};", text)
    assert listens == 1, "the shipped configuration should listen once"
    return text


@dataclass
class Nginx:
    process: subprocess.Popen[bytes]
    directory: Path
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def errors(self) -> str:
        log = self.directory / "error.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else ""


def _owner() -> tuple[int, int] | None:
    """(uid, gid) nginx runs as: ``nobody`` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam(UNPRIVILEGED)
    return entry.pw_uid, entry.pw_gid


@contextlib.contextmanager
def running_nginx(
    binary: str, upstreams: Sequence[str], *, port: int | None = None, within: float = 15.0
) -> Iterator[Nginx]:
    """nginx on ``port`` (a free one by default) in front of ``upstreams`` (host:port)."""
    directory = Path(tempfile.mkdtemp(prefix="trebuchet-nginx-"))
    owner = _owner()
    port = port or free_port()
    (directory / "trebuchet.conf").write_text(render(SHIPPED.read_text(), upstreams, port))
    (directory / "nginx.conf").write_text(MAIN.format(dir=directory))
    if owner is not None:
        directory.chmod(0o755)
        for path in [directory, *directory.iterdir()]:
            os.chown(path, *owner)
    command = [binary, "-p", str(directory), "-e", str(directory / "error.log")]
    command += ["-c", str(directory / "nginx.conf"), "-g", "daemon off;"]
    drop = _drop(owner)
    checked = subprocess.run([*command, "-t"], capture_output=True, **drop)
    assert checked.returncode == 0, f"nginx refused the configuration:\n{checked.stderr.decode()}"
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **drop
    )
    nginx = Nginx(process, directory, port)
    try:
        _wait(nginx, within)
        yield nginx
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        shutil.rmtree(directory, ignore_errors=True)


def _drop(owner: tuple[int, int] | None) -> dict[str, Any]:
    """Popen's arguments that run nginx as ``owner`` (none when we are not root)."""
    if owner is None:
        return {}
    return {"user": owner[0], "group": owner[1], "extra_groups": []}


def _wait(nginx: Nginx, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if nginx.process.poll() is not None:
            raise AssertionError(f"nginx stopped:\n{nginx.errors()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{nginx.base_url}/health", timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise AssertionError(f"nginx did not answer /health through its upstreams:\n{nginx.errors()}")
