"""The speechzoo web demo (Gradio), built on the public API only: ``speechzoo.load``,
``available_models``, the result types and ``speechzoo.plots``.

Tabs: speech recognition (upload or microphone; greedy or beam search; word times on the
waveform), text to speech (model, vocoder, pace, and pitch for models that take it; the
phoneme durations plotted), pronunciation (a G2P bundle: words -> ARPAbet and IPA, from
CMUdict or the network) and piano transcription (piano roll, MIDI download, a synthesised
preview). A tab shows once a bundle of its task is installed.

It runs offline: it binds 127.0.0.1 unless told otherwise, sends no analytics, makes no share
link and loads no fonts or scripts from the network. Models load on first use and stay
loaded. Every bad input (not audio, silence, no text, too long) is answered by a message in
the page.

    speechzoo demo [--port 7860] [--host 127.0.0.1]
    python demos/app.py
"""

from __future__ import annotations

import functools
import inspect
import os
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # read when gradio is imported

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

import speechzoo  # noqa: E402
from speechzoo import plots  # noqa: E402
from speechzoo.text.lexicon import lexicon  # noqa: E402

MAX_UPLOAD_MB = 50
MAX_AUDIO_SECONDS = 600.0
MAX_CHARACTERS = 1000
MAX_WORDS = 100
GRIFFIN_LIM = "griffin-lim"
PIANO_FPS = 16000 / 512  # Onsets and Frames' frame rate (16 kHz audio, hop 512)
# System fonts only: a theme's web fonts would be fetched from the network.
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "Consolas", "monospace"])
DEVICE: str | None = None  # set by launch()
PROGRESS = gr.Progress(track_tqdm=True)  # Gradio fills in a handler's progress argument


def _bundles(task: str) -> list[str]:
    return sorted(n for n, t in speechzoo.available_models().items() if t == task)


@functools.lru_cache(maxsize=8)
def _model(name: str, vocoder: str | None = None) -> Any:
    """A loaded model, kept for later requests."""
    try:
        return speechzoo.load(name, device=DEVICE, **({"vocoder": vocoder} if vocoder else {}))
    except speechzoo.SpeechZooError as e:
        raise gr.Error(f"Cannot load {name}: {e}") from None


def _read_audio(path: str | None) -> tuple[np.ndarray, int]:
    """An uploaded or recorded file -> ((samples,) float32 mono, rate), or a message."""
    if not path:
        raise gr.Error("Upload a recording (or record one with the microphone) first.")
    megabytes = os.path.getsize(path) / 2**20
    if megabytes > MAX_UPLOAD_MB:
        raise gr.Error(f"The file is {megabytes:.0f} MB; the demo takes at most "
                       f"{MAX_UPLOAD_MB} MB.")
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError):
        raise gr.Error(f"{Path(path).name} is not an audio file this demo reads: upload WAV, "
                       "FLAC, OGG or MP3.") from None
    if info.frames / max(info.samplerate, 1) > MAX_AUDIO_SECONDS:
        raise gr.Error(f"The recording is {info.frames / info.samplerate / 60:.0f} minutes "
                       f"long; the demo takes at most {MAX_AUDIO_SECONDS / 60:.0f} minutes "
                       "(the Python API and `speechzoo transcribe` take any length).")
    wav, rate = sf.read(path, dtype="float32", always_2d=True)
    if len(wav) == 0:
        raise gr.Error("The audio file holds no samples.")
    return wav.mean(axis=1), int(rate)


