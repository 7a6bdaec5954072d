"""The diagnostic tag contract (docs/log-tags.md) against the code: every tag the code logs -
``event(logger, "TAG", ...)`` or a literal ``"[TAG] k=%s ..."`` - has a row in the document's tables, with every
field it emits; the permanent tags (an operator contract) document exactly the fields emitted.

The tags and their fields are read from the source with ``ast`` (keyword arguments, ``**fields`` built in the same
function as a ``dict(...)`` / ``{...}`` plus ``fields["k"] = ...``, module-level ``TAG = "..."`` constants)."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CODE = [REPO / "shared", REPO / "services"]
LITERAL = re.compile(r"^\[([A-Z][A-Z0-9_]*)\] ")
TAG_DOC = REPO / "docs" / "log-tags.md"
PERMANENT = {"BOOT", "RISK_TICK", "SL_CHECK", "SYNC_GUARD", "ENTRY_RECOVER"}
NOT_FIELDS = {"level"}  # event()'s own keyword


def _str(node: ast.AST, consts: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return consts.get(node.id)
    return None


def _dict_keys(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Dict):
        return {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        return {k.arg for k in node.keywords if k.arg}
    return set()


def _built_fields(func: ast.AST, name: str) -> set[str]:
    """Keys of a dict named ``name`` built in ``func``: its literal / dict(...) and ``name["k"] = ...``."""
    keys: set[str] = set()
    for node in ast.walk(func):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == name:
                    keys |= _dict_keys(node.value)
                elif (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)
                      and target.value.id == name and isinstance(target.slice, ast.Constant)):
                    keys.add(target.slice.value)
    return keys


@functools.cache
def emitted_tags() -> dict[str, dict[str, set[str]]]:
    """tag -> {file: fields} for every tag logged under shared/ and services/."""
    out: dict[str, dict[str, set[str]]] = {}
    for root in CODE:
        for path in sorted(root.rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            consts = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                      and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
                      for t in n.targets if isinstance(t, ast.Name)}
            funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
            for func in funcs or [tree]:
                for call in ast.walk(func):
                    if not isinstance(call, ast.Call):
                        continue
                    fn = call.func
                    name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
                    tag, fields = None, set()
                    if name == "event" and len(call.args) >= 2:
                        tag = _str(call.args[1], consts)
                        for kw in call.keywords:
                            if kw.arg is not None:
                                fields.add(kw.arg)
                            elif isinstance(kw.value, ast.Name):
                                fields |= _built_fields(func, kw.value.id)
                            else:
                                fields |= _dict_keys(kw.value)
                    elif call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
                        m = LITERAL.match(call.args[0].value)
                        if m and name in ("debug", "info", "warning", "error", "critical", "exception", "log"):
                            tag, fields = m.group(1), set(re.findall(r"(\w+)=", call.args[0].value))
                    if tag and re.fullmatch(r"[A-Z][A-Z0-9_]*", tag):
                        rel = str(path.relative_to(REPO))
                        out.setdefault(tag, {}).setdefault(rel, set()).update(fields - NOT_FIELDS)
    return out


@functools.cache
def documented_tags() -> dict[str, set[str]]:
    """tag -> documented fields, from the tables of docs/log-tags.md. Fields are the words in backticks
    of the ``fields`` column; a parenthesised note lists values (dropped) unless it starts with ``+`` (optional
    fields, kept)."""
    text = TAG_DOC.read_text()
    out: dict[str, set[str]] = {}
    header: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = [c.lower() for c in cells]
            continue
        if set(line) <= set("|-: "):
            continue
        row = dict(zip(header, cells))
        m = re.fullmatch(r"`\[([A-Z][A-Z0-9_]*)\]`", row.get("tag", ""))
        assert m, f"docs/log-tags.md tag table: bad tag cell in {line!r}"
        assert m.group(1) not in out, f"docs/log-tags.md documents [{m.group(1)}] twice"
        cell = re.sub(r"\((?!\+)[^)]*\)", "", row.get("fields", ""))
        words = " ".join(re.findall(r"`([^`]*)`", cell)).split()
        out[m.group(1)] = {w for w in words if re.fullmatch(r"[a-z_][a-z0-9_]*", w)}
    return out


def test_the_extractor_sees_the_permanent_tags_with_their_fields():
    tags = emitted_tags()
    assert PERMANENT <= set(tags)
    boot = set().union(*tags["BOOT"].values())
    assert {"version", "mode", "config_version", "reconcile", "reason"} <= boot  # dict(...) + fields["reason"]
    assert "error" in set().union(*tags["SYNC_GUARD"].values())  # fields["error"] = ... in the same function
    assert {"point", "n", "pid"} <= set().union(*tags["CRASH_HOOK"].values())  # a literal "[CRASH_HOOK] ..." line


def test_every_tag_the_code_logs_is_documented_with_its_fields():
    documented = documented_tags()
    problems = []
    for tag, where in sorted(emitted_tags().items()):
        if tag not in documented:
            problems.append(f"[{tag}] ({', '.join(sorted(where))}) is not documented")
            continue
        for path, fields in sorted(where.items()):
            missing = fields - documented[tag]
            if missing:
                problems.append(f"[{tag}] in {path} emits undocumented fields {sorted(missing)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("tag", sorted(PERMANENT))
def test_a_permanent_tag_documents_exactly_what_it_emits(tag):
    emitted = set().union(*emitted_tags()[tag].values())
    assert documented_tags()[tag] == emitted


def test_nothing_documented_is_gone_from_the_code():
    assert set(documented_tags()) <= set(emitted_tags())
