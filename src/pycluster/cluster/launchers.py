"""Workers as batch jobs (SLURM, PBS, SGE, LSF) through dask-jobqueue's job classes.

``pycluster head --launcher slurm`` keeps its scheduler, dashboard and job queue on the
machine it runs on (a login node) and submits each worker as one batch job running
``python -m pycluster worker`` (our worker, not ``dask worker``: it reads the cluster key
from a file and retires cleanly). dask-jobqueue writes the job script (its ``#SBATCH`` /
``#PBS`` / ``#$`` / ``#BSUB`` header from cores, memory, queue, walltime, account) and runs
the submit and cancel commands; :class:`LaunchedWorkers` owns those jobs, and
:class:`~pycluster.cluster.adaptive.BatchCluster` lets Dask's ``Adaptive`` start and stop them.

The cluster key is never in the job script nor on a command line (``squeue``, ``ps`` and the
scheduler's spool show those): it is copied user-only (0600) to ``<directory>/cluster_key``
on the shared disk, and the script's first line reads it into the worker's environment.
"""

from __future__ import annotations

import getpass
import importlib
import itertools
import logging
import os
import re
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dask.utils import parse_bytes

from ..errors import ConfigError
from .secret_files import private_dir, write_secret

__all__ = ["LAUNCHERS", "LaunchedWorkers", "LauncherKind", "LauncherSettings", "job_class"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LauncherKind:
    """One batch system: its dask-jobqueue job class and the command that submits jobs."""

    name: str
    job_class: str  # in dask_jobqueue
    submit_command: str
    cancel_command: str
    tools: str  # what to install or load when the submit command is missing
    account_option: str = "account"  # what the job class calls the account (SGE, LSF: project)
    # lists this user's queued and running jobs (not finished ones), job id first on each line
    list_command: tuple[str, ...] = ("qstat", "-u", "{user}")


LAUNCHERS: dict[str, LauncherKind] = {
    k.name: k
    for k in (
        LauncherKind(
            "slurm",
            "SLURMJob",
            "sbatch",
            "scancel",
            "the SLURM client tools (apt-get install slurm-client)",
            list_command=("squeue", "-h", "-o", "%i", "-u", "{user}"),
        ),
        LauncherKind(
            "pbs", "PBSJob", "qsub", "qdel", "the PBS/Torque client tools (openpbs-client or torque-client)"
        ),
        LauncherKind(
            "sge", "SGEJob", "qsub", "qdel", "the Grid Engine client tools (gridengine-client)", "project"
        ),
        LauncherKind(
            "lsf",
            "LSFJob",
            "bsub",
            "bkill",
            "the LSF client tools (source LSF's profile.lsf)",
            "project",
            ("bjobs", "-noheader", "-u", "{user}"),
        ),
    )
}


@dataclass(frozen=True)
class LauncherSettings:
    """What each worker job asks the batch system for, and where its files go (shared disk)."""

    kind: LauncherKind
    directory: Path  # on a disk the batch nodes see too: the key copy and the job logs
    cores: int = 1
    memory: str = "2GB"
    queue: str | None = None
    walltime: str | None = None
    account: str | None = None
    job_extra: tuple[str, ...] = ()  # extra header directives, e.g. "--gres=gpu:1"
    python: str = sys.executable  # the same interpreter path must exist on the batch nodes
    poll_interval: float = 10.0  # seconds between asking the batch system which jobs still exist
    max_failures: int = 3  # jobs in a row that end before their worker joins, then no more submits

    @classmethod
    def create(
        cls,
        kind: str,
        directory: Path,
        cores: int = 1,
        memory: str = "2GB",
        queue: str | None = None,
        walltime: str | None = None,
        account: str | None = None,
        job_extra: tuple[str, ...] = (),
        python: str | None = None,
        path: str | None = None,
        poll_interval: float = 10.0,
    ) -> LauncherSettings:
        """Checked settings; ``path`` is where the submit command is looked for (default: $PATH)."""
        known = LAUNCHERS.get(kind.strip().lower())
        if known is None:
            raise ConfigError(f"unknown launcher {kind!r}: use one of {', '.join(LAUNCHERS)}")
        if shutil.which(known.submit_command, path=path) is None:
            raise ConfigError(
                f"the {known.name} launcher submits workers with {known.submit_command!r}, which is not on "
                f"PATH: run the head on a login node of the cluster, or install {known.tools}"
            )
        if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
            raise ConfigError(f"--job-cores must be a whole number >= 1, got {cores!r}")
        try:
            if parse_bytes(memory) < 2**27:
                raise ValueError
        except (ValueError, TypeError):
            raise ConfigError(
                f"--job-memory must be a size of at least 128MB such as 4GB, got {memory!r}"
            ) from None
        job_class(known)  # dask-jobqueue is installed
        seconds = poll_interval
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise ConfigError(f"poll_interval must be seconds above 0, got {poll_interval!r}")
        return cls(
            known,
            directory,
            cores,
            memory,
            queue,
            walltime,
            account,
            job_extra,
            python or sys.executable,
            float(poll_interval),
        )


# Variables never handed to a submit command: sbatch and qsub -V copy the submitter's environment
# into the job, which the batch system keeps in its spool (readable by its administrators)
SECRET_VARIABLES = ("PYCLUSTER_AUTH_KEY", "PYCLUSTER_API_TOKEN")


def _submit_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES}


