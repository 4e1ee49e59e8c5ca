"""Configuration: load a YAML config and validate it against the project's JSON schema.

The schema (``workflow/schemas/config.schema.yaml``) is the single definition of every key; the
Snakefile and the ``maac`` command both load and validate through this module, so a misspelt
key, a wrong type or an out-of-range value fails at once with the key's dotted path.

Configs are read with :class:`ConfigLoader`, PyYAML's safe loader with two changes: a key
written twice in one mapping is an error (YAML would keep the last silently), and a number in
exponent form without a dot (``3e-3``, ``1e5``) is a float, as people write it (YAML 1.1 reads
it as a string). :func:`validate_config` also refuses NaN and infinities and checks the few
relations between keys that a wrong value would otherwise turn into silently bad features.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import yaml

from maac.errors import MaacError
from maac.textfile import read_utf8

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "config.schema.yaml"


class ConfigError(MaacError):
    """A config that does not satisfy the schema."""


class ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader that reads ``3e-3`` and ``1e5`` as floats."""


ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)


@cache
def schema() -> dict[str, Any]:
    with SCHEMA_PATH.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def _key(path: Sequence[Any]) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _duplicate_key(node: yaml.Node, path: tuple[Any, ...] = ()) -> str | None:
    """'line N: key K appears twice ...' for the first key written twice in one mapping."""
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found = _duplicate_key(item, (*path, i))
            if found:
                return found
    elif isinstance(node, yaml.MappingNode):
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            line = key_node.start_mark.line + 1
            if key is not None and key_node.tag != "tag:yaml.org,2002:merge":
                if key in lines:
                    return (f"line {line}: key {_key((*path, key))!r} appears twice (first on "
                            f"line {lines[key]}); keep one")
                lines[key] = line
            found = _duplicate_key(value_node, (*path, key))
            if found:
                return found
    return None


def _describe(error: jsonschema.ValidationError) -> str:
    path = list(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        keys = ", ".join(repr(_key([*path, e])) for e in extra)
        hint = f"; allowed here: {', '.join(allowed)}" if allowed else ""
        return f"unknown key {keys}{hint}"
    return f"key {_key(path)!r}: {error.message}"


def _values(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, value) of every leaf of a config."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from _values(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _values(value, (*path, i))
    else:
        yield path, node


def _slaney_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa/torchaudio ``mel_scale="slaney"``): linear below 1 kHz."""
    log = 15.0 + 27.0 * np.log(np.maximum(hz, 1e-9) / 1000.0) / np.log(6.4)
    return np.where(hz >= 1000.0, log, 3.0 * hz / 200.0)


def _slaney_hz(mel: np.ndarray) -> np.ndarray:
    return np.where(mel >= 15.0, 1000.0 * np.exp((mel - 15.0) * np.log(6.4) / 27.0),
                    200.0 * mel / 3.0)


def empty_mel_bands(audio: Mapping[str, Any]) -> list[int]:
    """Mel bands of the front end that weigh no FFT bin (their features would be constant).

    A triangular band weighs the bins strictly between its outer edges; the edges are
    ``n_mels + 2`` points evenly spaced on the slaney mel scale from f_min to f_max, the bins
    ``n_fft // 2 + 1`` frequencies from 0 to sample_rate // 2 (torchaudio's filter bank)."""
    edges = _slaney_hz(np.linspace(_slaney_mel(np.float64(audio["f_min"])),
                                   _slaney_mel(np.float64(audio["f_max"])), audio["n_mels"] + 2))
    bins = np.linspace(0, audio["sample_rate"] // 2, audio["n_fft"] // 2 + 1)
    inside = (bins[None, :] > edges[:-2, None]) & (bins[None, :] < edges[2:, None])
    return np.flatnonzero(~inside.any(axis=1)).tolist()


def _relations(config: Mapping[str, Any]) -> str | None:
    """The first relation between keys that the config breaks, described; None if none.

    Sections a partial config (``validate_config(only=...)``) lacks are not checked."""
    audio = config.get("audio")
    return ((audio_problem(audio) if audio else None) or _keyword_relations(config)
            or _local_relations(config))


def _local_relations(config: Mapping[str, Any]) -> str | None:
    """An official local Clotho copy is checked against the md5 sums of dataset.zenodo."""
    dataset = config.get("dataset") or {}
    local = dataset.get("local")
    if dataset.get("source") != "local" or not local or local.get("md5", "zenodo") != "zenodo":
        return None
    if "zenodo" not in dataset:
        return ("key 'dataset.local.md5': zenodo (the default) checks the folder's CSVs "
                "against dataset.zenodo.files, which is not set; add dataset.zenodo (as in "
                "config/config.yaml) or set dataset.local.md5: skip for another dataset")
    return None


def audio_problem(audio: Mapping[str, Any]) -> str | None:
    """What makes the front-end settings ``audio`` unusable (empty or cropped bands), or None."""
    nyquist = audio["sample_rate"] / 2
    if audio["f_min"] >= audio["f_max"]:
        return (f"key 'audio.f_min': {audio['f_min']} is not below audio.f_max "
                f"({audio['f_max']}); the mel bands span f_min..f_max Hz")
    if audio["f_max"] > nyquist:
        return (f"key 'audio.f_max': {audio['f_max']} Hz is above the Nyquist frequency "
                f"{nyquist:g} Hz (audio.sample_rate / 2); lower f_max or raise sample_rate")
    if audio["win_length"] > audio["n_fft"]:
        return (f"key 'audio.win_length': {audio['win_length']} is above audio.n_fft "
                f"({audio['n_fft']}); the window must fit in the FFT frame")
    if audio["hop_length"] > audio["win_length"]:
        return (f"key 'audio.hop_length': {audio['hop_length']} is above audio.win_length "
                f"({audio['win_length']}); frames would skip samples")
    empty = empty_mel_bands(audio)
    if empty:
        shown = ", ".join(str(b) for b in empty[:5]) + (", ..." if len(empty) > 5 else "")
        return (f"key 'audio.n_mels': {len(empty)} of the {audio['n_mels']} mel bands "
                f"({shown}) hold no FFT bin at n_fft {audio['n_fft']}; lower n_mels or raise "
                "n_fft")
    return None


def _keyword_relations(config: Mapping[str, Any]) -> str | None:
    if "captioner" not in config or "text" not in config:
        return None
    top, count = config["captioner"]["top_keywords"], config["text"]["keywords"]["count"]
    if top > count:
        return (f"key 'captioner.top_keywords': {top} is above text.keywords.count ({count}); "
                "the decoder attends to that many of the keywords")
    return None


def _whole_numbers(config: dict[str, Any]) -> None:
    """Integral floats where the schema asks for an integer (``resamples: 1e5``) become ints."""
    strict = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool))
    validator = jsonschema.validators.extend(
        jsonschema.Draft202012Validator, type_checker=strict)(schema())
    for error in validator.iter_errors(config):
        value = error.instance
        if (error.validator == "type" and error.validator_value == "integer"
                and isinstance(value, float) and value.is_integer()):
            *parents, last = error.absolute_path
            node = config
            for key in parents:
                node = node[key]
            node[last] = int(value)


