import itertools

import torch

from speechzoo.layers.crf import LinearChainCRF


def _crf(k: int, seed: int = 0) -> LinearChainCRF:
    torch.manual_seed(seed)
    crf = LinearChainCRF(k)
    with torch.no_grad():
        crf.start.normal_()
        crf.transitions.normal_()
    return crf


def _score(crf, emissions, labels) -> torch.Tensor:
    s = crf.start[labels[0]] + emissions[0, labels[0]]
    for t in range(1, len(labels)):
        s = s + crf.transitions[labels[t - 1], labels[t]] + emissions[t, labels[t]]
    return s


def test_likelihood_and_viterbi_match_brute_force_over_every_labelling():
    crf, k, t = _crf(3), 3, 4
    emissions = torch.randn(1, t, k)
    paths = [list(p) for p in itertools.product(range(k), repeat=t)]
    scores = torch.stack([_score(crf, emissions[0], p) for p in paths])
    labels = torch.tensor([[2, 0, 1, 1]])
    nll = crf.nll(emissions, labels, torch.ones(1, t, dtype=torch.bool))
    expected = torch.logsumexp(scores, 0) - _score(crf, emissions[0], labels[0].tolist())
    assert torch.allclose(nll, expected[None], atol=1e-5)
    best = crf.decode(emissions, torch.ones(1, t, dtype=torch.bool))
    assert best[0].tolist() == paths[int(scores.argmax())]


def test_padding_gives_each_sequence_its_own_result():
    crf = _crf(5, seed=1)
    long, short = torch.randn(1, 7, 5), torch.randn(1, 4, 5)
    batch = torch.cat([long, torch.nn.functional.pad(short, (0, 0, 0, 3), value=9.0)])
    mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    labels = torch.randint(0, 5, (2, 7))
    nll = crf.nll(batch, labels, mask)
    assert torch.allclose(nll[1], crf.nll(short, labels[1:, :4], mask[1:, :4])[0], atol=1e-5)
    assert torch.allclose(nll[0], crf.nll(long, labels[:1], mask[:1])[0], atol=1e-5)
    decoded = crf.decode(batch, mask)
    assert decoded[1, :4].tolist() == crf.decode(short, mask[1:, :4])[0].tolist()
    assert decoded[1, 4:].tolist() == [0, 0, 0]
    assert (nll > 0).all()  # a probability below one
