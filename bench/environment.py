"""What a bench run ran on: versions of the stack's parts and the machine, kept with its figures."""

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
import redis


def versions(redis_url: str) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in (
        "celery",
        "kombu",
        "fastapi",
        "starlette",
        "uvicorn",
        "sqlalchemy",
        "sqlmodel",
        "psycopg",
        "redis",
        "httpx",
    ):
        try:
            out[dist if dist != "redis" else "redis-py"] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "?"
    try:
        info = redis.Redis.from_url(redis_url).info("server")
        out["redis-server"] = str(info.get("redis_version"))
    except redis.RedisError:
        out["redis-server"] = "?"
    try:
        import psycopg

        from bench.stack import PG_ADMIN_URL

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=2) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            out["postgresql"] = str(row[0]).split()[0] if row else "?"
    except Exception:
        out["postgresql"] = "?"
    import sqlite3

    out["sqlite"] = sqlite3.sqlite_version
    return out


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "os": platform.platform(),
        "cpu": cpu,
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
    }
