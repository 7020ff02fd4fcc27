"""Fixtures for integration tests. Podman fixtures build images once per session; they fail, never skip."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from podman_support import PodmanCleanup, TestImages, ensure_podman, teardown


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "podman: runs pod manifests with podman kube play (builds test images)"
    )


@pytest.fixture(scope="session")
def podman_images() -> TestImages:
    """podman installed and configured, and the executor/filer test images built (cold ~2.5 min)."""
    return ensure_podman()


@pytest.fixture
def podman_cleanup(podman_images: TestImages) -> Iterator[PodmanCleanup]:
    cleanup = PodmanCleanup()
    yield cleanup
    teardown(cleanup.pods, cleanup.volumes)
