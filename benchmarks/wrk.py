"""Driving load with wrk (a C load generator; installed from Debian's packages if missing)."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and could not be installed")
    return found


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int


def _latency(text: str, pct: str) -> float:
    match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    return float(match[1]) * _UNITS[match[2]] if match else float("nan")


def run_wrk(
    url: str,
    body: str,
    auth: tuple[str, str] | None,
    *,
    seconds: float,
    connections: int = 64,
    extra_header: tuple[str, str] | None = None,
    method: str = "POST",
) -> WrkResult:
    """``method`` POST sends ``body`` as JSON; GET sends no body (the query is in ``url``)."""
    headers = ['wrk.headers["Content-Type"] = "application/json"'] if method == "POST" else []
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        headers.append(f'wrk.headers["Authorization"] = "Basic {token}"')
    if extra_header:
        headers.append(f'wrk.headers["{extra_header[0]}"] = "{extra_header[1]}"')
    request = [f'wrk.method = "{method}"']
    if method == "POST":
        request.append(f"wrk.body = [=[{body}]=]")
    lua = "\n".join([*request, *headers])
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(lua)
        out = subprocess.run(
            [
                ensure_wrk(),
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--latency",
                "-s",
                str(script),
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=seconds + 30,
        ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return WrkResult(
        requests_per_s=float(rps[1]) if rps else 0.0,
        p50_ms=_latency(out, "50"),
        p99_ms=_latency(out, "99"),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
    )
