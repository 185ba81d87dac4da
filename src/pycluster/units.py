"""Parsers for the human units people write in settings: "2GB", "30s", "0.9", "GPU=1".

Each parser raises ``ValueError`` with a message that says what is allowed; the
caller (config loading, the CLI, the Python API) adds *where* the value came from.
"""

from __future__ import annotations

import math
import re

__all__ = [
    "format_bytes",
    "parse_bool",
    "parse_bytes",
    "parse_fraction",
    "parse_memory_limit",
    "parse_non_negative_int",
    "parse_port",
    "parse_positive_int",
    "parse_resources",
    "parse_seconds",
]

_BYTE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
}
_SECOND_UNITS = {"": 1.0, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_NUMBER_WITH_UNIT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")


def _split_unit(text: str, allowed: str) -> tuple[float, str]:
    match = _NUMBER_WITH_UNIT.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a number with an optional unit; allowed: {allowed}")
    return float(match.group(1)), match.group(2).lower()


def parse_bytes(value: object) -> int:
    """Bytes from an int or a string such as "2GB", "512 MiB" or "1e9".

    >>> parse_bytes("2GB")
    2000000000
    """
    allowed = "a positive size such as 2GB, 512MiB or 1000000 (bytes)"
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size; allowed: {allowed}")
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    elif isinstance(value, str):
        number, unit = _split_unit(value, allowed)
    else:
        raise ValueError(f"{value!r} is not a size; allowed: {allowed}")
    if unit not in _BYTE_UNITS:
        raise ValueError(f"unknown size unit {unit!r} in {value!r}; allowed: {allowed}")
    size = number * _BYTE_UNITS[unit]
    if not math.isfinite(size) or size <= 0:
        raise ValueError(f"{value!r} is not positive; allowed: {allowed}")
    if size < 1:  # "0.5" or "0.1B" would become 0 bytes: a size that is not positive after all
        raise ValueError(f"{value!r} is less than one byte; allowed: {allowed}")
    return int(size)


# The smallest memory limit a worker is given: a Dask worker takes about 100 MB just to
# start, so below this it is killed (or pauses) before running anything; "2" (bytes) or
# "0.0001" (of RAM) are mistakes for "2GB" or "0.1", and better refused where they are typed
MIN_MEMORY_LIMIT = 64 * 2**20
# A limit this many times the machine's memory is a mistaken unit ("2TB" for "2GB"): Dask
# would quietly cap it at the machine's memory, so the memory guard would not be what was asked
MAX_MEMORY_LIMIT_FACTOR = 4


def parse_memory_limit(value: object) -> str | int | float:
    """A Dask memory limit: "auto", a size ("2GB"), or a fraction of system memory (0 < f <= 1).

    A size or fraction below 64 MiB, or above 4 times this machine's memory, is refused.
    """
    allowed = '"auto", a size such as 2GB, or a fraction of system memory between 0 and 1'
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return "auto"
    fraction: float | None = None
    if isinstance(value, float) and 0 < value <= 1:
        fraction = value
    elif isinstance(value, str):
        try:
            fraction = float(value)
        except ValueError:
            fraction = None
        if fraction is not None and not 0 < fraction <= 1:
            fraction = None
    if fraction is not None:
        _check_memory_size(value, fraction * _total_memory(), allowed)
        return fraction
    try:
        size = parse_bytes(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a memory limit; allowed: {allowed}") from None
    _check_memory_size(value, size, allowed)
    return size


def _total_memory() -> int:
    import psutil  # lazily: most callers of this module never parse a memory limit

    return int(psutil.virtual_memory().total)


def _check_memory_size(value: object, size: float, allowed: str) -> None:
    if size < MIN_MEMORY_LIMIT:
        raise ValueError(
            f"{value!r} is a memory limit of {format_bytes(size)}, below the {MIN_MEMORY_LIMIT // 2**20} MiB "
            f"a worker needs to start (a missing unit? 2 is 2 bytes, 2GB is 2 gigabytes); allowed: {allowed}"
        )
    total = _total_memory()
    if size > MAX_MEMORY_LIMIT_FACTOR * total:
        raise ValueError(
            f"{value!r} is a memory limit of {format_bytes(size)}, over {MAX_MEMORY_LIMIT_FACTOR} times this "
            f"machine's {format_bytes(total)} of memory (a wrong unit?); allowed: {allowed}"
        )


def parse_seconds(value: object) -> float:
    """Seconds from a number or a string such as "30s", "5m" or "250ms"."""
    allowed = "a non-negative duration such as 30, 30s, 5m, 250ms or 1h"
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; allowed: {allowed}")
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    elif isinstance(value, str):
        number, unit = _split_unit(value, allowed)
    else:
        raise ValueError(f"{value!r} is not a duration; allowed: {allowed}")
    if unit not in _SECOND_UNITS:
        raise ValueError(f"unknown time unit {unit!r} in {value!r}; allowed: {allowed}")
    seconds = number * _SECOND_UNITS[unit]
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{value!r} is negative; allowed: {allowed}")
    return seconds


def _parse_int(value: object, allowed: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a whole number; allowed: {allowed}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        return int(value)
    raise ValueError(f"{value!r} is not a whole number; allowed: {allowed}")


def parse_port(value: object) -> int:
    """A TCP/UDP port: 0 (pick a free one) to 65535."""
    allowed = "a port from 0 (pick a free one) to 65535"
    port = _parse_int(value, allowed)
    if not 0 <= port <= 65535:
        raise ValueError(f"{port} is out of range; allowed: {allowed}")
    return port


def parse_non_negative_int(value: object) -> int:
    allowed = "a whole number >= 0"
    number = _parse_int(value, allowed)
    if number < 0:
        raise ValueError(f"{number} is negative; allowed: {allowed}")
    return number


def parse_positive_int(value: object) -> int:
    allowed = "a whole number >= 1"
    number = _parse_int(value, allowed)
    if number < 1:
        raise ValueError(f"{number} is below 1; allowed: {allowed}")
    return number


def parse_fraction(value: object) -> float:
    """A number between 0 and 1 inclusive ("0.9")."""
    allowed = "a number between 0 and 1, such as 0.9"
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number; allowed: {allowed}") from None
    if isinstance(value, bool) or not 0 <= number <= 1:
        raise ValueError(f"{value!r} is out of range; allowed: {allowed}")
    return number


def parse_bool(value: object) -> bool:
    allowed = "true/false, yes/no, on/off or 1/0"
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{value!r} is not a boolean; allowed: {allowed}")


_RESOURCE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def parse_resources(value: object) -> dict[str, float]:
    """Dask worker resources from a dict or "GPU=1,MEMORY=8e9" / "GPU=1 FOO=2".

    >>> parse_resources("GPU=1")
    {'GPU': 1.0}
    """
    allowed = 'NAME=AMOUNT pairs separated by commas or spaces, such as "GPU=1" or "GPU=2,TPU=1"'
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, str):
        pairs = []
        for item in re.split(r"[,\s]+", value.strip()):
            name, sep, amount = item.partition("=")
            if not sep:
                raise ValueError(f"resource {item!r} has no '='; allowed: {allowed}")
            pairs.append((name.strip(), amount.strip()))
    else:
        raise ValueError(f"{value!r} is not a resource specification; allowed: {allowed}")
    resources: dict[str, float] = {}
    for name, amount in pairs:
        if not isinstance(name, str) or not _RESOURCE_NAME.match(name):
            raise ValueError(f"resource name {name!r} is not valid; allowed: {allowed}")
        try:
            number = float(amount)
        except (TypeError, ValueError):
            raise ValueError(f"resource {name} amount {amount!r} is not a number") from None
        if isinstance(amount, bool) or not math.isfinite(number) or number < 0:
            raise ValueError(f"resource {name} amount {amount!r} must be a number >= 0")
        resources[name] = number
    return resources


def format_bytes(n: float) -> str:
    """ "8.00GB" style, as the processing cluster document shows sizes."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return f"{int(n)}B"
