"""A real single-node SLURM cluster for tests: munged, slurmctld and slurmd on this machine.

Everything lives in one temporary folder (its own munge key and socket, slurm.conf, state
and spool), on free loopback ports, so nothing of the machine's own configuration is used
or changed. The node is described with this machine's real cores and memory (``slurmd -C``).
Debian's ``slurm-wlm`` and ``munge`` packages provide the daemons; they run as root (as
every slurmd does), in the foreground, as children of the test, stopped by PID.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")


def why_not_available() -> str | None:
    """Why a SLURM cluster cannot be started here, or None when it can."""
    missing = [d for d in DAEMONS if shutil.which(d) is None and not Path("/usr/sbin", d).exists()]
    if missing:
        return f"SLURM is not installed ({', '.join(missing)} missing): apt-get install slurm-wlm munge"
    if os.geteuid() != 0:
        return "slurmd must run as root to start jobs as their user; this test runs as a normal user"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _daemon(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


class SlurmCluster:
    """Start with :meth:`start`, stop with :meth:`stop`; ``env`` points SLURM's commands at it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.node = socket.gethostname().split(".")[0]
        self.conf = root / "slurm.conf"
        self.munge_socket = root / "munge" / "munge.socket"
        self.state = root / "state"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    def _hardware(self) -> tuple[int, int]:
        """This node's CPUs and memory (MB) as slurmd itself sees them."""
        out = subprocess.run([_daemon("slurmd"), "-C"], capture_output=True, text=True, timeout=30).stdout
        cpus = re.search(r"CPUs=(\d+)", out)
        memory = re.search(r"RealMemory=(\d+)", out)
        if not cpus or not memory:
            raise RuntimeError(f"slurmd -C did not describe this node: {out!r}")
        return int(cpus.group(1)), int(memory.group(1))

    def _write_config(self) -> None:
        cpus, memory = self._hardware()
        self.conf.write_text(
            f"""ClusterName=pycluster-test
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
CredType=cred/munge
StateSaveLocation={self.state}
SlurmdSpoolDir={self.root / "spool"}
SlurmctldPidFile={self.root / "slurmctld.pid"}
SlurmdPidFile={self.root / "slurmd.pid"}
SlurmctldLogFile={self.root / "log" / "slurmctld.log"}
SlurmdLogFile={self.root / "log" / "slurmd.log"}
# no cgroups: a container may not delegate them, and one node needs no confinement
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
MessageTimeout=10
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
"""
        )

    def start(self, timeout: float = 60.0) -> None:
        for folder in ("munge", "state", "spool", "log"):
            (self.root / folder).mkdir(parents=True, exist_ok=True, mode=0o700)
        self.root.chmod(0o711)  # munged wants the folders above its socket searchable by all
        (self.root / "munge").chmod(0o711)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        self._write_config()
        logs = open(self.root / "log" / "daemons.log", "ab")  # noqa: SIM115 - the daemons' lifetime
        munge = self.root / "munge"
        self._spawn(
            [
                _daemon("munged"),
                "--foreground",
                "--force",  # as root, and with the key in a folder of our own
                f"--key-file={key}",
                f"--socket={self.munge_socket}",
                f"--pid-file={munge / 'munged.pid'}",
                f"--log-file={munge / 'munged.log'}",
                f"--seed-file={munge / 'munged.seed'}",
            ],
            logs,
        )
        self._wait(lambda: self.munge_socket.exists(), timeout, "munged's socket")
        self._spawn([_daemon("slurmctld"), "-D", "-i"], logs)
        self._spawn([_daemon("slurmd"), "-D", "-N", self.node], logs)
        self._wait(self._node_idle, timeout, "the node to be idle in sinfo")

    def _spawn(self, argv: list[str], logs: object) -> None:
        self.processes.append(
            subprocess.Popen(
                argv, env=self.env, stdout=logs, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )  # type: ignore[arg-type]
        )

    def _wait(self, condition: object, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():  # type: ignore[operator]
            for p in self.processes:
                if p.poll() is not None:
                    raise RuntimeError(
                        f"{p.args[0]} exited ({p.returncode}) waiting for {what}:\n{self.logs()}"
                    )
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}:\n{self.logs()}")
            time.sleep(0.2)

    def _node_idle(self) -> bool:
        return self.run("sinfo", "-h", "-N", "-o", "%T").strip() == "idle"

    def run(self, *argv: str) -> str:
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=30)
        return done.stdout

    def jobs(self) -> list[tuple[str, str, str]]:
        """(job id, name, state) of every job SLURM still knows as queued or running."""
        out = self.run("squeue", "-h", "-o", "%i|%j|%T")
        return [tuple(line.split("|")) for line in out.splitlines() if line.strip()]  # type: ignore[misc]

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted((self.root / "log").glob("*.log"))
        )

    def stop(self) -> None:
        if self.processes and self.processes[-1].poll() is None:
            self.run("scancel", "--full", "--user", str(os.geteuid()))
            deadline = time.monotonic() + 15
            while self.jobs() and time.monotonic() < deadline:
                time.sleep(0.2)
        for p in reversed(self.processes):  # slurmd, slurmctld, then munged
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
        self.processes.clear()
