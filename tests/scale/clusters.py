"""A Dask LocalCluster on loopback for the tests of this folder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from distributed import LocalCluster


@contextmanager
def local_cluster(*, processes: bool) -> Iterator[str]:
    """Two single-threaded workers (threads of this process, or processes of their own) on
    loopback; yields the scheduler's address."""
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=processes,
        host="127.0.0.1",
        protocol="tcp://",
        dashboard_address="127.0.0.1:0",
        scheduler_kwargs={"dashboard": False},
    ) as cluster:
        yield cluster.scheduler_address
