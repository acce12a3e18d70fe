"""Makes this checkout importable as ``ansible_collections.asgi.stack``, as Ansible loads it.

Plugins share code through ``plugins/plugin_utils`` and import it by the collection's name;
the unit tests load the plugins from their files, so the name must resolve to this checkout.
"""

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_root = Path(tempfile.mkdtemp(prefix="asgi-stack-unit-"))
(_root / "ansible_collections" / "asgi").mkdir(parents=True)
(_root / "ansible_collections" / "asgi" / "stack").symlink_to(ROOT)
sys.path.insert(0, str(_root))


def benchmark_row(kind, url, through, rps, protocol="http/1.1", concurrency=64) -> dict:
    """A row of the benchmark's report (plugins/module_utils/benchmark.py) with made-up figures."""
    figures = {"requests": 1, "errors": 0, "rps": rps, "p50_ms": 1.0, "p90_ms": 2.0, "p99_ms": 3.0, "max_ms": 4.0}
    return {
        "kind": kind,
        "url": url,
        "through": through,
        "protocol": protocol,
        "concurrency": concurrency,
        "figures": figures,
        "rss_mib": 80.0,
    }
