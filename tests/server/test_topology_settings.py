"""How many processes ``serve`` runs, from its settings and the core count."""

from __future__ import annotations

import pytest

from trebuchet.server.config import load_settings
from trebuchet.server.serving.topology import Topology, api_settings, topology, worker_settings


def _shape(cores: int = 2, **environ: str) -> Topology:
    env = {f"TREBUCHET_{k.upper()}": v for k, v in environ.items()}
    return topology(load_settings(environ=env), cores=cores)


def test_defaults_are_one_api_process_per_core_and_one_delivery_process() -> None:
    assert _shape(cores=2) == Topology(2, 1)
    assert _shape(cores=8) == Topology(8, 1)
    assert not _shape().single


@pytest.mark.parametrize("api", ["0", "1"])
def test_one_api_process_and_no_delivery_process_is_the_single_process(api: str) -> None:
    shape = _shape(api_processes=api, worker_processes="0")
    assert shape == Topology(1, 0)
    assert shape.single


def test_the_older_workers_setting_counts_api_processes() -> None:
    assert _shape(workers="3") == Topology(3, 1)
    assert _shape(workers="3", api_processes="2") == Topology(2, 1)


def test_with_the_engine_off_there_is_no_delivery_process() -> None:
    assert _shape(engine="false", worker_processes="2") == Topology(2, 0)


def test_api_processes_leave_the_engine_to_delivery_processes() -> None:
    settings = load_settings(environ={})
    assert api_settings(settings, Topology(2, 1)).engine is False
    assert api_settings(settings, Topology(2, 0)).engine is True


def test_a_negative_count_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="worker_processes"):
        load_settings(environ={"TREBUCHET_WORKER_PROCESSES": "-1"})


def test_delivery_processes_open_no_metrics_port_of_their_own() -> None:
    """Their metrics are on serve's port; one port set for all of them would collide."""
    settings = load_settings(environ={"TREBUCHET_WORKER_METRICS_PORT": "9464"})
    assert settings.worker_metrics_port == 9464
    assert worker_settings(settings).worker_metrics_port == 0
