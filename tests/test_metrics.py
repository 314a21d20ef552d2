"""WER and CER agree with jiwer's on hand-made cases."""

import jiwer
import pytest

from speechzoo.errors import DataError
from speechzoo.metrics import cer, wer

CASES = [
    (["a b c d"], ["a x c"]),                          # a substitution and a deletion
    (["a b", "c d"], ["a b", "c e"]),                  # corpus-level: edits over all words
    (["the cat sat"], ["the cat sat on the mat"]),     # insertions: WER above 1/2
    (["hello world"], [""]),                           # everything deleted
    (["one"], ["two three four"]),                     # WER above 1
    (["a  b   c"], [" a b c "]),                       # whitespace does not count
    (["it's the end"], ["its the end"]),               # an apostrophe is a character
]


@pytest.mark.parametrize(("refs", "hyps"), CASES)
def test_wer_and_cer_match_jiwer(refs, hyps):
    norm = [" ".join(t.split()) for t in hyps]
    assert wer(refs, hyps) == pytest.approx(jiwer.wer([" ".join(r.split()) for r in refs], norm))
    assert cer(refs, hyps) == pytest.approx(jiwer.cer([" ".join(r.split()) for r in refs], norm))


def test_known_values_and_bad_input():
    assert wer(["a b c d"], ["a x c"]) == pytest.approx(0.5)
    assert cer(["abcd"], ["abed"]) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="1 references but 2"):
        wer(["a"], ["a", "b"])
    with pytest.raises(DataError, match="no words"):
        wer([""], ["a"])
