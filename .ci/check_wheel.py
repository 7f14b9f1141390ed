"""Check that a built wheel holds exactly the package's files: every module and every data file
(the bundled example databases among them), and nothing stale from an earlier build.

Usage: python .ci/check_wheel.py dist/clavadb-*.whl
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

PACKAGE = "clavadb"


def package_files() -> set[str]:
    """Files under the package that git tracks or would track (untracked but not ignored)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", PACKAGE],
        check=True, capture_output=True, text=True,
    ).stdout
    return {line for line in out.splitlines() if line and Path(line).is_file()}


def wheel_files(wheel: str) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return {name for name in zf.namelist() if name.startswith(PACKAGE + "/")}


def main(wheel: str) -> int:
    want, have = package_files(), wheel_files(wheel)
    missing, extra = sorted(want - have), sorted(have - want)
    for name in missing:
        print(f"missing from the wheel: {name}")
    for name in extra:
        print(f"in the wheel but not in the source tree: {name}")
    if missing or extra:
        return 1
    print(f"{wheel}: all {len(want)} package files, nothing else")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
