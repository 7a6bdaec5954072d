"""Shell adapters: journal (SQLite), Parquet store, brokers (ccxt, paper), clock, metrics, logging."""
