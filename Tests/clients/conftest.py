import os

import pytest

from cluster import Cluster
from otlp_receiver import OTLPReceiver


@pytest.fixture(scope="session")
def otlp():
    """The OTLP/HTTP receiver the session cluster's roles export their spans to."""
    receiver = OTLPReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="session")
def cluster(otlp):
    """The session's cluster, traced: every role exports spans to `otlp`."""
    binary = os.environ.get("EXCHANGE_BINARY")
    assert binary and os.access(binary, os.X_OK), "set EXCHANGE_BINARY to a built `exchange` (scripts/test does)"
    cluster = Cluster(binary, trace_endpoint=otlp.endpoint)
    try:
        started = cluster.start()
    except BaseException:
        cluster.stop()  # what did start must not outlive the session
        raise
    yield started
    started.stop()


def pytest_collection_modifyitems(items):
    """test_failover runs last: it leaves the shared cluster on its standbys."""
    items.sort(key=lambda item: item.module.__name__ == "test_failover")
