"""Environment variables as task files set them: valid names, and the names taskspec itself provides."""

from __future__ import annotations

import re

from .. import ir

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_name(value: str) -> str:
    """The name, or ValueError (for a pydantic validator) saying what an environment variable name may be."""
    if not _ENV_NAME.match(value):
        raise ValueError(f"'{value}' is not an environment variable name; use letters, digits and '_' "
                         "and do not start with a digit")
    return value


def is_provided(name: str) -> bool:
    """Whether taskspec sets this variable in every task, so a spec may not."""
    return name in ir.PROVIDED_ENV_VARS or name.startswith("TASKSPEC_")


PROVIDED_HINT = f"taskspec sets {', '.join(ir.PROVIDED_ENV_VARS)} and every TASKSPEC_* variable"
