"""The cache manifest: ``<data_dir>/parquet/manifest.json``, one entry per interval and symbol.

Entry fields: ``first_open_ms``, ``last_open_ms`` (candle open times), ``rows``, ``sources`` (rows per source),
``gaps`` (missing ``[start, end)`` ranges between the first cached candle and the last closed one, nobody filled
them), ``gap_candles``, ``settled`` (ranges every provider was asked for and none had: not asked again),
``updated_ms`` (last time the entry was written), and ``file_size``/``file_mtime_ns`` (the Parquet file the entry
describes: when they differ from the file on disk, the entry is stale and the file is read again).

The Parquet files are the truth; the manifest is a summary plus the ``settled`` memory. It is written atomically.
An unreadable manifest is quarantined like a corrupt cache file and rebuilt from the files.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from aura_common.adapters.parquet_store import atomic_write_bytes_via

VERSION = 1


@dataclass
class Entry:
    first_open_ms: int | None = None
    last_open_ms: int | None = None
    rows: int = 0
    sources: dict[str, int] = field(default_factory=dict)
    gaps: list[list[int]] = field(default_factory=list)
    gap_candles: int = 0
    settled: list[list[int]] = field(default_factory=list)
    updated_ms: int = 0
    file_size: int | None = None
    file_mtime_ns: int | None = None

    @classmethod
    def from_json(cls, d: dict) -> "Entry":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)

    def matches_file(self, path: Path) -> bool:
        try:
            st = os.stat(path)
        except OSError:
            return False
        return st.st_size == self.file_size and st.st_mtime_ns == self.file_mtime_ns

    def describe_file(self, path: Path) -> None:
        st = os.stat(path)
        self.file_size, self.file_mtime_ns = st.st_size, st.st_mtime_ns


class ManifestError(RuntimeError):
    pass


def manifest_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / "parquet" / "manifest.json"


@dataclass
class Manifest:
    entries: dict[str, dict[str, Entry]] = field(default_factory=dict)  # interval -> symbol -> entry
    dirty: bool = False  # changed since loaded: a pass where everything was fresh writes nothing


    def get(self, interval: str, symbol: str) -> Entry | None:
        return self.entries.get(interval, {}).get(symbol)

    def put(self, interval: str, symbol: str, entry: Entry) -> None:
        self.entries.setdefault(interval, {})[symbol] = entry
        self.dirty = True

    def drop(self, interval: str, symbol: str) -> None:
        if self.entries.get(interval, {}).pop(symbol, None) is not None:
            self.dirty = True

    def to_json(self) -> dict:
        return {"version": VERSION,
                "intervals": {iv: {s: asdict(e) for s, e in sorted(syms.items())}
                              for iv, syms in sorted(self.entries.items())}}


def load_manifest(data_dir: str | Path) -> Manifest:
    """The manifest (empty when there is none). Raises ManifestError naming the file when it is unreadable."""
    path = manifest_path(data_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Manifest()
    except OSError as exc:
        raise ManifestError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict) or doc.get("version") != VERSION:
            raise ValueError(f"unknown manifest version {doc.get('version') if isinstance(doc, dict) else '?'}")
        entries = {iv: {s: Entry.from_json(e) for s, e in syms.items()} for iv, syms in doc["intervals"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ManifestError(f"unreadable manifest {path}: {exc}") from exc
    return Manifest(entries)


def save_manifest(data_dir: str | Path, manifest: Manifest) -> Path:
    path = manifest_path(data_dir)
    data = json.dumps(manifest.to_json(), separators=(",", ":"), sort_keys=True).encode()

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)

    atomic_write_bytes_via(path, write)
    return path