def validate_config(config: dict[str, Any], source: str = "config",
                    only: list[str] | None = None) -> dict[str, Any]:
    """Raise ConfigError naming ``source`` and the offending key when ``config`` is invalid.

    ``only``: the top-level sections that must be present (a bundle's or a command's own), all
    of them by default."""
    for path, value in _values(config):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{source}: key {_key(path)!r}: {value} is not a finite number; "
                              "write a finite number")
    rules = schema() if only is None else {**schema(), "required": only}
    validator = jsonschema.Draft202012Validator(rules)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise ConfigError(f"{source}: {_describe(best)}")
    _whole_numbers(config)
    problem = _relations(config)
    if problem:
        raise ConfigError(f"{source}: {problem}")
    return config


def read_config(path: Path | str) -> dict[str, Any]:
    """A YAML config file's mapping, not yet validated (:class:`ConfigLoader`)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        loader = ConfigLoader(read_utf8(path, "config", ConfigError))
        try:
            node = loader.get_single_node()
            duplicate = _duplicate_key(node) if node is not None else None
            if duplicate:
                raise ConfigError(f"{path}, {duplicate}")
            config = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f", line {mark.line + 1}" if mark else ""
        what = " ".join(str(err.problem or err.context or err).split())
        raise ConfigError(f"{path}{where}: not valid YAML ({what})") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from err
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    return config


def load_config(path: Path | str) -> dict[str, Any]:
    """Read and validate a YAML config file."""
    return validate_config(read_config(path), str(path))


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> None:
    """Snakemake's merge of config files: nested mappings key by key, other values replaced."""
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = dict(value) if isinstance(value, Mapping) else value


def workflow_config(config: dict[str, Any], configfiles: Sequence[Path | str],
                    overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Snakemake's ``config`` as this module loads it, validated, replacing it in place.

    Snakemake reads the config files with YAML 1.1 (``3e-3`` a string, duplicate keys kept
    silently); re-reading them here gives rules the same values as the ``maac`` command.
    ``overrides`` are the ``--config KEY=VALUE`` pairs, applied last as Snakemake does."""
    source = ", ".join(str(p) for p in configfiles) or "config"
    merged: dict[str, Any] = {} if configfiles else dict(config)
    for path in configfiles:
        _merge(merged, read_config(path))
    _merge(merged, overrides)
    validate_config(merged, source)
    config.clear()
    config.update(merged)
    return config


def section_hash(section: Any) -> str:
    """A stable sha256 of a config section (key order does not matter)."""
    blob = json.dumps(section, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def parse_settings(settings_json: str, keys: Sequence[str]) -> dict[str, Any]:
    """The config sections a rule passes as ``--settings JSON``: a JSON object holding at
    least the top-level sections ``keys``. The one parser of ``--settings``."""
    try:
        settings = json.loads(settings_json)
    except ValueError as err:
        raise ConfigError(f"--settings: not JSON ({err})") from err
    missing = [k for k in keys if not isinstance(settings, dict) or k not in settings]
    if missing:
        raise ConfigError(f"--settings: missing section(s) {', '.join(missing)}")
    return settings


def sections(settings_json: str | None, config_path: Path | str, keys: list[str]) -> dict:
    """Config sections ``keys``: from ``--settings JSON`` (as rules pass exactly the sections
    a step depends on) or else from the config file."""
    if settings_json:
        return parse_settings(settings_json, keys)
    config = load_config(config_path)
    return {k: config[k] for k in keys}
