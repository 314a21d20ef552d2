"""speechzoo: a model zoo for speech recognition, speech synthesis and music transcription.

    import speechzoo
    speechzoo.available_models()          # {"ds2-en": "asr", ...}
    asr = speechzoo.load("ds2-en")
    asr.transcribe("a.wav")
"""

from speechzoo.errors import (
    AudioError,
    CheckpointError,
    ConfigError,
    DataError,
    SpeechZooError,
    TextError,
)
from speechzoo.pipelines import available_models, load
from speechzoo.results import Audio, Transcript, Word

__all__ = ["load", "available_models", "Audio", "Transcript", "Word", "SpeechZooError",
           "AudioError", "CheckpointError", "ConfigError", "DataError", "TextError"]
__version__ = "0.1.0"
