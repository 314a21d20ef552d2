"""Grapheme-to-phoneme: a Deep Voice G2P bundle -> pronunciations of English words."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from speechzoo.checkpoints import Bundle
from speechzoo.errors import CheckpointError, TextError
from speechzoo.text.lexicon import is_word, lexicon, strip_stress
from speechzoo.text.phonemes import arpabet_to_phonemes
from speechzoo.text.tokenizers import tokenizer_from_dict


class Phonemizer:
    """Words -> ARPAbet pronunciations, what ``speechzoo.load("g2p-en")`` returns.

    Args:
        model: a ``speechzoo.models.deepvoice.g2p.GraphemeToPhoneme``.
        graphemes, phonemes: the bundle's tokenizers.
        beam_size: the default beam width (the paper's 5).
        device: where the network runs.
    """

    def __init__(self, model: torch.nn.Module, graphemes, phonemes, beam_size: int = 5,
                 device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.graphemes, self.phonemes, self.beam_size = graphemes, phonemes, beam_size

    @classmethod
    def from_bundle(cls, bundle: Bundle, device: torch.device) -> Phonemizer:
        front = bundle.frontend
        if bundle.task != "g2p" or "graphemes" not in front or "phonemes" not in front:
            raise CheckpointError(f"{bundle.source} is not a G2P bundle (task {bundle.task!r})")
        return cls(bundle.build("g2p"), tokenizer_from_dict(front["graphemes"]),
                   tokenizer_from_dict(front["phonemes"]), int(front.get("beam_size", 5)),
                   device)

    def phonemize(self, word: str, **options) -> list[str]:
        """One word's pronunciation (:meth:`phonemize_words` for the options)."""
        return self.phonemize_words([word], **options)[0]

    def phonemize_words(self, words: Sequence[str], beam_size: int | None = None,
                        use_lexicon: bool = False, stress: bool = True,
                        ipa: bool = False) -> list[list[str]]:
        """Pronunciations of ``words`` (letters and apostrophes; case is ignored).

        Args:
            beam_size: beam width (default: the bundle's; 1 is greedy).
            use_lexicon: a word CMUdict holds takes its first CMUdict pronunciation; only the
                others go through the network (what a TTS front end wants).
            stress: keep the stress digits (``AH0``); False: 39 plain phonemes.
            ipa: the TTS models' eSpeak IPA symbols instead of ARPAbet
                (``speechzoo.text.phonemes.arpabet_to_phonemes``), always with the stress
                marks, as the TTS models read them.
        """
        if isinstance(words, str):
            raise TextError("phonemize_words takes a list of words; use phonemize(word)")
        clean = [w.strip().lower() for w in words]
        bad = [w for w in clean if not is_word(w)]
        if bad:
            raise TextError(f"cannot phonemize {bad[:5]}: a word is letters and apostrophes, "
                            "from a letter on; write numbers out first "
                            "(speechzoo.text.english.normalize)")
        known = lexicon() if use_lexicon else {}
        todo = [w for w in dict.fromkeys(clean) if w not in known]
        found = {w: list(known[w][0]) for w in clean if w in known}
        found.update(self._predict(todo, beam_size or self.beam_size) if todo else {})
        out = [found[w] for w in clean]
        if ipa:
            return [arpabet_to_phonemes(p) for p in out]
        return out if stress else [strip_stress(p) for p in out]

    def reader(self, beam_size: int | None = None):
        """The word reader of ``speechzoo.text.phonemes.phonemize``: this model pronounces the
        words CMUdict lacks (in the TTS models' IPA), eSpeak NG the others."""
        known = lexicon()

        def read(words: list[str]) -> list[list[str] | None]:
            oov = [w for w in words if w not in known and is_word(w)]
            found = dict(zip(oov, self.phonemize_words(oov, beam_size, ipa=True), strict=True)
                         ) if oov else {}
            return [found.get(w) for w in words]

        return read

    @torch.inference_mode()
    def _predict(self, words: list[str], beam_size: int) -> dict[str, list[str]]:
        ids = [torch.tensor(self.graphemes.encode(w), dtype=torch.long) for w in words]
        lengths = torch.tensor([len(i) for i in ids])
        batch = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True).to(self.device)
        best = self.model.beam_search(batch, lengths.to(self.device), beam_size)
        return {w: self.phonemes.decode(b) for w, b in zip(words, best, strict=True)}
