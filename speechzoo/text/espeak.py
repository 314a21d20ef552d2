"""eSpeak NG through ctypes, from the library and data the ``espeakng-loader`` wheel ships.

The library keeps global state, so one process holds one engine; :func:`synthesize` and
:func:`text_to_ipa` are the whole interface. Phoneme events (``espeakINITIALIZE_PHONEME_EVENTS``)
come with the absolute sample index at which each phoneme starts, which the synth-en manifests
keep for TTS. :func:`text_to_ipa` asks for phonemes only (``espeak_TextToPhonemes``), without
synthesising audio: it is what the TTS text front end (:mod:`speechzoo.text.phonemes`) reads.

The libespeak-ng of ``espeakng-loader`` 0.2.4 (eSpeak NG 1.52) has no
``espeak_TextToPhonemesWithTerminator`` (Piper's patched library does), so clause-ending
punctuation is not reported here; callers that keep it split the text at punctuation first.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from dataclasses import dataclass

import numpy as np

from speechzoo.errors import ConfigError, DataError

SAMPLE_RATE = 22050  # what libespeak-ng 1.52 synthesises at

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_CHARS_UTF8 = 1
_EVENT_PHONEME = 7
_PHONEMES_IPA = 0x02  # espeakPHONEMES_IPA, no separator between phonemes, no tie bars
_PARAM = {"rate": 1, "volume": 2, "pitch": 3, "range": 4}


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p),
                ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


@dataclass
class Synthesis:
    """One synthesised utterance.

    Attributes:
        waveform: float32 samples in [-1, 1], shape (samples,).
        sample_rate: samples per second.
        phonemes: eSpeak phoneme mnemonics, in order.
        starts: the sample index at which each phoneme starts.
    """

    waveform: np.ndarray
    sample_rate: int
    phonemes: list[str]
    starts: list[int]


class _Engine:
    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as e:  # pragma: no cover - a dependency of the package
            raise DataError("espeakng-loader is not installed: "
                            "`pip install espeakng-loader`") from e
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data = espeakng_loader.get_data_path().encode()
        rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data,
                                          _INITIALIZE_PHONEME_EVENTS)
        if rate <= 0:
            raise DataError(f"eSpeak NG failed to initialise with data at {data.decode()}")
        self.sample_rate = rate
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[str, int]] = []
        self._callback = _CALLBACK(self._on_audio)  # kept alive: the library holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        # const char *espeak_TextToPhonemes(const void **textptr, int textmode, int phonememode)
        self.lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p),
                                                   ctypes.c_int, ctypes.c_int]
        self.lib.espeak_TextToPhonemes.restype = ctypes.c_char_p

    def _on_audio(self, wav, n, events) -> int:
        if n > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != 0:  # the list ends with espeakEVENT_LIST_TERMINATED
            ev = events[i]
            if ev.type == _EVENT_PHONEME:
                self.events.append((ev.id.string.decode("ascii", "replace"), ev.sample))
            i += 1
        return 0

    def synthesize(self, text: str, voice: str, rate: int, pitch: int, pitch_range: int,
                   ) -> Synthesis:
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise DataError(f"eSpeak NG has no voice {voice!r}; names look like 'en-us+f3'")
        for name, value in (("rate", rate), ("pitch", pitch), ("range", pitch_range),
                            ("volume", 100)):
            self.lib.espeak_SetParameter(_PARAM[name], int(value), 0)
        self.chunks, self.events = [], []
        buf = text.encode("utf-8") + b"\0"
        status = self.lib.espeak_Synth(buf, len(buf), 0, 0, 0, _CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()
        if status != 0:
            raise DataError(f"eSpeak NG failed (status {status}) on {text!r}")
        pcm = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)
        phonemes = [p for p, _ in self.events]
        starts = [s for _, s in self.events]  # already counted from this utterance's start
        return Synthesis(pcm.astype(np.float32) / 32768.0, self.sample_rate, phonemes, starts)

    def text_to_ipa(self, text: str, voice: str) -> list[str]:
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ConfigError(f"eSpeak NG has no voice {voice!r}; names look like 'en-us'")
        buf = ctypes.create_string_buffer(text.encode("utf-8"))  # kept alive while read
        pointer = ctypes.c_void_p(ctypes.addressof(buf))
        clauses = []
        # Each call reads one clause and moves the pointer past it; NULL means the text ended.
        while pointer.value is not None:
            ipa = self.lib.espeak_TextToPhonemes(ctypes.byref(pointer), _CHARS_UTF8,
                                                 _PHONEMES_IPA)
            if ipa:
                clauses.append(ipa.decode("utf-8"))
        return clauses


@functools.cache
def _engine() -> _Engine:
    return _Engine()


# eSpeak NG keeps one global state (voice, parameters, the callback's buffers): two threads
# in it at once corrupt its heap ("double free"), so every call holds this lock. A server
# that phonemises from several threads, or a corpus generator, is then safe.
_LOCK = threading.Lock()


def synthesize(text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50,
               pitch_range: int = 50) -> Synthesis:
    """Speak ``text`` with eSpeak NG.

    Args:
        text: what to say (plain text; eSpeak reads it as written).
        voice: a language and optional variant, e.g. ``"en-us"``, ``"en-gb-x-rp+f3"``.
        rate: words per minute (80-450).
        pitch: base pitch, 0-100.
        pitch_range: pitch variation, 0-100 (0 is monotone).
    """
    with _LOCK:
        return _engine().synthesize(text, voice, rate, pitch, pitch_range)


def text_to_ipa(text: str, voice: str = "en-us") -> list[str]:
    """eSpeak NG's IPA transcription of ``text``, one string per clause, without audio.

    Words in a clause are separated by single spaces and stress marks (ˈ ˌ) stand directly
    before the stressed vowel, e.g. ``text_to_ipa("hello world") == ["həlˈoʊ wˈɜːld"]``.
    eSpeak reads the text as written (it says digits and even emoji as words) and drops the
    punctuation between clauses.

    Args:
        text: what to transcribe.
        voice: an eSpeak NG voice, e.g. ``"en-us"`` or ``"en"`` (British).

    Raises:
        ConfigError: if eSpeak NG has no such voice.
    """
    with _LOCK:
        return _engine().text_to_ipa(text, voice)
