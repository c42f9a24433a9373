"""A user's own locustfile under the harness's window, samples and open model.

locust imports this file; it imports the user's (LADDER_OWN_LOCUSTFILE, by path) and hands its
user classes to locust as its own, each adopted by harness/load/recorder.py: its on_start counts
as signing in (the window opens a warm-up after every user's), and in the open model each of its
tasks is one arrival of the schedule. Its requests are recorded as every load's are.
"""

import importlib.util
import inspect
import os
import sys
from pathlib import Path

from locust import User

from harness.load.recorder import CeilingUser, adopt

_path = Path(os.environ["LADDER_OWN_LOCUSTFILE"]) if os.environ.get("LADDER_OWN_LOCUSTFILE") else None
__all__ = ["CeilingUser"]
if _path is not None:
    sys.path.insert(0, str(_path.parent))  # its own helpers beside it, as locust would find them
    _spec = importlib.util.spec_from_file_location("own_locustfile_module", _path)
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_module)
    _mine = os.environ.get("LADDER_MIX", "own") == "own"
    for _name, _value in vars(_module).items():
        if inspect.isclass(_value) and issubclass(_value, User) and _value.__module__ == _module.__name__ \
                and not getattr(_value, "abstract", False):
            adopt(_value)
            _value.abstract = not _mine  # the ceiling's window sends only the ceiling's request
            globals()[_name] = _value
            __all__.append(_name)