def waveform_figure(wav: np.ndarray, rate: int, words: list[speechzoo.Word]) -> Any:
    """The waveform over time with each recognised word's span shaded and labelled."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 2.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    step = max(1, len(wav) // 20000)  # enough points for the eye
    ax.plot(np.arange(0, len(wav), step) / rate, wav[::step], lw=0.5, color="0.35")
    top = max(float(np.abs(wav).max()), 1e-3)
    for i, w in enumerate(words):
        ax.axvspan(w.start, w.end, color=f"C{i % 2}", alpha=0.25)
        ax.text((w.start + w.end) / 2, top * (1.05 if i % 2 else 1.25), w.text,
                ha="center", fontsize=8)
    ax.set_ylim(-top * 1.1, top * 1.45)
    ax.set_xlim(0, len(wav) / rate)
    ax.set_xlabel("time (s)")
    ax.set_yticks([])
    return fig


def transcribe(path: str | None, name: str, decoder: str,
               progress: gr.Progress = PROGRESS) -> tuple:
    """ASR tab: (transcript, waveform figure, word table)."""
    wav, rate = _read_audio(path)
    if float(np.abs(wav).max()) < 1e-4:
        gr.Warning("The recording is silent: there is nothing to transcribe.")
        return "", waveform_figure(wav, rate, []), []
    progress(0.05, desc=f"loading {name}")
    asr = _model(name)
    try:
        t = asr.transcribe(wav, sample_rate=rate, timestamps=True, decoder=decoder,
                           progress=True)
    except speechzoo.SpeechZooError as e:
        raise gr.Error(str(e)) from None
    if not t.text:
        gr.Warning("No speech was recognised.")
    return (t.text, waveform_figure(wav, rate, t.words),
            [[w.text, w.start, w.end] for w in t.words])


def _pcm16(wav: np.ndarray) -> np.ndarray:
    """Samples as 16-bit integers, the WAV the page plays."""
    return (np.clip(wav, -1.0, 1.0) * 32767).astype(np.int16)


def _takes(name: str, option: str) -> bool:
    """Whether the synthesiser ``name``'s ``synthesize`` takes ``option``."""
    return option in inspect.signature(_model(name).synthesize).parameters


def _takes_vocoder(name: str) -> bool:
    return speechzoo.available_models().get(name) == "tts"


def synthesis_controls(name: str) -> tuple[dict, dict]:
    """The pitch slider for models that shift pitch (Deep Voice), the vocoder choice for
    text-to-mel models (Deep Voice makes its own waveform)."""
    return (gr.update(visible=bool(name) and _takes(name, "pitch")),
            gr.update(visible=bool(name) and _takes_vocoder(name)))


def speak(text: str, name: str, vocoder: str, pace: float, pitch: float,
          progress: gr.Progress = PROGRESS) -> tuple:
    """TTS tab: ((rate, samples), durations figure)."""
    if not text or not text.strip():
        raise gr.Error("Type some text to speak.")
    if len(text) > MAX_CHARACTERS:
        raise gr.Error(f"{len(text)} characters; the demo speaks at most {MAX_CHARACTERS} at "
                       "a time.")
    own = vocoder == GRIFFIN_LIM or not _takes_vocoder(name)
    progress(0.05, desc=f"loading {name}" + ("" if own else f" with {vocoder}"))
    tts = _model(name, None if own else vocoder)
    options = {"pitch": pitch} if _takes(name, "pitch") else {}
    if _takes(name, "progress"):
        options["progress"] = True  # sample by sample: the bar tracks its samples
    progress(0.2, desc="synthesising")
    try:
        audio, alignment = tts.synthesize(text, pace=pace, alignment=True, **options)
    except speechzoo.SpeechZooError as e:
        raise gr.Error(str(e)) from None
    tokens = [p for sentence in alignment.phonemes for p in sentence]
    fig = plots.durations_figure(np.concatenate(alignment.durations), tokens=tokens)
    fig.axes[0].set_ylabel("seconds")
    fig.axes[0].set_xlabel("phoneme")
    return (audio.sample_rate, _pcm16(audio.waveform)), fig


