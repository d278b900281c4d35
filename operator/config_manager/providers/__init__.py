"""Secret backends behind one interface (``base.SecretProvider``), created by name via ``registry``."""

from .base import MASK, FindCriteria, FindLimitError, SecretProvider, SecretValue
from .registry import create, provider_types, register

__all__ = ["MASK", "FindCriteria", "FindLimitError", "SecretProvider", "SecretValue", "create", "provider_types", "register"]
