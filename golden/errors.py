"""Errors a user can hit when handing the project a model, checkpoint or image.

Every error names what was wrong, where (file, key, byte offset) and, where it helps, how to fix it.
They derive from `MmfreeError` so a CLI can print them without a traceback.
"""


class MmfreeError(Exception):
    """Base of every user-facing error of the project."""


class ConfigError(MmfreeError, ValueError):
    """A model configuration is missing a key, has an unknown key or a value of the wrong type/range."""


class CheckpointError(MmfreeError, ValueError):
    """A checkpoint directory or its weight file does not match the configuration or the upstream layout."""


class ImageError(MmfreeError, ValueError):
    """A model image is corrupt, truncated, of another format version, or fails its CRC."""


class PackingError(MmfreeError, ValueError):
    """A ternary matrix cannot be packed (values outside {-1, 0, +1}) or a packed stream holds an illegal code."""


def expect_type(value, kinds: type | tuple[type, ...], what: str, error: type[MmfreeError] = MmfreeError) -> None:
    """Raise `error` naming `what` when `value` is none of `kinds`: a notebook's wrong argument answered in the
    project's terms, not as an AttributeError from deep inside."""
    if not isinstance(value, kinds):
        names = " or ".join(kind.__name__ for kind in (kinds if isinstance(kinds, tuple) else (kinds,)))
        raise error(f"{what} must be a {names}, not {type(value).__name__} ({value!r:.60})")