def transcribe_piano(path: str | None, name: str,
                     progress: gr.Progress = PROGRESS) -> tuple:
    """Piano tab: (piano roll image, MIDI file, synthesised preview)."""
    wav, rate = _read_audio(path)
    progress(0.05, desc=f"loading {name}")
    piano = _model(name)
    progress(0.2, desc="transcribing")
    try:
        midi = piano.transcribe(wav, sample_rate=rate)
    except speechzoo.SpeechZooError as e:
        raise gr.Error(str(e)) from None
    if not midi.instruments or not any(i.notes for i in midi.instruments):
        gr.Warning("No notes were found.")
    roll = midi.get_piano_roll(fs=PIANO_FPS)[21:109] > 0  # the 88 keys, A0 to C8
    image = plots.figure_to_array(plots.piano_roll_figure(roll.astype(np.float32),
                                                          frame_rate=PIANO_FPS))
    out = Path(tempfile.mkdtemp(prefix="speechzoo-")) / f"{Path(path).stem}.mid"
    midi.write(str(out))
    preview = midi.synthesize(fs=16000) if roll.any() else np.zeros(16000)
    preview = preview / max(float(np.abs(preview).max()), 1e-6) * 0.8
    return image, str(out), (16000, _pcm16(preview))


def pronounce(text: str, name: str, use_lexicon: bool, beam_size: int) -> list[list[str]]:
    """Pronunciation tab: a row per distinct word (word, ARPAbet, IPA, source)."""
    words = list(dict.fromkeys(text.lower().replace(",", " ").split()))
    if not words:
        raise gr.Error("Type one or more words.")
    if len(words) > MAX_WORDS:
        raise gr.Error(f"{len(words)} words; the demo takes at most {MAX_WORDS} at a time.")
    g2p = _model(name)
    options = {"use_lexicon": use_lexicon, "beam_size": int(beam_size)}
    try:
        arpabet = g2p.phonemize_words(words, **options)
        ipa = g2p.phonemize_words(words, ipa=True, **options)
    except speechzoo.SpeechZooError as e:
        raise gr.Error(str(e)) from None
    known = lexicon() if use_lexicon else {}
    return [[w, " ".join(a), " ".join(i), "CMUdict" if w in known else name]
            for w, a, i in zip(words, arpabet, ipa, strict=True)]


def _asr_tab() -> None:
    names = _bundles("asr")
    with gr.Tab("Speech recognition", id="asr"):
        with gr.Row():
            audio = gr.Audio(sources=["upload", "microphone"], type="filepath",
                             label="Speech (upload or record)", elem_id="asr-audio",
                             buttons=["download"])
            with gr.Column():
                model = gr.Dropdown(names, value="ds2-en" if "ds2-en" in names else
                                    (names[0] if names else None), label="Model")
                decoder = gr.Radio(["greedy", "beam"], value="greedy", label="Decoder",
                                   info="beam: beam search with the model's language model")
                run = gr.Button("Transcribe", variant="primary", elem_id="asr-run")
        text = gr.Textbox(label="Transcript", elem_id="asr-text", interactive=False)
        plot = gr.Plot(label="Words on the waveform", elem_id="asr-plot")
        words = gr.Dataframe(headers=["word", "start (s)", "end (s)"], label="Word times",
                             interactive=False)
        run.click(transcribe, [audio, model, decoder], [text, plot, words])


def _tts_tab(demo: gr.Blocks) -> None:
    names = _bundles("tts") + _bundles("deepvoice")
    vocoders = [GRIFFIN_LIM] + _bundles("vocoder")
    with gr.Tab("Text to speech", id="tts"):
        with gr.Row():
            with gr.Column(scale=2):
                text = gr.Textbox("Dr. Smith paid $3.50 on January 5, 2024.", lines=3,
                                  max_length=MAX_CHARACTERS, label="Text", elem_id="tts-text")
                run = gr.Button("Speak", variant="primary", elem_id="tts-run")
            with gr.Column():
                model = gr.Dropdown(names, value="nat-en" if "nat-en" in names else
                                    (names[0] if names else None), label="Model")
                vocoder = gr.Dropdown(vocoders, value=GRIFFIN_LIM, label="Vocoder",
                                      info="wavenet-en is slow: sample by sample")
                pace = gr.Slider(0.5, 2.0, 1.0, step=0.05, label="Pace (2 is twice as fast)")
                pitch = gr.Slider(0.5, 2.0, 1.0, step=0.05, label="Pitch", visible=False)
        audio = gr.Audio(label="Speech", type="numpy", interactive=False, elem_id="tts-audio",
                         buttons=["download"])
        plot = gr.Plot(label="Phoneme durations", elem_id="tts-plot")
        run.click(speak, [text, model, vocoder, pace, pitch], [audio, plot])
        model.change(synthesis_controls, model, [pitch, vocoder])
        demo.load(synthesis_controls, model, [pitch, vocoder])


