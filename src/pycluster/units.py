"""Parsers for the human units people write in settings: "2GB", "30s", "0.9", "GPU=1".

Each parser raises ``ValueError`` with a message that says what is allowed; the
caller (config loading, the CLI, the Python API) adds *where* the value came from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

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

# Parsing and formatting are Dask's own (dask.utils), so a size or a duration means here what
# it means in a Dask config or on Dask's dashboard; this module adds the checks and messages.
_NUMBER = re.compile(r"^\s*[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def _dask_number(text: str, parse: Callable[[str], float | None], unknown: str) -> float:
    """``parse(text)`` (a Dask parser); a ValueError or a unit-less word becomes ``unknown``."""
    if not _NUMBER.match(text):
        # Dask reads a bare unit as one of it ("MB" is 1 MB, "s" 1 s): here that is a mistake
        raise ValueError(unknown)
    try:
        number = parse(text)
    except (ValueError, KeyError, TypeError):
        raise ValueError(unknown) from None
    except OverflowError:  # Dask turns "1E309 B" into int(inf)
        raise ValueError(f"{text!r} is too large") from None
    if number is None:
        raise ValueError(unknown)
    if not math.isfinite(float(number)):
        raise ValueError(f"{text!r} is too large")
    return float(number)


def parse_bytes(value: object) -> int:
    """Bytes from an int or a string such as "2GB", "512 MiB", "1PB" or "1e9" (as Dask reads them).

    >>> parse_bytes("2GB")
    2000000000
    >>> parse_bytes("1 GiB")
    1073741824
    """
    from dask.utils import parse_bytes as dask_parse_bytes

    allowed = "a positive size such as 2GB, 512MiB, 1PB or 1000000 (bytes)"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{value!r} is not a size; allowed: {allowed}")
    if isinstance(value, str):
        size = _dask_number(value, dask_parse_bytes, f"{value!r} is not a size; allowed: {allowed}")
    else:
        size = float(value)
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
    """Seconds from a number or a string such as "30s", "5m", "250ms", "10us" or "2 days" (as Dask
    reads them; a bare number is seconds).

    >>> parse_seconds("2 days")
    172800.0
    """
    from dask.utils import parse_timedelta

    allowed = "a non-negative duration such as 30, 30s, 5m, 250ms, 10us, 1h or 2 days"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{value!r} is not a duration; allowed: {allowed}")
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("-"):
            raise ValueError(f"{value!r} is negative; allowed: {allowed}")
        # "5min" was accepted before Dask did the parsing; Dask knows only "m" and "minutes"
        text = re.sub(r"(?i)(?<=[0-9\s])min$", "m", text)
        seconds = _dask_number(text, parse_timedelta, f"{value!r} is not a duration; allowed: {allowed}")
    else:
        seconds = float(value)
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
    """A size in binary units, as Dask's dashboard shows it.

    >>> format_bytes(25_280_000_000)
    '23.54 GiB'
    >>> format_bytes(512)
    '512 B'
    """
    from dask.utils import format_bytes as dask_format_bytes

    sign = "-" if n < 0 else ""
    # whole bytes: Dask prints a float below 1 kiB as "12.5 B"
    return sign + dask_format_bytes(int(abs(n)))
