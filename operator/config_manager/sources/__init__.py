"""Configuration sources: files (JSON, YAML, dotenv, properties), secrets, encrypted files, environment.

Each source is one layer for ``ConfigManager``; ``formats`` parses and renders configuration text and
``tree`` holds ``deep_merge`` and the dotted-path helpers shared with the operator.
"""

from .base import ConfigSource, DictSource, FileSource
from .encrypted import EncryptedFileSource, write_encrypted_config
from .environment import EnvironmentSecretsSource
from .files import DotenvSource, JsonSource, PropertiesSource, YamlSource
from .formats import parse, render
from .secrets_source import SecretsConfigSource
from .tree import deep_merge, get_path, set_path

__all__ = [
    "ConfigSource",
    "DictSource",
    "DotenvSource",
    "EncryptedFileSource",
    "EnvironmentSecretsSource",
    "FileSource",
    "JsonSource",
    "PropertiesSource",
    "SecretsConfigSource",
    "YamlSource",
    "deep_merge",
    "get_path",
    "parse",
    "render",
    "set_path",
    "write_encrypted_config",
]
