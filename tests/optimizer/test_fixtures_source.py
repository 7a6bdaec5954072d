"""``aura optimize --fixtures DIR``: gzipped-JSON candles instead of the Parquet cache, the configured universe."""

from __future__ import annotations

import gzip
import json

import numpy as np
import yaml

from optimizer_helpers import make_workspace

from aura_optimizer import runner
from aura_optimizer.inputs import fingerprint


def _write_fixtures(root, panel) -> None:
    (root / "1d").mkdir(parents=True)
    for j, sym in enumerate(panel.symbols):
        rows = [[int(t), panel.open[i, j], panel.high[i, j], panel.low[i, j], panel.close[i, j], panel.volume[i, j]]
                for i, t in enumerate(panel.times) if not np.isnan(panel.close[i, j])]
        with gzip.open(root / "1d" / f"{sym[:-4]}_USDT-1d.json.gz", "wt") as fh:
            json.dump(rows, fh)


def test_fixtures_with_the_configured_universe(tmp_path, panel):
    ws = make_workspace(tmp_path, None)  # an empty Parquet cache: the data can only come from --fixtures
    fixtures = tmp_path / "fixtures"
    _write_fixtures(fixtures, panel)
    cfg = yaml.safe_load(ws.config.read_text())
    universe = [s for s in panel.symbols if s != "BTCUSDT"][:4]
    cfg["universe"] = {"symbols": universe}
    ws.config.write_text(yaml.safe_dump(cfg))
    proc = ws.aura("--space", "space.yaml", "--folds", "1", "--trials", "4", "--run-id", "f1",
                   "--fixtures", str(fixtures))
    assert proc.returncode == 0, proc.stderr
    spec = json.loads((ws.optimizer_dir / "f1" / "run.json").read_text())
    assert spec["data"]["symbols"] == sorted(universe + ["BTCUSDT"])  # the universe and the regime proxy
    assert spec["data"]["fixtures"] == str(fixtures)
    assert json.loads((ws.optimizer_dir / "f1" / "results.json").read_text())["status"] == "complete"
    # --resume and --join read the same files again (not the empty Parquet cache), and prove it by the fingerprint
    again = runner.panel_for(spec, str(ws.data_dir))
    assert fingerprint(again) == spec["data"]["fingerprint"] and again.symbols == tuple(spec["data"]["symbols"])


def test_a_fixtures_directory_without_candles_is_one_line_and_no_run(tmp_path, panel):
    ws = make_workspace(tmp_path, panel)
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = ws.aura("--space", "space.yaml", "--fixtures", str(empty), "--run-id", "x")
    assert proc.returncode == 1
    assert f"--fixtures {empty}: no daily candle files" in proc.stderr and "Traceback" not in proc.stderr
    assert not (ws.optimizer_dir / "x").exists()
