"""The layering rule is checked by a tool, not by good intentions (contracts in pyproject.toml)."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint_imports), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout, proc.stdout


CLOCK_READS = re.compile(r"\b(datetime\.now|datetime\.utcnow|date\.today|time\.time|time\.monotonic|perf_counter)\b")


def test_core_never_reads_the_clock():
    offenders = []
    for path in sorted((REPO / "shared" / "aura_common").glob("core/**/*.py")) + sorted(
            (REPO / "shared" / "aura_common").glob("domain/**/*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if CLOCK_READS.search(line.split("#")[0]):
                offenders.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert not offenders, "the core reads the clock:\n" + "\n".join(offenders)
