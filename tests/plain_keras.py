"""Run Python in a child interpreter that cannot import inat_cnn: what "plain Keras loads it" means."""

from __future__ import annotations

# Runs first in the child: any import of inat_cnn fails. `-I` and a cwd outside the repository are not enough:
# the editable install's .pth puts its own finder on sys.meta_path, so the guard goes in front of it.
ISOLATE = '''
import importlib.abc, sys

class _NoInatCnn(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "inat_cnn" or name.startswith("inat_cnn."):
            raise ImportError("inat_cnn is not importable in this test")
        return None

sys.meta_path.insert(0, _NoInatCnn())
try:
    import inat_cnn
except ImportError:
    pass
else:
    raise SystemExit("inat_cnn is importable: the isolation failed")
'''
