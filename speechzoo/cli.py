"""The ``speechzoo`` command: train, validate, test, transcribe, evaluate, prepare, export."""

from __future__ import annotations

import argparse
import inspect
import sys
from typing import TYPE_CHECKING

from speechzoo.errors import ConfigError, SpeechZooError

if TYPE_CHECKING:
    from speechzoo.results import Transcript

_LIGHTNING = {"train": "fit", "validate": "validate", "test": "test"}


_EXAMPLES = """examples:
  speechzoo train recipes/ds2.yaml                        train DS2 on the embedded corpus
  speechzoo train recipes/ds2.yaml --trainer.max_steps 100  any LightningCLI override
  speechzoo train recipes/ds2.yaml --ckpt_path last       resume
  speechzoo train recipes/ds2.yaml --help                 every key of that recipe
  speechzoo test recipes/ds2.yaml --ckpt_path runs/ds2/checkpoints/last.ckpt
  speechzoo transcribe --model ds2-en a.wav b.flac        FILE<TAB>TEXT per file
  speechzoo transcribe --timestamps --decoder beam a.wav  word times, LM beam search
  speechzoo evaluate --model ds2-en my-data/test.jsonl    WER and CER on your manifest
  speechzoo synthesize --model nat-en "Hello, world." -o hello.wav
  speechzoo synthesize --pace 1.5 --plot mel.png -o fast.wav < story.txt
  speechzoo synthesize --model deepvoice-en --pitch 1.2 "Hi there." -o dv.wav
  speechzoo transcribe-piano piece.wav -o piece.mid --plot roll.png
  speechzoo prepare synth-en --markov 130000             a larger embedded corpus
  speechzoo prepare librispeech /data/LibriSpeech
  speechzoo export runs/ds2/checkpoints/last.ckpt my-model --recipe recipes/ds2.yaml
  speechzoo export A.ckpt B.ckpt C.ckpt my-model          the average of three checkpoints
  speechzoo demo                                          the web demo on 127.0.0.1:7860
  speechzoo serve --port 8000                             HTTP server with dynamic batching
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="speechzoo", epilog=_EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Speech recognition, synthesis and music "
                                "transcription models: train from recipes, run pretrained ones.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, verb in (("train", "train a model"), ("validate", "validate a checkpoint"),
                       ("test", "measure a checkpoint on the test split")):
        s = sub.add_parser(name, help=f"{verb} from a recipe (LightningCLI)",
                           description=f"{verb.capitalize()} from a YAML recipe. Any further "
                           "arguments are LightningCLI overrides, e.g. --trainer.max_steps 100 "
                           "--ckpt_path last.", add_help=False)
        s.add_argument("recipe", help="a YAML recipe, e.g. recipes/ds2.yaml")
    _add_transcribe(sub)
    _add_evaluate(sub)
    _add_synthesize(sub)
    _add_transcribe_piano(sub)
    _add_phonemize(sub)
    _add_align(sub)
    _add_prepare(sub)
    _add_export(sub)
    _add_lm(sub)
    _add_demo(sub)
    _add_serve(sub)
    return p


def _add_demo(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("demo", help="the web demo (Gradio), on this machine only by default",
                       description="A web page to try every model: speech recognition, text "
                       "to speech, piano transcription. Runs offline; needs `pip install "
                       "speechzoo[demo]` and a checkout of the repository (demos/app.py).")
    d.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    d.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: "
                   "this machine only; 0.0.0.0 opens it to the network)")
    d.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda when available)")


def _demo(args: argparse.Namespace) -> None:
    import importlib.util
    from pathlib import Path

    app = Path(__file__).resolve().parent.parent / "demos" / "app.py"
    if not app.is_file():
        raise SpeechZooError(f"the demo is not installed ({app} is missing): it ships with the "
                             "repository; run `speechzoo demo` from a checkout installed with "
                             "`pip install -e .[demo]`")
    spec = importlib.util.spec_from_file_location("speechzoo_demo_app", app)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.launch(host=args.host, port=args.port, device=args.device)


def _add_serve(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("serve", help="an HTTP server for many users (LitServe, dynamic batching)",
                       description="Serve POST /transcribe (multipart audio -> JSON text and "
                       "word times), POST /synthesize (JSON text -> WAV) and GET /health. "
                       "Concurrent requests are batched (Deep Speech 2's Batch Dispatch). "
                       "Needs `pip install speechzoo[serve]`. SIGTERM stops it cleanly.")
    s.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    s.add_argument("--host", default="127.0.0.1", choices=("127.0.0.1", "0.0.0.0", "::"),
                   help="address to bind (default 127.0.0.1; put a proxy in front)")
    s.add_argument("--asr", default="ds2-en", help="asr bundle for /transcribe, or none "
                   "(default ds2-en)")
    s.add_argument("--tts", default="nat-en", help="tts bundle for /synthesize, or none "
                   "(default nat-en)")
    s.add_argument("--vocoder", help="the synthesiser's vocoder (default: the bundle's choice)")
    s.add_argument("--max-batch-size", type=int, default=16, help="most transcriptions run "
                   "together (default 16; 1 turns batching off)")
    s.add_argument("--batch-timeout", type=float, default=0.05, help="seconds a batch waits to "
                   "fill (default 0.05)")
    s.add_argument("--threads", type=int, default=1, help="torch threads per model worker "
                   "(default 1)")
    s.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="auto (default): cuda when available")
    s.add_argument("--max-audio-seconds", type=float, default=60.0, help="longest upload "
                   "(default 60)")
    s.add_argument("--max-characters", type=int, default=1000, help="longest text (default "
                   "1000)")
    s.add_argument("--max-body-mb", type=float, default=50.0, help="largest request body "
                   "(default 50 MB)")
    s.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))


def _serve(args: argparse.Namespace) -> None:
    from speechzoo.serve import Limits, serve

    none = ("", "none")
    serve(host=args.host, port=args.port, log_level=args.log_level,
          asr=None if args.asr.lower() in none else args.asr,
          tts=None if args.tts.lower() in none else args.tts, vocoder=args.vocoder,
          max_batch_size=args.max_batch_size, batch_timeout=args.batch_timeout,
          threads=args.threads, device=args.device,
          limits=Limits(args.max_body_mb, args.max_audio_seconds, args.max_characters))


def _add_synthesize(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("synthesize", help="text to speech with a pretrained model",
                       description="Speak English text (numbers, dates, currency and "
                       "abbreviations are read out; punctuation pauses) and write a WAV/FLAC.")
    s.add_argument("text", nargs="?", help="the text (default: read standard input)")
    s.add_argument("-o", "--output", required=True, help="the audio file to write (.wav, .flac)")
    s.add_argument("--model", default="nat-en", help="a tts bundle name or folder, or "
                   "deepvoice-en (Deep Voice's five stages; sample by sample, slower than real "
                   "time) (default nat-en)")
    s.add_argument("--vocoder", help="griffin-lim, or a vocoder bundle (parallel-wavenet-en, "
                   "wavenet-en: slow) (default: the bundle's choice)")
    s.add_argument("--pace", type=float, default=1.0, help="speaking rate: 2 is twice as fast "
                   "(default 1)")
    s.add_argument("--pitch", type=float, help="F0 factor, Deep Voice only: 2 is an octave up "
                   "(default 1)")
    s.add_argument("--seed", type=int, default=0, help="the random draw (pre-net dropout, "
                   "samples) (default 0)")
    s.add_argument("--plot", help="also write the mel spectrogram and alignment as a PNG")
    s.add_argument("--kernel", choices=("auto", "triton", "cpu", "reference"),
                   help="inference kernels of WaveNet generation and DS2 recurrences "
                   "(default auto: the fastest that runs here)")
    s.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda when available)")


def _synthesize(args: argparse.Namespace) -> None:
    from speechzoo.pipelines import load

    text = args.text if args.text is not None else sys.stdin.read()
    tts = load(args.model, device=args.device, vocoder=args.vocoder, kernel=args.kernel)
    takes = inspect.signature(tts.synthesize).parameters
    options = {"progress": True} if "progress" in takes else {}
    if args.pitch is not None:
        if "pitch" not in takes:
            raise ConfigError(f"--pitch: {args.model} cannot shift its pitch; drop --pitch or "
                              "use --model deepvoice-en")
        options["pitch"] = args.pitch
    audio, alignment = tts.synthesize(text, args.pace, seed=args.seed, alignment=True,
                                      **options)
    audio.save(args.output)
    if args.plot:
        from speechzoo.plots import alignment_figure, save_figure

        # The first sentence's upsampling weights: which phoneme each frame speaks.
        save_figure(alignment_figure(alignment.weights[0], alignment.phonemes[0]), args.plot)
    print(f"{args.output}\t{audio.duration:.2f} s, {len(alignment.phonemes)} sentence(s)")


def _add_transcribe_piano(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("transcribe-piano", help="piano audio to MIDI",
                       description="Transcribe a piano recording (any length, any format "
                       "libsndfile reads) to a MIDI file with Onsets and Frames.")
    s.add_argument("audio", help="the recording (.wav, .flac, ...)")
    s.add_argument("-o", "--output", required=True, help="the MIDI file to write (.mid)")
    s.add_argument("--model", default="onsets-frames", help="a piano bundle name or folder "
                   "(default onsets-frames)")
    for head, what in (("onset", "a note starts where the onset head passes it"),
                       ("frame", "a note sounds while the frame head passes it"),
                       ("offset", "a note ends where the offset head passes it")):
        s.add_argument(f"--{head}-threshold", type=float,
                       help=f"{what}, in (0, 1) (default: the bundle's)")
    s.add_argument("--plot", help="also write the notes over the frame probabilities (PNG)")
    s.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda when available)")


def _transcribe_piano(args: argparse.Namespace) -> None:
    from speechzoo.files import atomic_path
    from speechzoo.music import notes_to_midi
    from speechzoo.pipelines import load

    piano = load(args.model, device=args.device)
    probs = piano.probabilities(args.audio)
    notes = piano.decode(probs, args.onset_threshold, args.frame_threshold,
                         args.offset_threshold)
    with atomic_path(args.output) as tmp:
        notes_to_midi(notes).write(str(tmp))
    if args.plot:
        from speechzoo.plots import save_figure

        save_figure(piano.plot(probs, notes), args.plot)
    print(f"{args.output}\t{len(notes)} notes")


def _add_phonemize(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("phonemize", help="words to pronunciations (Deep Voice's G2P model)",
                       description="Print each word's pronunciation in CMUdict's ARPAbet "
                       "(or the TTS models' IPA), predicted by a grapheme-to-phoneme model.")
    s.add_argument("words", nargs="+", help="words: letters and apostrophes")
    s.add_argument("--model", default="g2p-en", help="a G2P bundle (default g2p-en)")
    s.add_argument("--beam-size", type=int, help="beam width (default: the bundle's, 5)")
    s.add_argument("--lexicon", action="store_true",
                   help="words CMUdict holds take its pronunciation; the model reads the rest")
    s.add_argument("--no-stress", action="store_true", help="drop the stress digits")
    s.add_argument("--ipa", action="store_true", help="the TTS models' eSpeak IPA symbols")


def _phonemize(args: argparse.Namespace) -> None:
    from speechzoo.pipelines import load

    g2p = load(args.model, device="cpu")
    prons = g2p.phonemize_words(args.words, beam_size=args.beam_size, use_lexicon=args.lexicon,
                                stress=not args.no_stress, ipa=args.ipa)
    for word, pron in zip(args.words, prons, strict=True):
        print(f"{word}\t{' '.join(pron)}")


def _add_align(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("align", help="where each phoneme of a recording is (Deep Voice's "
                       "segmentation model)",
                       description="Print each phoneme of the text with its start and end in "
                       "seconds, found by a segmentation model in the recording: "
                       "PHONEME<TAB>START<TAB>END per line.")
    s.add_argument("audio", help="the recording (any format soundfile reads)")
    s.add_argument("text", help="what it says (phonemised as the TTS models read it)")
    s.add_argument("--model", default="deepvoice-segmentation-en",
                   help="a segmentation bundle (default deepvoice-segmentation-en)")


def _align(args: argparse.Namespace) -> None:
    from speechzoo.pipelines import load

    for seg in load(args.model, device="cpu").align(args.audio, text=args.text):
        print(f"{seg.phoneme}\t{seg.start:.3f}\t{seg.end:.3f}")


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="ds2-en", help="bundle name, bundle folder or checkpoint "
                   "(default: ds2-en; `speechzoo.available_models()` lists the names)")
    p.add_argument("--batch-size", type=int, default=8, help="files run together (default 8)")
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda when available)")
    p.add_argument("--sparse", action="store_true",
                   help="run a pruned model's sparse matrices through sparse kernels (CPU; "
                   "faster only for large layers: benchmarks/results/sparsity.json)")
    p.add_argument("--kernel", choices=("auto", "triton", "cpu", "reference"),
                   help="inference kernels of WaveNet generation and DS2 recurrences "
                   "(default auto: the fastest that runs here)")


def _add_transcribe(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("transcribe", help="speech to text",
                       description="Transcribe audio files. A file that cannot be read is "
                       "reported on stderr and the others are still transcribed; the exit "
                       "status is then 2.")
    t.add_argument("files", nargs="+", help="audio files (any format soundfile reads), of "
                   "any length (long recordings run in windows)")
    _add_model_options(t)
    _add_decoder_options(t)
    t.add_argument("--format", choices=("auto", "text", "tsv", "jsonl"), default="auto",
                   help="text: one transcript per line; tsv: FILE<TAB>TRANSCRIPT; jsonl: "
                   '{"audio_filepath", "text"} per line; auto (default): text for one file, '
                   "tsv for several")
    t.add_argument("--timestamps", action="store_true",
                   help="word times in seconds: text prints START END WORD per line (an empty "
                   "line between files); tsv FILE<TAB>START<TAB>END<TAB>WORD per word; jsonl "
                   'adds "words": [{"text", "start", "end"}]')


def _add_decoder_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--decoder", choices=("greedy", "beam"), default="greedy",
                   help="greedy (default): best path; beam: beam search with the bundle's "
                   "language model (its decoder.json; `speechzoo lm` adds one)")
    p.add_argument("--beam-size", type=int, help="beam: hypotheses kept (default: the "
                   "bundle's)")
    p.add_argument("--lm-weight", type=float, help="beam: the LM's weight, alpha (default: "
                   "the bundle's)")
    p.add_argument("--word-score", type=float, help="beam: score added per word, beta "
                   "(default: the bundle's)")


def _decoding(args: argparse.Namespace) -> dict:
    return {"decoder": args.decoder, "beam_size": args.beam_size,
            "lm_weight": args.lm_weight, "word_score": args.word_score}


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("evaluate", help="WER and CER of a model on a manifest",
                       description="Score a recogniser on your own data: a JSON-lines manifest "
                       'of {"audio_filepath", "duration", "text"} (relative paths are relative '
                       "to the manifest; texts in the model's alphabet, e.g. lower case).")
    e.add_argument("manifest", help="the JSONL manifest, e.g. a corpus' test.jsonl")
    _add_model_options(e)
    _add_decoder_options(e)
    e.add_argument("--output", help="also write each utterance's reference and hypothesis "
                   "here (JSON lines)")


def _add_prepare(sub: argparse._SubParsersAction) -> None:
    from speechzoo.data.corpora import CORPORA

    r = sub.add_parser("prepare", help="generate an embedded corpus or prepare a local one",
                       description="Generate a corpus speechzoo embeds, or write manifests for "
                       "a corpus you have on disk. `speechzoo prepare NAME --help` lists a "
                       "corpus' options.")
    names = r.add_subparsers(dest="corpus", required=True, metavar="NAME")
    for corpus in CORPORA.values():
        c = names.add_parser(corpus.name, help=corpus.help, description=corpus.help)
        if corpus.source is not None:
            c.add_argument("source", help=corpus.source)
        c.add_argument("--out", help="output folder (default: $SPEECHZOO_DATA/NAME for "
                       "generated corpora, beside the source otherwise)")
        for option in corpus.options:
            c.add_argument(f"--{option.name}", type=option.type, default=option.default,
                           help=option.help)


def _add_export(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("export", help="a training checkpoint -> a small fp16 bundle folder",
                       description="Write a bundle (fp16 weights, no optimiser state) from a "
                       "training checkpoint, or from the average of several checkpoints of one "
                       "run (e.g. the last few: often a little more accurate).")
    e.add_argument("checkpoint", nargs="+", help="one checkpoint, or several to average")
    e.add_argument("out", help="folder to write model.ckpt into")
    e.add_argument("--recipe", help="recipe to copy in as config.yaml")


_LM_TUNE = "speechzoo lm tune --model ds2-en --lm lm.arpa.gz --manifest dev.jsonl --write"


def _add_lm(sub: argparse._SubParsersAction) -> None:
    from speechzoo.decoding.lm import NORMALIZERS, TOOLS, UNITS

    g = sub.add_parser("lm", help="n-gram LMs for beam search: build, tune, attach",
                       description="Build an n-gram LM, tune its weights on a dev set, and give "
                       "a bundle an LM for `transcribe --decoder beam`. E.g. `speechzoo lm "
                       f"build train.jsonl lm.arpa.gz --order 4 --prune 0 1`, then `{_LM_TUNE}`.")
    cmds = g.add_subparsers(dest="lm_command", required=True, metavar="COMMAND")
    b = cmds.add_parser("build", help="text -> a Kneser-Ney ARPA LM",
                        description="Write a Kneser-Ney ARPA LM (kaldingram; KenLM's lmplz when "
                        "on PATH). Give normalised text in the model's alphabet.")
    b.add_argument("text", nargs="+", help="text files (one sentence a line) or JSONL "
                   "manifests (their text fields), mixed into one")
    b.add_argument("out", help="the ARPA file (gzipped if it ends .gz)")
    b.add_argument("--order", type=int, default=3, help="n-gram order (default 3)")
    b.add_argument("--units", choices=UNITS, default="words", help="words (default), or chars "
                   "for a character LM (lexicon-free decoding, e.g. Mandarin)")
    b.add_argument("--prune", type=int, nargs="+", default=[], metavar="N", help="count "
                   "thresholds per order, lmplz style: n-grams seen at most N times are dropped "
                   "(the last repeats); e.g. 0 1 drops singleton bigrams, trigrams, ...")
    b.add_argument("--tool", choices=TOOLS, default="auto", help="auto (default): lmplz when on "
                   "PATH, else kaldingram")
    b.add_argument("--weights", type=int, nargs="+", metavar="W", help="how many times over "
                   "each text counts (default 1 each), e.g. to weight a small in-domain text")
    b.add_argument("--exclude", nargs="+", default=[], metavar="TEXT", help="dev and test "
                   "manifests whose sentences are left out of the LM")
    b.add_argument("--normalize", choices=NORMALIZERS, default="none", help="normalise the "
                   "text as training normalises transcripts (default none: it already is)")
    lexicon = ("auto (default): the LM's words (none for a character LM); none: lexicon-free; "
               "or a lexicon file")
    t = cmds.add_parser("tune", help="grid-search the LM weight and word score on a dev set",
                        description="Decode a dev manifest with every LM weight (alpha) and "
                        "word score (beta), the model run once, and print WER/CER per pair. "
                        "--write stores the best in the bundle folder (decoder.json + LM + "
                        "lexicon), which `transcribe --decoder beam` then uses.")
    _add_model_options(t)
    t.add_argument("--lm", required=True, help="the ARPA LM (plain or .gz)")
    t.add_argument("--lexicon", default="auto", help=lexicon)
    t.add_argument("--manifest", required=True, help="dev JSONL manifest (audio_filepath, text)")
    t.add_argument("--limit", type=int, help="only the first N utterances")
    t.add_argument("--lm-weights", type=float, nargs="+",
                   default=[0.5, 1.0, 1.5, 2.0, 2.5, 3.0], metavar="A",
                   help="alphas tried (default 0.5 1 1.5 2 2.5 3)")
    t.add_argument("--word-scores", type=float, nargs="+", default=[-1.0, 0.0, 1.0, 2.0, 3.0],
                   metavar="B", help="betas tried, each with every alpha (default -1 0 1 2 3)")
    t.add_argument("--beam-size", type=int, default=50, help="hypotheses kept (default 50)")
    t.add_argument("--write", action="store_true", help="save the best into the bundle folder")
    a = cmds.add_parser("attach", help="give a bundle folder an LM with fixed weights",
                        description="Copy an LM (and lexicon) into a bundle folder and write its "
                        f"decoder.json, without tuning (`{_LM_TUNE}` tunes the weights).")
    a.add_argument("model", help="the bundle folder (or a bundle name)")
    a.add_argument("lm", help="the ARPA LM (plain or .gz)")
    a.add_argument("--lexicon", default="auto", help=lexicon)
    a.add_argument("--lm-weight", type=float, default=2.0, help="alpha (default 2)")
    a.add_argument("--word-score", type=float, default=0.0, help="beta (default 0)")
    a.add_argument("--beam-size", type=int, default=50, help="hypotheses kept (default 50)")


def _lm(args: argparse.Namespace) -> None:
    import tempfile
    from pathlib import Path

    from speechzoo.checkpoints import find_bundle
    from speechzoo.decoding import beam, lm
    from speechzoo.pipelines import load

    if args.lm_command == "build":
        text = lm.mix_sentences(args.text, args.weights, args.exclude, args.normalize)
        print(lm.build_lm(text, args.out, args.order, args.prune, args.units, args.tool,
                          progress=True))
        return
    lm.read_arpa_header(args.lm)  # a bad LM fails before the model loads
    asr = load(args.model, device=getattr(args, "device", None),
               sparse=getattr(args, "sparse", False), kernel=getattr(args, "kernel", None))
    folder = find_bundle(args.model).parent
    with tempfile.TemporaryDirectory() as tmp:
        lexicon = None if args.lexicon == "none" else args.lexicon if args.lexicon != "auto" \
            else lm.lexicon_for(args.lm, asr.tokenizer, Path(tmp) / "lexicon.txt")[0]
        if args.lm_command == "attach":
            print(beam.save_decoder_config(folder, args.lm, lexicon, args.beam_size,
                                           args.lm_weight, args.word_score))
            return
        decoder = beam.BeamDecoder(asr.tokenizer, args.lm, lexicon, args.beam_size)
        result = beam.tune_on_manifest(asr, args.manifest, decoder, args.lm_weights,
                                       args.word_scores, args.limit, args.batch_size)
        print(f"greedy: WER {result.greedy['wer']:.4f}  CER {result.greedy['cer']:.4f}\n"
              "lm_weight  word_score  WER     CER")
        for r in result.grid:
            print(f"{r['lm_weight']:9.2f}  {r['word_score']:10.2f}  {r['wer']:.4f}  "
                  f"{r['cer']:.4f}{'  <- best' if r is result.best else ''}")
        if args.write:
            meta = {"tuned_on": str(args.manifest), "utterances": result.utterances,
                    **result.best}
            print(beam.save_decoder_config(folder, args.lm, lexicon, args.beam_size,
                                           result.best["lm_weight"], result.best["word_score"],
                                           meta))


def _transcribe(args: argparse.Namespace) -> int:
    from speechzoo.pipelines import load

    asr = load(args.model, device=args.device, sparse=args.sparse, kernel=args.kernel)
    fmt = args.format if args.format != "auto" else "text" if len(args.files) == 1 else "tsv"
    failed = printed = 0
    for path, result in asr.transcribe_files(args.files, batch_size=args.batch_size,
                                             timestamps=args.timestamps, **_decoding(args)):
        if isinstance(result, SpeechZooError):
            failed += 1
            print(f"speechzoo: error: {result}", file=sys.stderr)
            continue
        lines = _format(path, result, fmt)
        if args.timestamps and fmt != "jsonl" and not lines:
            continue  # no words: no rows
        if args.timestamps and fmt == "text" and printed:
            print()  # words of one file, an empty line, words of the next
        print(lines)
        printed += 1
    if failed:
        print(f"speechzoo: {failed} of {len(args.files)} files could not be transcribed",
              file=sys.stderr)
    return 2 if failed else 0


def _format(path: str, result: str | Transcript, fmt: str) -> str:
    """One file's lines: a text (str) or, with --timestamps, a Transcript's words."""
    import json

    if fmt == "jsonl":
        row = {"audio_filepath": path, "text": result if isinstance(result, str) else result.text}
        if not isinstance(result, str):
            row["words"] = [{"text": w.text, "start": w.start, "end": w.end}
                            for w in result.words]
        return json.dumps(row, ensure_ascii=False)
    if isinstance(result, str):
        return f"{path}\t{result}" if fmt == "tsv" else result
    prefix = f"{path}\t" if fmt == "tsv" else ""
    sep = "\t" if fmt == "tsv" else " "
    return "\n".join(f"{prefix}{w.start:.3f}{sep}{w.end:.3f}{sep}{w.text}" for w in result.words)


def _evaluate(args: argparse.Namespace) -> None:
    from speechzoo.data.manifest import write_manifest
    from speechzoo.pipelines import load

    asr = load(args.model, device=args.device, sparse=args.sparse, kernel=args.kernel)
    scores = asr.evaluate(args.manifest, args.batch_size, **_decoding(args))
    print(f"WER {scores['wer']:.4f}  CER {scores['cer']:.4f}  ({scores['utterances']} "
          f"utterances, {scores['hours']:.2f} h, {args.manifest}, model {args.model}, "
          f"{args.decoder} decoding)")
    if args.output:
        write_manifest(args.output, scores["results"])


def _run(argv: list[str]) -> int:
    args, rest = _parser().parse_known_args(argv)
    if args.command in _LIGHTNING:
        from speechzoo.tasks.recipes import make_cli, quiet_lightning

        with quiet_lightning():  # Lightning's every-run tips and warnings, not real ones
            make_cli(args.recipe, rest, _LIGHTNING[args.command])
        return 0
    if rest:
        _parser().error(f"unrecognised arguments: {' '.join(rest)}")
    if args.command == "transcribe":
        return _transcribe(args)
    if args.command == "evaluate":
        _evaluate(args)
    elif args.command == "synthesize":
        _synthesize(args)
    elif args.command == "transcribe-piano":
        _transcribe_piano(args)
    elif args.command == "phonemize":
        _phonemize(args)
    elif args.command == "align":
        _align(args)
    elif args.command == "prepare":
        from speechzoo.data.corpora import CORPORA, prepare

        options = {o.name: getattr(args, o.name) for o in CORPORA[args.corpus].options}
        print(prepare(args.corpus, getattr(args, "source", None), args.out, **options))
    elif args.command == "lm":
        _lm(args)
    elif args.command == "export":
        from speechzoo.pipelines import export

        print(export(args.checkpoint, args.out, args.recipe))
    elif args.command == "demo":
        _demo(args)
    elif args.command == "serve":
        _serve(args)
    return 0


def main(argv: list[str] | None = None) -> None:
    if argv is None:  # the `speechzoo` command itself, not a call from Python
        argv = sys.argv[1:]
        if argv and argv[0] in _LIGHTNING:
            from speechzoo.training.allocator import exec_under_tcmalloc

            exec_under_tcmalloc(argv)  # faster CPU training (speechzoo/training/allocator.py)
    if len(argv) >= 2 and argv[0] in _LIGHTNING and argv[1] in ("-h", "--help"):
        # LightningCLI's own help needs a recipe: `speechzoo train RECIPE --help`
        print(f"usage: speechzoo {argv[0]} RECIPE [LightningCLI overrides ...]\n\n{_EXAMPLES}")
        return
    try:
        status = _run(argv)
    except SpeechZooError as e:
        print(f"speechzoo: error: {e}", file=sys.stderr)
        sys.exit(2)
    if status:
        sys.exit(status)


if __name__ == "__main__":
    main()
