"""Where settings come from: names that are not settings are reported (a misspelt
`DIGEST_SMTP_PASWORD` is never silently ignored), and a bad value is blamed on the variable,
`.env` line or config file that gave it.

Unknown `DIGEST_*` environment variables are warnings: an environment is shared with other
programs and scripts. Unknown `DIGEST_*` keys in `.env` are errors: that file is ours.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import AliasChoices, BaseModel
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from digest.errors import ConfigError

PREFIX = "DIGEST_"
DELIMITER = "__"
# Read by digest itself, but not settings; DIGEST_TEST_* is left to the test suite.
NOT_SETTINGS = frozenset({"DIGEST_CONFIG"})
RESERVED_PREFIX = "DIGEST_TEST_"


def _aliases(info: FieldInfo) -> list[str]:
    alias = info.validation_alias
    choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
    return [choice.upper() for choice in choices if isinstance(choice, str)]


def _all_aliases(model: type[BaseModel]) -> set[str]:
    return {alias for info in model.model_fields.values() for alias in _aliases(info)}


def _field(model: type[BaseModel], name: str) -> FieldInfo | None:
    """The field a variable's part names (names are case-insensitive, as pydantic-settings
    reads them)."""
    wanted = name.upper()
    for field_name, info in model.model_fields.items():
        if field_name.upper() == wanted or wanted in _aliases(info):
            return info
    return None


def _nested(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """(model, keyed): the model a field holds, and whether a name comes first (a table of
    them, like newsletters.NAME)."""
    if get_origin(annotation) is dict:
        value = get_args(annotation)[1]
        return (
            (value, True)
            if isinstance(value, type) and issubclass(value, BaseModel)
            else (
                None,
                False,
            )
        )
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def is_setting(model: type[BaseModel], name: str) -> bool:
    """Whether an environment name (with its prefix) sets something in `model`."""
    upper = name.upper()
    if upper in NOT_SETTINGS or upper.startswith(RESERVED_PREFIX):
        return True
    if not upper.startswith(PREFIX):
        return upper in _all_aliases(model)
    parts = upper[len(PREFIX) :].split(DELIMITER)
    current: type[BaseModel] | None = model
    while parts and current is not None:
        info = _field(current, parts[0])
        if info is None:
            return False
        parts = parts[1:]
        if not parts:
            return True
        current, keyed = _nested(info.annotation)
        if keyed:
            parts = parts[1:]  # the table's key: any name
            if not parts:
                return True
    return False


def nearest_setting(model: type[BaseModel], name: str) -> str | None:
    """The known name closest to a misspelt one, at the depth where it stops matching."""
    upper = name.upper()
    parts = upper[len(PREFIX) :].split(DELIMITER) if upper.startswith(PREFIX) else [upper]
    prefix = PREFIX
    current: type[BaseModel] = model
    while len(parts) > 1:
        info = _field(current, parts[0])
        inner, keyed = _nested(info.annotation) if info else (None, False)
        if inner is None or (keyed and len(parts) < 3):
            break
        step = 2 if keyed else 1
        prefix += DELIMITER.join(parts[:step]) + DELIMITER
        parts, current = parts[step:], inner
    # Compared without the prefix they share, which would make everything look alike.
    candidates = [field_name.upper() for field_name in current.model_fields]
    found = difflib.get_close_matches(DELIMITER.join(parts), candidates, n=1)
    return prefix + found[0] if found else None


@dataclass
class Origins:
    """The places settings were read from, to blame a bad value on the right one."""

    config_file: Path | None
    environ: dict[str, str] = field(default_factory=dict)  # NAME (upper) -> name as set
    dotenv_file: Path | None = None
    dotenv_lines: dict[str, tuple[str, int]] = field(default_factory=dict)  # NAME -> (key, line)
    aliases: set[str] = field(default_factory=set)  # names read without the prefix

    @classmethod
    def read(
        cls,
        model: type[BaseModel],
        config_file: Path | None,
        environ: Mapping[str, str],
        dotenv_file: Path,
    ) -> Origins:
        ours = _all_aliases(model)
        names = {name.upper(): name for name in environ}
        ours_set = {upper: name for upper, name in names.items() if upper.startswith(PREFIX)}
        ours_set.update({upper: name for upper, name in names.items() if upper in ours})
        origins = cls(config_file, ours_set, aliases=ours)
        if dotenv_file.is_file():
            origins.dotenv_file = dotenv_file
            origins.dotenv_lines = _dotenv_keys(dotenv_file)
        return origins

    def blame(self, loc: tuple[str | int, ...]) -> str:
        """The variable or `.env` line that set the value at `loc` (or the nearest enclosing
        one), else the config file."""
        parts = [str(part).upper() for part in loc]
        for end in range(len(parts), 0, -1):
            joined = DELIMITER.join(parts[:end])
            for name in (PREFIX + joined, *([joined] if joined in self.aliases else [])):
                if name in self.environ:
                    return f"environment variable {self.environ[name]}"
                if name in self.dotenv_lines:
                    key, line = self.dotenv_lines[name]
                    return f"{self.dotenv_file}:{line}: {key}"
        return str(self.config_file) if self.config_file else "settings"


_DOTENV_KEY = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=")


def _dotenv_keys(path: Path) -> dict[str, tuple[str, int]]:
    """Each key of a `.env` file and its line (python-dotenv reads the values)."""
    from dotenv import dotenv_values

    read = {key.upper() for key in dotenv_values(path)}
    keys: dict[str, tuple[str, int]] = {}
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        match = _DOTENV_KEY.match(line)
        if match and match[1].upper() in read:
            keys.setdefault(match[1].upper(), (match[1], number))
    return keys


def check_names(model: type[BaseModel], origins: Origins) -> list[str]:
    """Warnings for environment variables that are not settings; raises ConfigError for such
    keys in `.env`."""
    warnings = []
    for upper, name in sorted(origins.environ.items()):
        if upper.startswith(PREFIX) and not is_setting(model, upper):
            warnings.append(f"environment variable {name} is not a setting{_hint(model, upper)}")
    errors = []
    for upper, (key, line) in sorted(origins.dotenv_lines.items(), key=lambda kv: kv[1][1]):
        where = f"{origins.dotenv_file}:{line}: {key}"
        if upper.startswith(PREFIX):
            if not is_setting(model, upper):
                errors.append(f"{where}: unknown setting{_hint(model, upper)}")
        elif not is_setting(model, upper) and is_setting(model, PREFIX + upper):
            warnings.append(f"{where} is not read: did you mean {PREFIX}{key.upper()}?")
    if errors:
        raise ConfigError("\n".join(errors))
    return warnings


def _hint(model: type[BaseModel], name: str) -> str:
    nearest = nearest_setting(model, name)
    return f"; did you mean {nearest}?" if nearest else " (ignored)"


def known_values(data: Mapping[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """`data` without the keys that are not fields of `model`, at every depth."""
    kept: dict[str, Any] = {}
    for key, value in data.items():
        info = _field(model, key)
        if info is None:
            continue
        inner, keyed = _nested(info.annotation)
        if inner is not None and isinstance(value, Mapping):
            if keyed:
                value = {
                    name: known_values(item, inner) if isinstance(item, Mapping) else item
                    for name, item in value.items()
                }
            else:
                value = known_values(value, inner)
        kept[key] = value
    return kept


class KnownValuesOnly(PydanticBaseSettingsSource):
    """An environment source without the names that are not settings: those are reported by
    `check_names` (a warning or a `.env` error), not failed on as if the config file had them."""

    def __init__(self, settings_cls: type[BaseSettings], inner: PydanticBaseSettingsSource):
        super().__init__(settings_cls)
        self.inner = inner

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.inner.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        return known_values(self.inner(), self.settings_cls)
