"""taskspec: an Airflow provider that compiles AME / PEACH task files into DAGs."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def get_provider_info() -> dict[str, Any]:
    """Entry point `apache_airflow_provider`: what Airflow's providers manager shows and configures."""
    from .config import provider_config_section

    return {
        "package-name": "airflow-provider-taskspec",
        "name": "taskspec",
        "description": "Compile AME and PEACH task definitions into Airflow DAGs that run as Kubernetes pods "
        "or on the local machine.",
        "versions": [__version__],
        "config": provider_config_section(),
        "extra-links": [
            "airflow_taskspec.backends.links.StepOutputsLink",
            "airflow_taskspec.backends.links.StepArtifactStoreLink",
        ],
    }
