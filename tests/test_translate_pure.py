"""etl.translate is pure: every module of it imports with the database side unavailable."""

from __future__ import annotations

import subprocess
import sys

import orjson

_IMPORT_ALL = """
import importlib, pkgutil, sys
import orjson
for name in ("sqlalchemy", "pymysql"):
    sys.modules[name] = None  # `import sqlalchemy` now raises ImportError
import etl.translate
for module in pkgutil.walk_packages(etl.translate.__path__, "etl.translate."):
    importlib.import_module(module.name)
print(orjson.dumps(sorted(name for name in sys.modules if name == "etl" or name.startswith("etl."))).decode())
"""


def test_every_translate_module_imports_without_sqlalchemy():
    done = subprocess.run([sys.executable, "-c", _IMPORT_ALL], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded = orjson.loads(done.stdout)
    assert "etl.translate.tb_trade" in loaded and "etl.translate.fields" in loaded
    # Besides translate's own modules, only pure ones: the package, the exception tree, the clock's
    # arithmetic and the keyset positions (etl.window).
    assert {name for name in loaded if not name.startswith("etl.translate")} <= {"etl", "etl.errors", "etl.clock",
                                                                                 "etl.window"}
