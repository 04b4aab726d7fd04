"""A real multi-node Ray cluster on this machine (ray.cluster_utils.Cluster: a head without CPUs and two 1-CPU
worker nodes), token-authenticated, its folder on tmpfs; one per test module."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Ray reads its authentication mode when it is first imported: these tests' process is a token-holding Ray client
# from the start (the test modules import the render tasks). The token file lives on tmpfs for the session.
FOLDER = Path("/dev/shm") / f"lrc-{secrets.token_hex(3)}"  # nosec B108: short (Ray's sockets), tmpfs
FOLDER.mkdir(mode=0o700)
TOKEN_FILE = FOLDER / "token"
TOKEN_FILE.write_text(secrets.token_hex(32))
TOKEN_FILE.chmod(0o600)
os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(TOKEN_FILE), RAY_USAGE_STATS_ENABLED="0")
os.environ.pop("RAY_AUTH_TOKEN", None)


@dataclass
class LocalCluster:
    cluster: object  # ray.cluster_utils.Cluster
    address: str
    token_file: Path
    temp_dir: Path  # the cluster's RAY_TMPDIR
    workers: list

    def add_worker(self) -> object:
        node = self.cluster.add_node(num_cpus=1)  # type: ignore[attr-defined]
        self.workers.append(node)
        return node

    def kill_worker(self, node: object) -> None:
        self.workers.remove(node)
        self.cluster.remove_node(node, allow_graceful=False)  # type: ignore[attr-defined]


def start_cluster(workers: int = 2) -> LocalCluster:
    from ray.cluster_utils import Cluster

    folder = FOLDER / secrets.token_hex(2)
    folder.mkdir(mode=0o700)
    os.environ["RAY_TMPDIR"] = str(folder)
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False, "object_spilling_directory": str(folder / "spill")})
    local = LocalCluster(cluster, cluster.address, TOKEN_FILE, folder, [])
    for _ in range(workers):
        local.add_worker()
    return local


def stop_cluster(local: LocalCluster) -> None:
    import ray

    ray.shutdown()
    local.cluster.shutdown()  # type: ignore[attr-defined]
    shutil.rmtree(local.temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[LocalCluster]:
    local = start_cluster()
    try:
        yield local
    finally:
        stop_cluster(local)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(FOLDER, ignore_errors=True)
