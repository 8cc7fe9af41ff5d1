"""Names Kubernetes accepts, checked the same way by every capability (metadata names, namespaces,
backend names): RFC 1123 labels."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_LABEL = 63


def is_dns_label(value: str) -> bool:
    return len(value) <= MAX_LABEL and bool(DNS_LABEL.match(value))


def dns_label(value: str) -> str:
    """A pydantic validator: `value` if it is a DNS label, else a ValueError saying what one is."""
    if not is_dns_label(value):
        raise ValueError(
            f"{value!r} is not a valid name: lowercase letters, digits and '-', at most {MAX_LABEL} characters, "
            "starting and ending with a letter or digit"
        )
    return value


DnsLabel = Annotated[str, AfterValidator(dns_label)]
