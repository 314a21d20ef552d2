"""The ``speechzoo`` command: train, validate, test, transcribe, evaluate, prepare, export."""

from __future__ import annotations

import argparse
import sys

from speechzoo.errors import SpeechZooError

_LIGHTNING = {"train": "fit", "validate": "validate", "test": "test"}


_EXAMPLES = """examples:
  speechzoo train recipes/ds2.yaml                        train DS2 on the embedded corpus
  speechzoo train recipes/ds2.yaml --trainer.max_steps 100  any LightningCLI override
  speechzoo train recipes/ds2.yaml --ckpt_path last       resume
  speechzoo train recipes/ds2.yaml --help                 every key of that recipe
  speechzoo test recipes/ds2.yaml --ckpt_path runs/ds2/checkpoints/last.ckpt
  speechzoo transcribe --model ds2-en a.wav b.flac        FILE<TAB>TEXT per file
  speechzoo evaluate --model ds2-en my-data/test.jsonl    WER and CER on your manifest
  speechzoo prepare synth-en --markov 130000             a larger embedded corpus
  speechzoo prepare librispeech /data/LibriSpeech
  speechzoo export runs/ds2/checkpoints/last.ckpt my-model --recipe recipes/ds2.yaml
  speechzoo export A.ckpt B.ckpt C.ckpt my-model          the average of three checkpoints
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
    _add_prepare(sub)
    _add_export(sub)
    return p


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="ds2-en", help="bundle name, bundle folder or checkpoint "
                   "(default: ds2-en; `speechzoo.available_models()` lists the names)")
    p.add_argument("--batch-size", type=int, default=8, help="files run together (default 8)")
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda when available)")


def _add_transcribe(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("transcribe", help="speech to text",
                       description="Transcribe audio files. A file that cannot be read is "
                       "reported on stderr and the others are still transcribed; the exit "
                       "status is then 2.")
    t.add_argument("files", nargs="+", help="audio files (any format soundfile reads)")
    _add_model_options(t)
    t.add_argument("--format", choices=("auto", "text", "tsv", "jsonl"), default="auto",
                   help="text: one transcript per line; tsv: FILE<TAB>TRANSCRIPT; jsonl: "
                   '{"audio_filepath", "text"} per line; auto (default): text for one file, '
                   "tsv for several")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("evaluate", help="WER and CER of a model on a manifest",
                       description="Score a recogniser on your own data: a JSON-lines manifest "
                       'of {"audio_filepath", "duration", "text"} (relative paths are relative '
                       "to the manifest; texts in the model's alphabet, e.g. lower case).")
    e.add_argument("manifest", help="the JSONL manifest, e.g. a corpus' test.jsonl")
    _add_model_options(e)
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


def _transcribe(args: argparse.Namespace) -> int:
    import json

    from speechzoo.pipelines import load

    asr = load(args.model, device=args.device)
    fmt = args.format if args.format != "auto" else "text" if len(args.files) == 1 else "tsv"
    failed = 0
    for path, text in asr.transcribe_files(args.files, batch_size=args.batch_size):
        if isinstance(text, SpeechZooError):
            failed += 1
            print(f"speechzoo: error: {text}", file=sys.stderr)
        elif fmt == "jsonl":
            print(json.dumps({"audio_filepath": path, "text": text}, ensure_ascii=False))
        else:
            print(f"{path}\t{text}" if fmt == "tsv" else text)
    if failed:
        print(f"speechzoo: {failed} of {len(args.files)} files could not be transcribed",
              file=sys.stderr)
    return 2 if failed else 0


def _evaluate(args: argparse.Namespace) -> None:
    from speechzoo.data.manifest import write_manifest
    from speechzoo.pipelines import load

    scores = load(args.model, device=args.device).evaluate(args.manifest, args.batch_size)
    print(f"WER {scores['wer']:.4f}  CER {scores['cer']:.4f}  ({scores['utterances']} "
          f"utterances, {scores['hours']:.2f} h, {args.manifest}, model {args.model})")
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
    elif args.command == "prepare":
        from speechzoo.data.corpora import CORPORA, prepare

        options = {o.name: getattr(args, o.name) for o in CORPORA[args.corpus].options}
        print(prepare(args.corpus, getattr(args, "source", None), args.out, **options))
    elif args.command == "export":
        from speechzoo.pipelines import export

        print(export(args.checkpoint, args.out, args.recipe))
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
