"""Reading the policy file: YAML, validated by pydantic, every refusal naming its line."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from minimaker.kernel.errors import ConfigurationError
from minimaker.policy.consistency import findings
from minimaker.policy.model import Policy

#: The policy shipped with this release; operators point MINIMAKER_POLICY_FILE at their own.
SHIPPED = Path(__file__).with_name("policy.yaml")


class PolicyRefused(ConfigurationError):
    """The policy file is malformed or inconsistent; the service does not start on it."""

    code = "policy_refused"

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"policy file {path} refused:\n  " + "\n  ".join(problems))


class LoadedPolicy:
    """A validated policy, with where it came from and its readable text."""

    def __init__(self, policy: Policy, *, path: Path, text: str, source: str) -> None:
        self.policy = policy
        self.path = path
        self.text = text  # the readable policy (policy.text_file)
        self.source = source  # the YAML as written: a published version keeps both


def _lines(node: yaml.Node, at: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Each key path of the YAML document -> its 1-based line."""
    found = {at: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            found[(*at, key.value)] = key.start_mark.line + 1
            found.update(
                {k: v for k, v in _lines(value, (*at, key.value)).items() if k != (*at, key.value)}
            )
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found.update(_lines(item, (*at, i)))
    return found


def _where(lines: dict[tuple[Any, ...], int], path: tuple[Any, ...]) -> str:
    """ "line 12 (purposes.marketing.lawful_basis)", from the nearest path the file has."""
    dotted = ".".join(str(p) for p in path) or "(top)"
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return f"line {lines[path[:n]]} ({dotted})"
    return dotted


def parse(source: str, *, path: Path) -> Policy:
    """The policy in `source`, or PolicyRefused listing every problem with its line."""
    try:
        node = yaml.compose(source)
        data = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(unknown line)"
        raise PolicyRefused(
            path, [f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})"]
        ) from None
    if node is None or not isinstance(data, dict):
        raise PolicyRefused(path, ["line 1: the file must be a mapping of policy sections"])
    lines = _lines(node)
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_where(lines, tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise PolicyRefused(path, problems) from None
    problems = [f"{_where(lines, at)}: {message}" for at, message in findings(policy)]
    if problems:
        raise PolicyRefused(path, problems)
    return policy


@cache
def load(path: Path | None = None) -> LoadedPolicy:
    """The policy at `path` (the shipped one by default), read and checked once per process."""
    file = (path or SHIPPED).resolve()
    try:
        source = file.read_text("utf-8")
    except OSError as exc:
        raise PolicyRefused(file, [f"cannot read the file ({exc.strerror})"]) from None
    policy = parse(source, path=file)
    text_path = file.parent / policy.text_file
    try:
        text = text_path.read_text("utf-8")
    except OSError:
        raise PolicyRefused(
            file, [f"text_file {policy.text_file}: cannot read {text_path}"]
        ) from None
    return LoadedPolicy(policy, path=file, text=text, source=source)
