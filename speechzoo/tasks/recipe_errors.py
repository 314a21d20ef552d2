"""Bad recipe keys and values, explained in one line: which key, in which file (or on the
command line), and the nearest valid keys, in place of jsonargparse's many-line report and
usage text."""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import yaml
from jsonargparse import ArgumentError

COMMANDS = {"fit": "train", "validate": "validate", "test": "test"}  # speechzoo's names

_NOISE_LINE = re.compile(r"(- )?(Expected a <class 'NoneType'>|Does not validate against|"
                         r"Subtypes:|Errors:|Given value|Not a valid subclass|Subclass types|"
                         r"- a (class path|dict))")


def _init_params(class_path: str | None) -> list[str]:
    """The constructor arguments of a class, with those its ``**kwargs`` pass on to a base."""
    if not class_path:
        return []
    module, _, name = class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return []
    names: list[str] = []
    for klass in inspect.getmro(cls):
        params = inspect.signature(klass.__init__).parameters.values()
        names += [p.name for p in params if p.name != "self" and p.kind not in
                  (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in names]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return names


def _ancestors(lines: list[str], index: int) -> list[str]:
    """The lines that the (indented) line at ``index`` hangs under, outermost first."""
    chain, indent = [], len(lines[index]) - len(lines[index].lstrip())
    for line in reversed(lines[:index]):
        depth = len(line) - len(line.lstrip())
        if line.strip() and depth < indent:
            chain.append(line.strip().removeprefix("- "))
            indent = depth
    return chain[::-1]


def _nested_key(message: str) -> tuple[str, str | None, str] | None:
    """(dotted key, class it belongs to, what is wrong) from a 'Parser key "..."' tree."""
    lines = [line for line in message.splitlines() if line.strip()]
    leaf = next((i for i, line in enumerate(lines) if i and not _NOISE_LINE.match(line.strip())
                 and not re.match(r'(- )?(Parser key|Problem with given class_path)',
                                  line.strip())), None)
    if leaf is None:
        return None
    path, cls = [], None
    for line in _ancestors(lines, leaf):
        if m := re.match(r'Parser key "([\w.]+)"', line):
            path.append(m.group(1))
        elif m := re.match(r"Problem with given class_path '([\w.]+)'", line):
            path.append("init_args")
            cls = m.group(1)
    problem = lines[leaf].strip().removeprefix("- ")
    if m := re.match(r"Option '(\w+)' is not accepted", problem):
        return ".".join([*path, m.group(1)]), cls, "unknown"
    return ".".join(path), cls, problem


def _flat_key(key: str, dests: list[str]) -> tuple[str, list[str]]:
    """The first unknown part of a dotted key and the valid names at its level."""
    parts = key.split(".")
    for level, part in enumerate(parts):
        names = sorted({d.split(".")[level] for d in dests
                        if d.split(".")[:level] == parts[:level] and d.count(".") >= level})
        if part not in names:
            return part, names
    return parts[-1], []


def _has_key(tree: Any, parts: list[str]) -> bool:
    if not parts:
        return True
    if isinstance(tree, list):
        return any(_has_key(item, parts) for item in tree)
    if not isinstance(tree, dict):
        return False
    if parts[0] in tree:
        return _has_key(tree[parts[0]], parts[1:])
    return parts[0] == "init_args" and _has_key(tree, parts[1:])  # `--model.lr` form


def _config_files(recipe: Path, overrides: list[str]) -> list[Path]:
    files = [recipe]
    for i, arg in enumerate(overrides):
        if arg in ("--config", "-c") and i + 1 < len(overrides):
            files.append(Path(overrides[i + 1]))
        elif arg.startswith("--config="):
            files.append(Path(arg.partition("=")[2]))
    return files


def _where(key: str, from_command_line: bool, recipe: Path, overrides: list[str]) -> str:
    if not from_command_line:
        for file in reversed(_config_files(recipe, overrides)):
            try:
                tree = yaml.safe_load(file.read_text())
            except (OSError, yaml.YAMLError):
                continue
            if _has_key(tree, key.split(".")):
                return f"recipe {file}"
    return "on the command line" if from_command_line else f"recipe {recipe}"


def explain_argument_error(error: ArgumentError, recipe: Path, overrides: list[str],
                           subcommand: str | None, dests: list[str]) -> str:
    """One line for a bad recipe key or value: which key, where, and the nearest valid keys."""
    message = str(error).split("\nusage:")[0].strip()
    on_line = bool(re.search(r"unrecognized arguments|Given value type: <class '(jsonargparse"
                             r"\._util\.NestedArg|str)'>", message))
    flat = (re.search(r"does not accept option '([\w.]+)'", message)
            or re.search(r"unrecognized arguments: (?:\w+ )?--([\w.]+)", message))
    nested = None if flat else _nested_key(message)
    command = f"speechzoo {COMMANDS.get(subcommand or 'fit')} {recipe} --help lists every key"
    if flat:
        key = flat.group(1)
        bad, valid = _flat_key(key, dests)
    elif nested and nested[2] == "unknown":
        key, bad, valid = nested[0], nested[0].rpartition(".")[2], _init_params(nested[1])
    elif nested:
        where = _where(nested[0], on_line, recipe, overrides)
        return f"{where}: {nested[0]}: {nested[2]} ({command})"
    else:
        return f"recipe {recipe}: {' '.join(message.split())} ({command})"
    where = _where(key, on_line, recipe, overrides)
    shown = f"--{key}" if where == "on the command line" else key
    close = difflib.get_close_matches(bad, valid, n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return f"{where}: unknown key {shown}{hint} ({command})"
