"""The text-to-speech side of the front end: eSpeak NG safe from several threads at once (a
corpus generator that phonemised from two threads died with "double free" before the lock)."""

from concurrent.futures import ThreadPoolExecutor

from speechzoo.text.phonemes import phonemize

TEXTS = [f"Sentence number {i} is spoken by the test, and it ends here." for i in range(40)]


def test_phonemize_from_threads_equals_serial():
    serial = [phonemize(t) for t in TEXTS]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(phonemize, TEXTS))
    assert threaded == serial


def test_glides_as_pipers_espeak_writes_them():
    assert "".join(phonemize("The end.", glides=True)) == "ðɪʲ ˈɛnd."
    assert "".join(phonemize("See it all.", glides=True)) == "sˈiːʲ ɪɾ ˈɔːl."
    assert "".join(phonemize("My apple.", glides=True)) == "maɪ ˈæpəl."  # not a diphthong
    assert "ʲ" not in phonemize("The end.")  # only when asked
