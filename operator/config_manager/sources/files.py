"""Plain configuration files by format: JSON, YAML, dotenv, Java properties."""

from __future__ import annotations

from .base import FileSource


class JsonSource(FileSource):
    """A JSON file whose top level is an object."""

    default_format = "json"


class YamlSource(FileSource):
    """A YAML file whose top level is a mapping (an empty file is an empty layer)."""

    default_format = "yaml"


class DotenvSource(FileSource):
    """A ``.env`` file, as a flat layer of NAME → value."""

    default_format = "env"


class PropertiesSource(FileSource):
    """A Java ``.properties`` file, nested on dots."""

    default_format = "properties"
