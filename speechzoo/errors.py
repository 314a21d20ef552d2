"""One exception family, so callers can catch everything speechzoo raises on bad input.

Messages say what was wrong, where (file, line, key) and what to do about it.
"""


class SpeechZooError(Exception):
    """Base class of every error speechzoo raises on bad input or bad state."""


class AudioError(SpeechZooError, ValueError):
    """Audio that is missing, unreadable, empty or otherwise unusable."""


class ConfigError(SpeechZooError, ValueError):
    """A recipe or argument that names an unknown key or holds a bad value."""


class DataError(SpeechZooError, ValueError):
    """A corpus or manifest that is missing, malformed or inconsistent."""


class CheckpointError(SpeechZooError, ValueError):
    """A checkpoint that is missing, truncated or of an unknown kind."""


class TextError(SpeechZooError, ValueError):
    """Text that a front end cannot handle (unsupported characters, an unknown inventory)."""
