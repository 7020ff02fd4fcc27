"""Which store a secret comes from, and (local backend) its value. The only module that reads
``SecretRef.store``: the rest asks ``is_builtin`` / ``is_vault``. Airflow is imported only to resolve values,
so the pure pod builders (``k8s_pods``) can use the predicates."""

from __future__ import annotations

from .. import ir
from ..config import Settings


def is_builtin(secret: ir.SecretRef) -> bool:
    """A secret of the platform's own store (AME's ``!ame``): a Kubernetes Secret, or an Airflow Variable."""
    return secret.store is ir.SecretStore.PLATFORM


def is_vault(secret: ir.SecretRef) -> bool:
    return secret.store is ir.SecretStore.VAULT


def resolve(secrets: tuple[ir.SecretRef, ...], settings: Settings) -> dict[str, str]:
    """Secret values for the local backend, masked in every log line from here on."""
    from airflow.sdk import Variable
    from airflow.sdk.exceptions import AirflowException
    from airflow.sdk.log import mask_secret

    values: dict[str, str] = {}
    for secret in secrets:
        if is_builtin(secret):
            name = settings.secret_variable_prefix + secret.key
            try:
                value = Variable.get(name)
            except Exception as exc:  # Variable missing: say which one to create
                raise AirflowException(
                    f"secret '{secret.key}' (for {secret.inject_as}) not found: create the Airflow Variable "
                    f"'{name}' (Admin > Variables, or `airflow variables set {name} VALUE`)"
                ) from exc
        else:
            value = _vault_secret(secret)
        mask_secret(value, secret.inject_as)
        values[secret.inject_as] = value
    return values


def _vault_secret(secret: ir.SecretRef) -> str:
    from airflow.sdk.exceptions import AirflowException

    try:
        from airflow.providers.hashicorp.hooks.vault import VaultHook
    except ImportError:
        raise AirflowException(
            f"secret {secret.inject_as} comes from Vault '{secret.vault}', but the HashiCorp provider is not "
            "installed: pip install apache-airflow-providers-hashicorp and create a Vault connection named "
            f"'{secret.vault}'"
        ) from None
    data = VaultHook(vault_conn_id=secret.vault).get_secret(secret_path=secret.key) or {}
    if "value" not in data and len(data) != 1:
        raise AirflowException(
            f"Vault secret '{secret.key}' has keys {sorted(data)}; store one key named 'value'"
        )
    return str(data.get("value", next(iter(data.values()), "")))
