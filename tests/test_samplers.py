from unittest import mock

from speechzoo.data.samplers import SortaGradBatchSampler

DURATIONS = [5.0, 1.0, 3.0, 2.0, 8.0, 4.0, 7.0, 6.0, 0.5, 9.0]


def test_first_epoch_is_sorted_by_duration():
    sampler = SortaGradBatchSampler(DURATIONS, batch_size=3)
    flat = [i for batch in sampler for i in batch]
    assert [DURATIONS[i] for i in flat] == sorted(DURATIONS)
    assert len(list(sampler)) == len(sampler) == 4


def test_later_epochs_shuffle_buckets_of_similar_length():
    sampler = SortaGradBatchSampler(list(range(100)), batch_size=10, seed=1)
    sampler.set_epoch(1)
    first = list(sampler)
    sampler.set_epoch(2)
    second = list(sampler)
    assert first != second
    for batches in (first, second):
        assert sorted(i for b in batches for i in b) == list(range(100))
        assert [b[0] for b in batches] != sorted(b[0] for b in batches)  # not in length order
        assert all(max(b) - min(b) < 25 for b in batches)  # similar lengths within a batch


def test_shards_across_ranks():
    sampler = SortaGradBatchSampler(list(range(50)), batch_size=4)
    shards = []
    for rank in range(2):
        with mock.patch.object(SortaGradBatchSampler, "_rank_world", return_value=(rank, 2)):
            shards.append(list(sampler))
            assert len(sampler) == 6
    assert len(shards[0]) == len(shards[1]) == 6
    assert not {i for b in shards[0] for i in b} & {i for b in shards[1] for i in b}


def test_evaluation_shards_drop_nothing():
    sampler = SortaGradBatchSampler(list(range(50)), batch_size=4, sorted_epochs=0, shuffle=False)
    seen = []
    for rank in range(2):
        with mock.patch.object(SortaGradBatchSampler, "_rank_world", return_value=(rank, 2)):
            seen += [i for b in sampler for i in b]
            assert len(sampler) == (7 if rank == 0 else 6)
    assert sorted(seen) == list(range(50))


def test_lightning_reaches_set_epoch():
    """Lightning sets the epoch through `loader.batch_sampler.sampler`, not the batch sampler."""
    from lightning.fabric.utilities.data import _set_sampler_epoch
    from torch.utils.data import DataLoader

    sampler = SortaGradBatchSampler(list(range(20)), batch_size=4)
    _set_sampler_epoch(DataLoader(range(20), batch_sampler=sampler), 3)
    assert sampler.epoch == 3


def test_start_at_resumes_an_epoch_in_its_order():
    sampler = SortaGradBatchSampler(list(range(40)), batch_size=4, seed=2)
    sampler.set_epoch(2)
    whole = list(sampler)
    sampler.set_epoch(0)
    sampler.start_at(2, 3)
    assert list(sampler) == whole[3:]
    assert list(sampler) == whole  # the skip applies to one pass only


def test_a_skip_for_a_finished_epoch_does_not_reach_the_next():
    # Lightning resumes a checkpoint written at an epoch's last batch with start_at(e, all),
    # then moves on with set_epoch(e + 1).
    sampler = SortaGradBatchSampler(list(range(40)), batch_size=4, seed=2)
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    sampler.start_at(0, 10)
    sampler.set_epoch(1)
    assert list(sampler) == epoch1
