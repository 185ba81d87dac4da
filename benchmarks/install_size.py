"""The base install's size: ``pip install CHECKOUT`` (no extras) into a fresh venv, per checkout.

Prints one JSON line per checkout (site-packages in MB, allocated as ``du -sm`` counts and
apparent, and the distributions installed), then one with the ratios last / first and the
distributions only one of them installed. Each install takes minutes (pandas, pyarrow, dask,
bokeh, ...); pip's cache and configured indexes are used as they are.

    python benchmarks/install_size.py /path/to/before /path/to/after [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path


def emit(**figure: object) -> None:
    print(json.dumps(figure), flush=True)


def site_packages_mb(folder: Path) -> tuple[float, float]:
    """(allocated, apparent) MB under ``folder``, as ``du -sm`` and ``du -sm --apparent-size`` count:
    files and folders, each hard-linked file once."""
    allocated = apparent = 0
    seen: set[tuple[int, int]] = set()
    for path in [folder, *folder.rglob("*")]:
        stat = path.lstat()
        if (stat.st_dev, stat.st_ino) in seen:
            continue
        seen.add((stat.st_dev, stat.st_ino))
        allocated += stat.st_blocks * 512
        apparent += stat.st_size
    return allocated / 2**20, apparent / 2**20


@dataclass(frozen=True)
class Install:
    checkout: str
    site_packages_mb: int
    apparent_mb: int
    distributions: list[str]


def install(checkout: Path, venv: Path) -> Install:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(checkout)], check=True)
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json"], check=True, capture_output=True, text=True
    )
    (site,) = venv.glob("lib/python3*/site-packages")
    allocated, apparent = site_packages_mb(site)
    names = sorted(d["name"].lower() for d in json.loads(listed.stdout))
    return Install(str(checkout), round(allocated), round(apparent), names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs="+", type=Path)
    parser.add_argument("--keep", type=Path, help="make the venvs here and leave them (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="install-size-") as scratch:
        root = args.keep or Path(scratch)
        results = []
        for i, checkout in enumerate(args.checkouts):
            result = install(checkout.resolve(), root / f"venv-{i}")
            results.append(result)
            emit(figure="base_install", **asdict(result))
    if len(results) > 1:
        first, last = results[0], results[-1]
        emit(
            figure="base_install_ratio",
            site_packages=round(last.site_packages_mb / first.site_packages_mb, 3),
            apparent=round(last.apparent_mb / first.apparent_mb, 3),
            only_first=sorted(set(first.distributions) - set(last.distributions)),
            only_last=sorted(set(last.distributions) - set(first.distributions)),
        )


if __name__ == "__main__":
    main()
