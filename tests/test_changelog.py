"""The version follows the changes: CHANGELOG.md's newest entry is the package's version."""

import re
from pathlib import Path

import gatedrnn

ROOT = Path(__file__).resolve().parents[1]


def test_changelog_names_this_version():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    versions = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, flags=re.M)
    assert versions, "CHANGELOG.md has no '## [x.y.z] - YYYY-MM-DD' entry"
    assert versions[0] == gatedrnn.__version__
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^version = "(.+)"$', pyproject, flags=re.M).group(1) == gatedrnn.__version__
    # Newest first, each version once.
    key = [tuple(int(p) for p in v.split(".")) for v in versions]
    assert key == sorted(set(key), reverse=True)
