"""What a head hands its local workers instead of each making it again (worker_entry):
their TLS leaf, and Dask's sizeof plugins. The security and the plugins must be as before."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pycluster import AuthenticationError, HeadNode
from pycluster.cluster import sizeof_plugins
from pycluster.cluster.security import NodeTLS, generate_key, node_tls

PLUGIN_MODULE = "pycluster_test_sizeof_plugin"
PLUGIN = """
class Blob:
    pass

def register(sizeof):
    @sizeof.register(Blob)
    def _(obj):
        return 123_456_789
"""


def fake_distribution(root: Path) -> Path:
    """An installed distribution (dist-info) whose only content is a ``dask.sizeof`` entry point."""
    (root / f"{PLUGIN_MODULE}.py").write_text(textwrap.dedent(PLUGIN))
    info = root / "pycluster_test_sizeof_plugin-1.0.dist-info"
    info.mkdir()
    metadata = "Metadata-Version: 2.1\nName: pycluster-test-sizeof-plugin\nVersion: 1.0\n"
    (info / "METADATA").write_text(metadata)
    (info / "entry_points.txt").write_text(f"[dask.sizeof]\nblob = {PLUGIN_MODULE}:register\n")
    return root


@pytest.fixture(scope="module")
def keyed_head_with_plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadNode]:
    """A keyed head whose environment has a sizeof plugin, with one local worker."""
    root = fake_distribution(tmp_path_factory.mktemp("site"))
    sys.path.insert(0, str(root))
    sizeof_plugins.found.cache_clear()  # this process's environment just changed
    ports = {"scheduler_port": 0, "dashboard_port": 0, "dask_dashboard_port": False}
    head = HeadNode("handover", host="127.0.0.1", services=(), **ports)
    try:
        head.start()
        head.cluster_manager.add_worker(n_workers=1, threads_per_worker=1)
        yield head
    finally:
        head.shutdown()
        sys.path.remove(str(root))
        sys.modules.pop(PLUGIN_MODULE, None)
        sizeof_plugins.found.cache_clear()


def _inside_worker() -> dict[str, Any]:
    import os

    from dask.sizeof import sizeof

    blob = __import__(PLUGIN_MODULE).Blob()
    return {
        "cryptography": "cryptography" in sys.modules,
        "tls_variable_left": "PYCLUSTER_WORKER_TLS" in os.environ,
        "blob_size": sizeof(blob),
    }


def test_keyed_local_workers_use_tls_without_deriving_the_key(keyed_head_with_plugin: HeadNode) -> None:
    client = keyed_head_with_plugin.cluster_manager.client
    seen = client.run(_inside_worker)
    assert seen and all(address.startswith("tls://") for address in seen)
    for answer in seen.values():
        # the head's leaf was used: nothing derived, so cryptography was never imported there
        assert answer["cryptography"] is False
        # and the leaf's private key is not inherited by the processes tasks start
        assert answer["tls_variable_left"] is False


def test_dask_sizeof_plugins_still_reach_the_local_workers(keyed_head_with_plugin: HeadNode) -> None:
    seen = keyed_head_with_plugin.cluster_manager.client.run(_inside_worker)
    assert [answer["blob_size"] for answer in seen.values()] == [123_456_789] * len(seen)


def test_handed_over_plugins_are_registered_without_the_scan(tmp_path: Path) -> None:
    """The plugin module is importable but no distribution announces it: only the list handed
    over can register it, and it does; an empty list registers nothing."""
    (tmp_path / f"{PLUGIN_MODULE}.py").write_text(textwrap.dedent(PLUGIN))
    script = textwrap.dedent(
        f"""
        import sys
        from pycluster.cluster.sizeof_plugins import handed_over
        with handed_over(sys.argv[1]):
            from dask.sizeof import sizeof
        from {PLUGIN_MODULE} import Blob
        print(sizeof(Blob()))
        """
    )
    sizes = []
    for handed in ('[["blob", "' + PLUGIN_MODULE + ':register"]]', "[]"):
        done = subprocess.run(
            [sys.executable, "-c", script, handed],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            check=True,
        )
        sizes.append(int(done.stdout.split()[-1]))
    assert sizes[0] == 123_456_789
    assert sizes[1] != 123_456_789  # dask's default for an object


def test_handed_over_tls_material_must_be_what_the_head_wrote() -> None:
    tls = node_tls(generate_key())
    assert NodeTLS.from_json(tls.to_json()) == tls
    assert tls.security().require_encryption
    assert "key_pem" not in repr(tls)  # never in a log line
    for broken in ("", "{}", "[1]", '{"ca_pem": "x", "cert_pem": "y", "key_pem": "z"}'):
        with pytest.raises(AuthenticationError):
            NodeTLS.from_json(broken)
