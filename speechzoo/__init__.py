"""speechzoo: a model zoo for speech recognition, speech synthesis and music transcription.

    import speechzoo
    asr = speechzoo.load("ds2-en")
    asr.transcribe("a.wav")
"""

from speechzoo.errors import (
    AudioError,
    CheckpointError,
    ConfigError,
    DataError,
    SpeechZooError,
)
from speechzoo.pipelines import SpeechRecognizer, available_models, load

__all__ = ["load", "available_models", "SpeechRecognizer", "SpeechZooError", "AudioError",
           "ConfigError", "DataError", "CheckpointError"]
__version__ = "0.1.0"
