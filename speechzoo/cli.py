"""The ``speechzoo`` command: train, validate, test, transcribe, prepare, export."""

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
  speechzoo transcribe --model ds2-en a.wav b.flac
  speechzoo prepare synth-en
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
    t = sub.add_parser("transcribe", help="speech to text, one line per file")
    t.add_argument("files", nargs="+", help="audio files (any format soundfile reads)")
    t.add_argument("--model", default="ds2-en", help="bundle name or checkpoint path")
    t.add_argument("--batch-size", type=int, default=8)
    r = sub.add_parser("prepare", help="generate an embedded corpus or prepare a local one")
    r.add_argument("name", help="synth-en | librispeech")
    r.add_argument("source", nargs="?", help="the local copy (librispeech)")
    r.add_argument("--out", help="output folder (default: $SPEECHZOO_DATA/NAME or next to "
                   "the source)")
    r.add_argument("--markov", type=int, default=30000,
                   help="synth-en: generated (Wikipedia-Markov) training sentences added to the "
                   "real ones; each is spoken once (default: 30000, about 33 hours)")
    e = sub.add_parser("export", help="a training checkpoint -> a small fp16 bundle folder",
                       description="Write a bundle (fp16 weights, no optimiser state) from a "
                       "training checkpoint, or from the average of several checkpoints of one "
                       "run (e.g. the last few: often a little more accurate).")
    e.add_argument("checkpoint", nargs="+", help="one checkpoint, or several to average")
    e.add_argument("out", help="folder to write model.ckpt into")
    e.add_argument("--recipe", help="recipe to copy in as config.yaml")
    return p


def _run(argv: list[str]) -> None:
    args, rest = _parser().parse_known_args(argv)
    if args.command in _LIGHTNING:
        from speechzoo.tasks.recipes import make_cli

        make_cli(args.recipe, rest, _LIGHTNING[args.command])
        return
    if rest:
        _parser().error(f"unrecognised arguments: {' '.join(rest)}")
    if args.command == "transcribe":
        from speechzoo.pipelines import load

        for line in load(args.model).transcribe(args.files, batch_size=args.batch_size):
            print(line)
    elif args.command == "prepare":
        from speechzoo.data.corpora import prepare

        print(prepare(args.name, args.source, args.out, markov=args.markov))
    elif args.command == "export":
        from speechzoo.pipelines import export

        print(export(args.checkpoint, args.out, args.recipe))


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
        _run(argv)
    except SpeechZooError as e:
        print(f"speechzoo: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
