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
