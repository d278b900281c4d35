"""Secrets above the providers: ``SecretsManager`` and its parts (cache, stats, audit, rotation, generators).

``SecretValue`` is defined with the providers (they create it) and re-exported here.
"""

from ..providers.base import SecretValue
from .audit import AuditEvent, AuditTrail
from .generators import (
    generator_from_spec,
    hex_token,
    password,
    register_generator,
    urlsafe_token,
    uuid4,
)
from .manager import SecretsManager
from .rotation import RotationJob, RotationSchedule

__all__ = [
    "AuditEvent",
    "AuditTrail",
    "RotationJob",
    "RotationSchedule",
    "SecretValue",
    "SecretsManager",
    "generator_from_spec",
    "hex_token",
    "password",
    "register_generator",
    "urlsafe_token",
    "uuid4",
]
