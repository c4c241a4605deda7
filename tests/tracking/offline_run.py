"""Read what an offline W&B run recorded, so tests can check what was logged.

W&B 0.31 writes no ``wandb-summary.json`` offline: config, summary and artifacts
live only in the run's ``run-<id>.wandb`` transaction log, read here record by record.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["read_offline_run"]


def _records(path: Path) -> Iterator[bytes]:
    """Raw records of a W&B transaction log (LevelDB log format: 32 KiB blocks, 7-byte record headers)."""
    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path} is not a W&B run file")
    block, pos, pending = 32768, 7, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # block trailer padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        pos += 7
        if kind == 0 and length == 0:  # zero padding to the end of the block
            pos += left - 7
            continue
        chunk, pos = data[pos:pos + length], pos + length
        if kind == 1:  # FULL
            yield chunk
        elif kind == 2:  # FIRST
            pending = chunk
        elif kind == 3:  # MIDDLE
            pending += chunk
        elif kind == 4:  # LAST
            yield pending + chunk
            pending = b""


def _set_nested(target: dict, keys: Sequence[str], value: Any) -> None:
    for key in keys[:-1]:
        target = target.setdefault(key, {})
        if not isinstance(target, dict):
            return
    target[keys[-1]] = value


def read_offline_run(path: str | os.PathLike) -> dict[str, Any]:
    """Config, summary and artifacts recorded in an offline (or not yet synced) W&B run.

    Parameters
    ----------
    path
        A run folder (``.../wandb/offline-run-<stamp>-<id>``), its ``run-<id>.wandb``
        file, or a directory above them: every run file found below is read, in
        time order (a resumed run's folders are merged, later values win).

    Returns
    -------
    dict
        ``id``, ``name``, ``project``, ``tags``, ``config`` (nested dict),
        ``summary`` (flat ``key -> value``, as W&B's run summary), ``artifacts``
        (``[{"name", "type", "aliases", "files"}]``) and ``exit_code`` (of the last run file;
        ``None`` if the run never finished, ``1`` for a failed job).
    """
    from wandb.proto import wandb_internal_pb2 as pb

    path = Path(path)
    if path.is_file():
        files = [path]
    else:  # skip W&B's `latest-run` link; run folders are named `<mode>-run-<stamp>-<id>`
        found = [p for p in path.rglob("run-*.wandb") if not p.parent.is_symlink()]
        files = sorted(found, key=lambda p: p.parent.name.split("-")[-2])
    if not files:
        raise FileNotFoundError(f"no W&B run file (run-*.wandb) under {path}")
    out: dict[str, Any] = {
        "id": None, "name": None, "project": None, "tags": [], "config": {}, "summary": {}, "artifacts": [], "exit_code": None,
    }

    def update(items: Any, into: dict, nested: bool) -> None:
        for item in items:
            keys = list(item.nested_key) or [item.key]
            value = json.loads(item.value_json)
            if nested:
                _set_nested(into, keys, value)
            else:
                into["/".join(keys)] = value

    for file in files:
        out["exit_code"] = None
        for raw in _records(file):
            record = pb.Record()
            record.ParseFromString(raw)
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run = record.run
                out.update(id=run.run_id, project=run.project, name=run.display_name or out["name"])
                out["tags"] = list(run.tags) or out["tags"]
                update(run.config.update, out["config"], nested=True)
            elif kind == "config":
                update(record.config.update, out["config"], nested=True)
            elif kind == "summary":
                update(record.summary.update, out["summary"], nested=False)
            elif kind == "artifact":
                art = record.artifact
                files = sorted(entry.path for entry in art.manifest.contents)
                out["artifacts"].append({"name": art.name, "type": art.type, "aliases": list(art.aliases), "files": files})
            elif kind == "exit":
                out["exit_code"] = record.exit.exit_code
    out["config"].pop("_wandb", None)
    out["summary"] = {k: v for k, v in out["summary"].items() if not k.startswith("_")}
    return out
