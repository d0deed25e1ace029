"""The configuration's error type, in a module of its own so that jobs' code (score planning in
every score job) can raise it without importing the checks and their dependencies (jsonschema)."""


class ConfigError(ValueError):
    """A configuration error; the message names the file or the config key and what was expected."""
