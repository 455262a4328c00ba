"""The public surface: ``__all__``, import weight, version, typing marker, docstrings."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import trebuchet

ROOT = Path(__file__).resolve().parents[2]

EXPECTED_ALL = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "BandwidthMessageAPIException",
    "Client",
    "ConflictError",
    "CrossOriginLinkError",
    "EventAttempt",
    "EventRecord",
    "InternalServerError",
    "MessageEvent",
    "MessagingSettings",
    "NotFoundError",
    "NumberSettings",
    "OptOut",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "TrebuchetError",
    "UnexpectedResponseError",
    "WebhookVerificationError",
    "__version__",
    "client",
    "parse_event",
    "parse_event_query",
    "sign_payload",
    "verify_signature",
]


def test_all_is_pinned_and_sorted() -> None:
    assert trebuchet.__all__ == EXPECTED_ALL
    assert trebuchet.__all__ == sorted(trebuchet.__all__)
    for name in trebuchet.__all__:
        assert hasattr(trebuchet, name), name


def test_public_objects_live_in_private_modules() -> None:
    for name in trebuchet.__all__:
        obj = getattr(trebuchet, name)
        module = getattr(obj, "__module__", None)
        if module is not None and module != "builtins":
            assert module == "trebuchet" or module.startswith("trebuchet._"), (name, module)


FORBIDDEN = [
    "starlette",
    "sqlalchemy",
    "uvicorn",
    "click",
    "aiohttp",
    "alembic",
    "asyncpg",
    "aiosqlite",
]


def _modules_after(code: str) -> set[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": ""},
        timeout=60,
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def _forbidden(modules: set[str]) -> list[str]:
    return sorted(
        m for m in modules if m.split(".")[0] in FORBIDDEN or m.startswith("trebuchet.server")
    )


def test_import_adds_no_server_dependency() -> None:
    # httpx itself imports click for its optional command line when click is installed,
    # so the check is on what importing trebuchet adds on top of httpx.
    baseline = _modules_after("import httpx")
    after = _modules_after("import httpx, trebuchet")
    assert _forbidden(after - baseline) == []
    assert not any(m.startswith(("trebuchet.server", "trebuchet.cli")) for m in after)


BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {names!r}:
            raise ImportError("blocked: " + name)
        return None
sys.meta_path.insert(0, Block())
"""


def test_import_works_without_any_server_dependency() -> None:
    # As in an install with only httpx: every server dependency is unimportable.
    modules = _modules_after(
        BLOCKER.format(names=FORBIDDEN)
        + "import trebuchet\ntrebuchet.Client('u', 't', 's').close()"
    )
    assert "trebuchet" in modules
    assert "httpx" in modules
    assert _forbidden(modules) == []


def test_version_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert trebuchet.__version__ == project["version"]


def test_py_typed_marker() -> None:
    assert (Path(trebuchet.__file__).parent / "py.typed").exists()


def _public_callables() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for name in ("Client", "AsyncClient"):
        cls = getattr(trebuchet, name)
        found.append((name, cls))
        for attr, member in vars(cls).items():
            if not attr.startswith("_") and callable(member):
                found.append((f"{name}.{attr}", member))
    for name in ("client", "parse_event", "parse_event_query", "sign_payload", "verify_signature"):
        found.append((name, getattr(trebuchet, name)))
    found += [("RetryPolicy", trebuchet.RetryPolicy), ("MessageEvent", trebuchet.MessageEvent)]
    found += [("TrebuchetError", trebuchet.TrebuchetError)]
    return found


def test_every_public_method_has_a_docstring_with_an_example() -> None:
    missing = [
        name for name, obj in _public_callables() if "Example" not in (inspect.getdoc(obj) or "")
    ]
    assert missing == []


def test_client_twins_have_the_same_methods() -> None:
    def public(cls: type) -> set[str]:
        return {name for name in vars(cls) if not name.startswith("_")}

    sync_methods = public(trebuchet.Client) - {"close"}
    async_methods = public(trebuchet.AsyncClient) - {"aclose"}
    assert (
        sync_methods
        == async_methods
        == {"list_messages", "send_message", "send_messages", "get_message", "cancel_message"}
    )
    for name in sync_methods:
        sync_sig = inspect.signature(getattr(trebuchet.Client, name))
        async_sig = inspect.signature(getattr(trebuchet.AsyncClient, name))
        assert list(sync_sig.parameters) == list(async_sig.parameters), name


def test_signatures_match_the_original_client() -> None:
    sig = inspect.signature(trebuchet.Client.list_messages)
    assert list(sig.parameters) == [
        "self", "from_", "to", "from_date_time", "to_date_time", "direction", "state",
        "delivery_state", "sort_order", "size", "kwargs",
    ]  # fmt: skip
    sig = inspect.signature(trebuchet.Client.send_message)
    assert list(sig.parameters) == [
        "self", "from_", "to", "text", "media", "receipt_requested", "callback_url",
        "callback_http_method", "callback_timeout", "fallback_url", "tag", "kwargs",
    ]  # fmt: skip
    sig = inspect.signature(trebuchet.Client.__init__)
    assert list(sig.parameters)[:6] == [
        "self", "user_id", "api_token", "api_secret", "api_endpoint", "api_version",
    ]  # fmt: skip
    assert sig.parameters["api_endpoint"].default == "http://127.0.0.1:8080"
    assert sig.parameters["api_version"].default == "v1"


def test_no_mocking_library_in_the_sdk_tests() -> None:
    for path in Path(__file__).parent.glob("*.py"):
        text = path.read_text()
        assert "unittest" + ".mock" not in text, path.name
        assert "Magic" + "Mock" not in text, path.name
