"""The domain core imports no I/O library: it must run with them blocked."""
import subprocess
import sys

BLOCKED = ["faust", "confluent_kafka", "aiokafka", "deltalake", "duckdb", "pyarrow", "mode"]

SCRIPT = f"""
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {BLOCKED!r}:
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
import unify
for m in pkgutil.walk_packages(unify.__path__, 'unify.'):
    importlib.import_module(m.name)
print('ok')
"""


def test_unify_imports_without_io_libraries():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
