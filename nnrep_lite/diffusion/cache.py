"""Disk cache of trained models and results, keyed by a hash of *all* parameters.

Location: ``$NNREP_CACHE_DIR`` if set, else ``.nnrep_cache/`` in the working directory.
Writes are atomic (a temporary file in the same folder, then ``os.replace``), so an
interrupted run or two processes writing the same key never leave a torn file.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

__all__ = ["cache_dir", "fingerprint", "cache_load", "cache_save", "cached"]


def cache_dir() -> Path:
    return Path(os.environ.get("NNREP_CACHE_DIR") or ".nnrep_cache")


def _feed(h, obj, depth: int = 0) -> None:
    if depth > 20:
        raise ValueError("fingerprint: object nesting is too deep to hash")
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    elif isinstance(obj, np.ndarray):
        h.update(f"A{obj.dtype}{obj.shape}".encode())
        h.update(np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, dict):
        h.update(b"{")
        for k in sorted(obj, key=str):
            _feed(h, str(k), depth + 1)
            _feed(h, obj[k], depth + 1)
        h.update(b"}")
    elif isinstance(obj, (list, tuple)):
        h.update(b"[" if isinstance(obj, list) else b"(")
        for v in obj:
            _feed(h, v, depth + 1)
        h.update(b"]")
    elif obj is None or isinstance(obj, (bool, int, float, str, torch.dtype, torch.device)):
        h.update(f"{type(obj).__name__}:{obj!r};".encode())
    elif callable(getattr(obj, "cache_key", None)):
        h.update(type(obj).__qualname__.encode())
        _feed(h, obj.cache_key(), depth + 1)
    elif hasattr(obj, "__dict__"):
        h.update(type(obj).__qualname__.encode())
        _feed(h, {k: v for k, v in vars(obj).items() if not k.startswith("__")}, depth + 1)
    else:
        h.update(f"{type(obj).__qualname__}:{obj!r};".encode())


def fingerprint(obj) -> str:
    """A sha256 hex digest of ``obj``: tensors by dtype, shape and bytes; dicts, lists and
    numbers by value; objects by ``cache_key()`` if they have one, else by their attributes."""
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def _path(kind: str, key: str) -> Path:
    return cache_dir() / kind / f"{key}.pt"


def cache_load(kind: str, key: str):
    """The object stored under (kind, key), or None when absent or unreadable."""
    p = _path(kind, key)
    if not p.exists():
        return None
    try:
        return torch.load(p, map_location="cpu", weights_only=False)
    except Exception:  # a foreign or corrupted file counts as a miss
        return None


def cache_save(kind: str, key: str, obj) -> Path:
    """Store ``obj`` atomically under (kind, key); returns the path."""
    p = _path(kind, key)
    p.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(obj, buf)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-", suffix=".pt")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buf.getvalue())
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return p


def cached(kind: str, params, compute, *, enabled: bool = True):
    """``compute()`` memoised on disk under ``fingerprint(params)``; returns (value, hit)."""
    if not enabled:
        return compute(), False
    key = fingerprint(params)
    hit = cache_load(kind, key)
    if hit is not None:
        return hit, True
    value = compute()
    cache_save(kind, key, value)
    return value, False