def _g2p_tab(names: list[str]) -> None:
    with gr.Tab("Pronunciation", id="g2p"):
        with gr.Row():
            with gr.Column(scale=2):
                text = gr.Textbox("speechzoo transcribes colourful brillig toves", lines=2,
                                  label="Words", elem_id="g2p-text",
                                  info="letters and apostrophes; numbers written out")
                run = gr.Button("Pronounce", variant="primary", elem_id="g2p-run")
            with gr.Column():
                model = gr.Dropdown(names, value=names[0], label="Model")
                use_lexicon = gr.Checkbox(False, label="CMUdict first",
                                          info="off: every word goes through the network")
                beam = gr.Slider(1, 10, 5, step=1, label="Beam size")
        table = gr.Dataframe(headers=["word", "ARPAbet", "IPA", "from"], label="Pronunciations",
                             interactive=False, elem_id="g2p-table")
        run.click(pronounce, [text, model, use_lexicon, beam], table)


def _piano_tab(names: list[str]) -> None:
    with gr.Tab("Piano transcription", id="piano"):
        with gr.Row():
            audio = gr.Audio(sources=["upload"], type="filepath", label="Piano recording",
                             elem_id="piano-audio", buttons=["download"])
            with gr.Column():
                model = gr.Dropdown(names, value=names[0], label="Model")
                run = gr.Button("Transcribe", variant="primary", elem_id="piano-run")
        roll = gr.Image(label="Piano roll", elem_id="piano-roll", interactive=False)
        with gr.Row():
            midi = gr.File(label="MIDI", elem_id="piano-midi", interactive=False)
            preview = gr.Audio(label="Synthesised preview", type="numpy", interactive=False,
                               elem_id="piano-preview", buttons=["download"])
        run.click(transcribe_piano, [audio, model], [roll, midi, preview])


def build() -> gr.Blocks:
    """The demo's page (tabs for the tasks whose bundles are installed)."""
    with gr.Blocks(title="speechzoo", analytics_enabled=False) as demo:
        gr.Markdown("# speechzoo\nSpeech recognition, text to speech, pronunciation and "
                    "piano transcription with speechzoo's models. Nothing leaves this "
                    "machine.")
        with gr.Tabs():
            if _bundles("asr"):
                _asr_tab()
            if _bundles("tts"):
                _tts_tab(demo)
            if _bundles("g2p"):
                _g2p_tab(_bundles("g2p"))
            if _bundles("piano"):
                _piano_tab(_bundles("piano"))
    return demo


def launch(host: str = "127.0.0.1", port: int = 7860, device: str | None = None,
           block: bool = True) -> gr.Blocks:
    """Serve the demo on ``http://host:port`` (until interrupted, if ``block``)."""
    global DEVICE
    DEVICE = device
    demo = build()
    # One job at a time: the models share a small machine; others wait in the queue.
    demo.queue(default_concurrency_limit=1, max_size=32)
    demo.launch(server_name=host, server_port=port, share=False, inbrowser=False,
                max_file_size=f"{MAX_UPLOAD_MB}mb", show_error=False, ssr_mode=False,
                pwa=False, mcp_server=False, enable_monitoring=False, theme=THEME,
                footer_links=[], prevent_thread_lock=not block, quiet=not block)
    return demo


if __name__ == "__main__":
    launch()
