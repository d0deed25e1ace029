"""clipcurate: the library behind the workflow. Every piece of logic lives here; rules only wire it."""

__version__ = "0.1.0"
