"""Settings are checked when they are loaded: a wrong value is named with its source."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from trebuchet.cli.main import main
from trebuchet.server.config import Settings, load_settings


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"TREBUCHET_PORT": "abc"}, "setting port (TREBUCHET_PORT): Expected `int`, got 'abc'"),
        ({"TREBUCHET_PORT": "70000"}, "Expected `int` <= 65535, got '70000'"),
        ({"TREBUCHET_WORKERS": "0"}, "setting workers (TREBUCHET_WORKERS): Expected `int` >= 1"),
        ({"TREBUCHET_SEND_CONCURRENCY": "-1"}, "setting send_concurrency"),
        ({"TREBUCHET_LEASE_SECONDS": "0"}, "Expected `float` > 0"),
        ({"TREBUCHET_RATE_LIMIT_PER_SECOND": "-0.5"}, "Expected `float` >= 0"),
        ({"TREBUCHET_ENGINE": "maybe"}, "setting engine (TREBUCHET_ENGINE): Expected `bool`"),
        (
            {"TREBUCHET_SQLITE_SYNCHRONOUS": "NORMAL; PRAGMA x"},
            "Expected one of OFF, NORMAL, FULL, EXTRA, got 'NORMAL; PRAGMA x'",
        ),
        ({"TREBUCHET_CARRIERS": "{not json"}, "setting carriers (TREBUCHET_CARRIERS) is not"),
        ({"TREBUCHET_DEFAULT_PAGE_SIZE": "2000"}, "larger than max_page_size (1000)"),
    ],
)
def test_a_wrong_value_from_the_environment_is_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        load_settings(environ=environ)


def test_values_written_as_text_become_their_types() -> None:
    settings = load_settings(
        environ={
            "TREBUCHET_PORT": "9090",
            "TREBUCHET_CACHE_SECONDS": "0",
            "TREBUCHET_ENGINE": "off",
            "TREBUCHET_METRICS_ENABLED": "TRUE",
            "TREBUCHET_SQLITE_SYNCHRONOUS": "full",
            "TREBUCHET_ROUTES": '[{"carrier": "smsc"}]',
        }
    )
    assert settings.port == 9090
    assert settings.cache_seconds == 0.0
    assert settings.engine is False
    assert settings.metrics_enabled is True
    assert settings.sqlite_synchronous == "FULL"
    assert settings.routes == ({"carrier": "smsc"},)
    assert load_settings(environ={}) == Settings()


def test_the_config_file_and_flags_are_checked_too(tmp_path: Path) -> None:
    config = tmp_path / "trebuchet.toml"
    config.write_text('workers = -2\nport = "8081"\n')
    with pytest.raises(ValueError, match=r"setting workers \(in .*trebuchet\.toml\): .* >= 1"):
        load_settings(environ={}, config_file=config)
    config.write_text('port = "8081"\n')
    assert load_settings(environ={}, config_file=config).port == 8081
    with pytest.raises(ValueError, match=r"setting bulk_limit \(--bulk-limit\)"):
        load_settings({"bulk_limit": 0}, environ={})


def test_the_cli_refuses_a_wrong_setting_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["migrate", "--db", f"sqlite:///{tmp_path / 't.db'}"],
        env={"TREBUCHET_SEND_CONCURRENCY": "-1"},
    )
    assert result.exit_code == 2
    assert "setting send_concurrency (TREBUCHET_SEND_CONCURRENCY): Expected `int` >= 1" in (
        result.output
    )
    assert not (tmp_path / "t.db").exists()
