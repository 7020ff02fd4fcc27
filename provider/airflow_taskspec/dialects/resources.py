"""Kubernetes resources as task files write them: resource names, quantities, and the IR's ``Resources``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

from .. import ir
from ..errors import did_you_mean
from .diagnostics import ValueAt

# <number><suffix>: binary (Ki..Ei), decimal (m, k, M..E) or an exponent (e3, E-2); no sign for resources.
_QUANTITY = re.compile(r"^(?P<number>\d+(?:\.\d*)?|\.\d+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
# No quantity may be larger than this, in its base unit (Kubernetes' apimachinery caps anything above it).
LARGEST_QUANTITY = 2**63 - 1

SUFFIX_HELP = "a number with an optional unit: m, k, M, G, T, P, E or Ki, Mi, Gi, Ti, Pi, Ei (for example 500m, 4, 10G, 8Gi)"

# Resource names Kubernetes accepts without a domain prefix; anything else must look like `vendor.com/name`.
PLAIN_RESOURCE_NAMES = ("cpu", "memory", "storage", "ephemeral-storage")
GPU = "nvidia.com/gpu"
_PREFIXED_RESOURCE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_HUGEPAGES = re.compile(r"^hugepages-\d+(Ki|Mi|Gi)$")


def is_quantity(text: str) -> bool:
    return bool(_QUANTITY.match(text))


def is_too_large(text: str) -> bool:
    """Whether a quantity (``is_quantity``) is above ``LARGEST_QUANTITY``: Kubernetes would cap it silently, and
    a request that large leaves the pod pending for ever."""
    match = _QUANTITY.match(text)
    if match is None:
        return False
    number, suffix = Decimal(match["number"]), match["suffix"] or ""
    if suffix in _BINARY:
        return bool(number * 2 ** _BINARY[suffix] > LARGEST_QUANTITY)
    exponent = _DECIMAL[suffix] if suffix in _DECIMAL else int(suffix[1:])
    if number == 0:
        return False
    if number.adjusted() + exponent > 19:  # compared first, so that `1e999999999` needs no big arithmetic
        return True
    return number.scaleb(exponent) > LARGEST_QUANTITY


def is_whole_number(text: str) -> bool:
    return text.isdigit()


def check_resources(value: Mapping[str, str | None]) -> None:
    """Raise ``ValueAt`` (for a pydantic validator) at the key of the first resource Kubernetes rejects."""
    for name, quantity in value.items():
        if name not in PLAIN_RESOURCE_NAMES and not _HUGEPAGES.match(name) and not _PREFIXED_RESOURCE.match(name):
            suggestion = did_you_mean(name, PLAIN_RESOURCE_NAMES + (GPU,))
            raise ValueAt((name,), f"unknown resource '{name}'; use cpu, memory, storage, {GPU} or another "
                             f"Kubernetes resource name like vendor.com/device"
                             + (f" ({suggestion})" if suggestion else ""), key=True)
        if quantity is None or not is_quantity(str(quantity)):
            raise ValueAt((name,), f"resource '{name}': '{quantity}' is not a Kubernetes quantity; "
                          f"write {SUFFIX_HELP}", key=True)
        if is_too_large(str(quantity)):
            raise ValueAt((name,), f"resource '{name}': '{quantity}' is larger than Kubernetes allows (2^63-1 "
                          f"in its base unit); no node has that much", key=True)
        if name.endswith("/gpu") and not is_whole_number(str(quantity)):
            raise ValueAt((name,), f"resource '{name}': GPUs are whole numbers only, not '{quantity}'",
                          key=True)


def check_quantity(what: str, value: str) -> None:
    """Raise ``ValueAt`` (for a pydantic validator) at the key that holds ``value`` when it is no quantity."""
    if not is_quantity(value):
        raise ValueAt((), f"{what} '{value}' is not a Kubernetes quantity; write {SUFFIX_HELP}", key=True)
    if is_too_large(value):
        raise ValueAt((), f"{what} '{value}' is larger than Kubernetes allows (2^63-1 in its base unit)", key=True)


def to_ir(resources: Mapping[str, str]) -> ir.Resources:
    """Checked resources as the IR holds them: the usual ones by name, any other under ``extra``."""
    rest = dict(resources)
    gpu = rest.pop(GPU, None)
    return ir.Resources(cpu=rest.pop("cpu", None), memory=rest.pop("memory", None), storage=rest.pop("storage", None),
                        gpu=int(gpu) if gpu is not None else None, extra=tuple(sorted(rest.items())))
