"""Configuration: load a YAML config and validate it against the project's JSON schema.

The schema (``workflow/schemas/config.schema.yaml``) is the single definition of every key; the
Snakefile and the ``maac`` command both validate through :func:`validate_config`, so a misspelt
key, a wrong type or an out-of-range value fails at once with the key's dotted path.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from maac.errors import MaacError

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "config.schema.yaml"


class ConfigError(MaacError):
    """A config that does not satisfy the schema."""


@cache
def schema() -> dict[str, Any]:
    with SCHEMA_PATH.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def _key(path: list[Any]) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    path = list(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        keys = ", ".join(repr(_key([*path, e])) for e in extra)
        hint = f"; allowed here: {', '.join(allowed)}" if allowed else ""
        return f"unknown key {keys}{hint}"
    if error.validator == "required":
        return f"key {_key(path)!r}: {error.message}"
    return f"key {_key(path)!r}: {error.message}"


def validate_config(config: dict[str, Any], source: str = "config",
                    only: list[str] | None = None) -> dict[str, Any]:
    """Raise ConfigError naming ``source`` and the offending key when ``config`` is invalid.

    ``only``: the top-level sections that must be present (a bundle's or a command's own), all
    of them by default."""
    rules = schema() if only is None else {**schema(), "required": only}
    validator = jsonschema.Draft202012Validator(rules)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise ConfigError(f"{source}: {_describe(best)}")
    return config


def load_config(path: Path | str) -> dict[str, Any]:
    """Read and validate a YAML config file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        with path.open(encoding="utf-8") as f:
            config = yaml.safe_load(f)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    return validate_config(config, str(path))


def section_hash(section: Any) -> str:
    """A stable sha256 of a config section (key order does not matter)."""
    blob = json.dumps(section, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def sections(settings_json: str | None, config_path: Path | str, keys: list[str]) -> dict:
    """Config sections ``keys``: from ``--settings JSON`` (as rules pass exactly the sections
    a step depends on) or else from the config file."""
    if settings_json:
        try:
            settings = json.loads(settings_json)
        except ValueError as err:
            raise ConfigError(f"--settings: not JSON ({err})") from err
        missing = [k for k in keys if not isinstance(settings, dict) or k not in settings]
        if missing:
            raise ConfigError(f"--settings: missing section(s) {', '.join(missing)}")
        return settings
    config = load_config(config_path)
    return {k: config[k] for k in keys}
