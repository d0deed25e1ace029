"""The score methods, one module each; each registers itself with :func:`clipcurate.scores.register`.

:func:`load_all` imports them by name, so adding a method is adding a module here (and a config
entry); a job's code version counts only the method module it runs (:mod:`clipcurate.core.codeversion`).
"""

import importlib
import pkgutil


def load_all() -> None:
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