def job_class(kind: LauncherKind) -> type[Any]:
    """dask-jobqueue's job class for ``kind``, whose submit and cancel commands run without the
    head's secrets in their environment; a ``ConfigError`` naming the extra without dask-jobqueue."""
    try:
        module = importlib.import_module(f"dask_jobqueue.{kind.name}")
    except ImportError:
        raise ConfigError("--launcher needs dask-jobqueue: pip install 'pycluster[batch]'") from None
    base: type[Any] = getattr(module, kind.job_class)

    async def call(cmd: list[str], **kwargs: Any) -> str:
        kwargs.setdefault("env", _submit_environment())
        return await base._call(cmd, **kwargs)  # type: ignore[no-any-return]

    return type(f"Pycluster{base.__name__}", (base,), {"_call": staticmethod(call)})


class LaunchedWorkers:
    """The batch jobs of one head, one worker each, by worker name (``<prefix>-<n>``)."""

    def __init__(
        self, settings: LauncherSettings, scheduler_address: str, key: str | None, prefix: str
    ) -> None:
        self.settings = settings
        self.scheduler_address = scheduler_address
        self.prefix = re.sub(r"[^A-Za-z0-9_.-]+", "-", prefix).strip("-") or "pycluster"  # a job name
        self.jobs: dict[str, Any] = {}  # name -> dask_jobqueue Job (its job_id once submitted)
        self._numbers = itertools.count()
        private_dir(settings.directory)
        self.log_directory = settings.directory / "logs"
        self.log_directory.mkdir(exist_ok=True, mode=0o700)
        self.failures = 0  # jobs in a row that ended before their worker joined
        self.gave_up: str | None = None  # why no more jobs are submitted (max_failures reached)
        self._polled_at = 0.0
        self.key_file: Path | None = None
        if key is not None:
            self.key_file = settings.directory / "cluster_key"
            self.key_file.unlink(missing_ok=True)  # a copy from an earlier head, maybe another key
            write_secret(self.key_file, key)

    def make_job(self, name: str | None = None) -> Any:
        """A dask-jobqueue job (not submitted) for one worker; ``job.job_script()`` shows its script."""
        s = self.settings
        name = name or f"{self.prefix}-{next(self._numbers)}"
        prologue = []
        if self.key_file is not None:
            # the key goes from the 0600 file into the worker's environment only: never in this
            # script (kept in the batch system's spool) nor on a command line
            quoted = shlex.quote(str(self.key_file))
            prologue.append(f'PYCLUSTER_AUTH_KEY="$(cat {quoted})"; export PYCLUSTER_AUTH_KEY')
        options: dict[str, Any] = {
            "scheduler": self.scheduler_address,
            "name": name,
            "cores": s.cores,
            "memory": s.memory,
            "processes": 1,
            "python": shlex.quote(s.python),
            # dask-jobqueue runs "<python> -m <worker_command> <scheduler> --name --nthreads --memory-limit"
            "worker_command": "pycluster worker",
            # no reconnecting: a worker whose head went away ends its job and frees the nodes
            "worker_extra_args": ["--nworkers", "1", "--reconnect-timeout", "0"],
            "job_script_prologue": prologue,
            "job_name": name,
            "log_directory": str(self.log_directory),
            "queue": s.queue,
            "walltime": s.walltime,
            s.kind.account_option: s.account,
            "job_extra_directives": list(s.job_extra),
            "shebang": "#!/usr/bin/env bash",
        }
        if s.kind.name == "lsf":
            options["use_stdin"] = True  # bsub reads the script from stdin
        return job_class(s.kind)(**options)

    async def launch(self, count: int) -> list[str]:
        """Submit ``count`` more worker jobs; their names (a failed submit is logged and skipped)."""
        names: list[str] = []
        if self.gave_up:
            return names
        for _ in range(count):
            job = self.make_job()
            try:
                await job.start()
            except (RuntimeError, ValueError, OSError) as exc:  # the submit command failed or said no id
                _log.warning("could not submit worker job %s: %s", job.name, exc)
                break
            _log.info("submitted worker %s as %s job %s", job.name, self.settings.kind.name, job.job_id)
            self.jobs[job.name] = job
            names.append(job.name)
        return names

    async def forget_ended(self, joined: set[str], now: float) -> list[str]:
        """Forget the jobs the batch system no longer lists whose worker never joined (failed
        at start, killed in the queue), at most every ``poll_interval`` s; their names.

        ``joined`` are the names of the workers that did join (their leaving is seen by the
        scheduler). After ``max_failures`` such jobs in a row no more jobs are submitted: a
        worker that cannot start would otherwise be resubmitted every second."""
        if now - self._polled_at < self.settings.poll_interval:
            return []
        self._polled_at = now
        if joined & set(self.jobs):
            self.failures = 0
        waiting = {n: j for n, j in self.jobs.items() if n not in joined}
        if not waiting:
            return []
        listed = await self._listed_job_ids()
        if listed is None:
            return []
        ended = [name for name, job in waiting.items() if str(job.job_id).split(".")[0] not in listed]
        for name in ended:
            job = self.jobs.pop(name)
            self.failures += 1
            _log.warning(
                "worker job %s (%s job %s) ended before its worker joined; its log: %s",
                name,
                self.settings.kind.name,
                job.job_id,
                self.log_directory,
            )
        if self.failures >= self.settings.max_failures and not self.gave_up:
            self.gave_up = (
                f"{self.failures} worker jobs in a row ended before their worker joined: no more are "
                f"submitted; see their logs in {self.log_directory}, then restart the head"
            )
            _log.error("%s", self.gave_up)
        return ended

    async def _listed_job_ids(self) -> set[str] | None:
        """The ids of this user's queued and running jobs; None when the command failed."""
        user = getpass.getuser()
        argv = [part.replace("{user}", user) for part in self.settings.kind.list_command]
        try:
            out = await job_class(self.settings.kind)._call(argv)
        except (RuntimeError, OSError) as exc:
            _log.info("could not list the batch jobs with %s: %s", argv[0], exc)
            return None
        return {line.split()[0].split(".")[0] for line in str(out).splitlines() if line.split()}

    async def cancel(self, names: list[str]) -> None:
        """Cancel the jobs of ``names`` (a job that already ended is fine) and forget them."""
        for name in names:
            job = self.jobs.pop(name, None)
            if job is not None:
                await job.close()

    async def close(self) -> None:
        """Cancel every job of this head, then remove the key copy."""
        await self.cancel(list(self.jobs))
        if self.key_file is not None:
            self.key_file.unlink(missing_ok=True)

    def job_ids(self) -> dict[str, str]:
        return {name: str(job.job_id) for name, job in self.jobs.items()}


def default_directory(state_dir: Path) -> Path:
    """Where a launcher keeps its files unless ``--launcher-dir`` says: in the head's state directory."""
    return state_dir / "launcher"
