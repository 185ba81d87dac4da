"""Sizes and durations read and shown as Dask reads and shows them, under pycluster's messages."""

from __future__ import annotations

import dask.utils
import pytest

from pycluster.config import ConfigError, Settings
from pycluster.units import format_bytes, parse_bytes, parse_memory_limit, parse_seconds


@pytest.mark.parametrize("text", ["1PB", "2GB", "512 MiB", "10 kB", "1e9", "3 TiB", "2g", "7"])
def test_sizes_mean_what_they_mean_to_dask(text: str) -> None:
    assert parse_bytes(text) == dask.utils.parse_bytes(text)


def test_peta_bytes_and_plain_numbers() -> None:
    assert parse_bytes("1PB") == 10**15
    assert parse_bytes("1 PiB") == 2**50
    assert parse_bytes(2_000_000) == 2_000_000


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2 days", 172_800),
        ("10us", 1e-5),
        ("5m", 300),
        ("5min", 300),
        ("250ms", 0.25),
        ("30", 30),
        ("1 hour", 3600),
    ],
)
def test_durations_as_dask_reads_them(text: str, seconds: float) -> None:
    assert parse_seconds(text) == pytest.approx(seconds)
    if text != "5min":  # the one spelling pycluster accepted before Dask did the parsing
        assert parse_seconds(text) == pytest.approx(dask.utils.parse_timedelta(text))


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("lots", "is not a size"),
        ("MB", "is not a size"),  # Dask reads a bare unit as 1 MB: here it is a typo
        ("2XB", "is not a size"),
        ("-1GB", "is not positive"),
        ("0", "is not positive"),
        (True, "is not a size"),
    ],
)
def test_bad_sizes_say_what_is_allowed(value: object, says: str) -> None:
    with pytest.raises(ValueError, match=says) as caught:
        parse_bytes(value)
    assert "allowed: a positive size such as 2GB" in str(caught.value)


@pytest.mark.parametrize(
    ("value", "says"), [("5 fortnights", "not a duration"), ("s", "not a duration"), ("-5s", "negative")]
)
def test_bad_durations_say_what_is_allowed(value: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as caught:
        parse_seconds(value)
    assert "2 days" in str(caught.value)


def test_sizes_are_shown_in_binary_units_as_on_dasks_dashboard() -> None:
    assert format_bytes(25_280_000_000) == "23.54 GiB" == dask.utils.format_bytes(25_280_000_000)
    assert format_bytes(512) == "512 B"
    assert format_bytes(300 * 2**20) == "300.00 MiB"
    assert format_bytes(-(2**31)) == "-2.00 GiB"


def test_memory_limit_bounds_are_kept_and_shown_in_binary_units() -> None:
    with pytest.raises(ValueError, match="memory limit of 2 B, below the 64 MiB"):
        parse_memory_limit("2")
    with pytest.raises(ValueError, match="over 4 times"):
        parse_memory_limit("900PB")
    assert parse_memory_limit("1 GiB") == 2**30


def test_settings_take_dask_durations_and_name_the_key_when_wrong() -> None:
    settings = Settings.load(False, env={"PYCLUSTER_MONITORING_METRICS_RETENTION": "2 days"})
    assert settings.monitoring.metrics_retention == 172_800
    with pytest.raises(ConfigError, match=r"monitoring\.metrics_retention.*2 days"):
        Settings.load(False, env={"PYCLUSTER_MONITORING_METRICS_RETENTION": "forever"})
