"""Issue 14 in the `aura trade` process: a candle file the candle rule refuses leaves its symbol out of the cycle,
and the trader says so."""

from __future__ import annotations


import pyarrow.parquet as pq

from aura_common.adapters.parquet_store import candle_path
from harness.journal import journal_rows_ro


def test_a_symbol_whose_cache_file_is_refused_is_left_out_and_said_so(trader_env, cache):
    data_dir, symbols = cache
    bad = symbols[1]
    path = candle_path(data_dir, "1d", bad)
    table = pq.read_table(path)
    close = table.column("close").to_pylist()
    close[-3] = -close[-3]  # a negative close three days before the cycle (the simulator loaded the file already)
    pq.write_table(table.set_column(table.schema.get_field_index("close"), "close", [close]), path)
    r = trader_env.trade()
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    refused = [line for line in r.stdout.splitlines() if "[DATA_REFUSED]" in line]
    assert len(refused) == 1 and f"symbol={bad}" in refused[0] and str(path) in refused[0]
    assert "non_positive_price" in refused[0] and "left_out=True" in refused[0]
    orders = trader_env.sim.orders()
    assert orders and bad not in {o["symbol"] for o in orders}  # the others were traded, the refused one not
    (fields,) = journal_rows_ro(trader_env.journal, "SELECT fields FROM events WHERE tag = 'DATA_REFUSED'")
    assert bad in fields[0]
