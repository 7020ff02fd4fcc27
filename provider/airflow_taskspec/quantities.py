"""Kubernetes resource quantities (the syntax AME's resource table documents)."""

from __future__ import annotations

import re

# <number><suffix>: binary (Ki..Ei), decimal (m, k, M..E) or an exponent (e3, E-2); no sign for resources.
_QUANTITY = re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)(?:Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")

SUFFIX_HELP = "a number with an optional unit: m, k, M, G, T, P, E or Ki, Mi, Gi, Ti, Pi, Ei (for example 500m, 4, 10G, 8Gi)"


def is_quantity(text: str) -> bool:
    return bool(_QUANTITY.match(text))


def is_whole_number(text: str) -> bool:
    return text.isdigit()
