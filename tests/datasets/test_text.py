"""Character vocabulary, text loading and time-major batches."""

import numpy as np
import pytest

from tensorir.datasets import CharVocabulary, load_text, sequence_batches, split_ids, stream_batches

TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 20


def test_vocabulary_round_trip():
    vocab = CharVocabulary.from_text(TEXT)
    assert list(vocab.chars) == sorted(set(TEXT))
    ids = vocab.encode(TEXT)
    assert ids.dtype == np.int32 and len(ids) == len(TEXT)
    assert vocab.decode(ids) == TEXT
    assert vocab.filter("To be?!") == "To be"
    with pytest.raises(KeyError, match="'@' is not in the vocabulary"):
        vocab.encode("@")


def test_load_text_from_file_and_search_dirs(tmp_path):
    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / "tinyshakespeare" / "input.txt").write_text(TEXT)
    corpus = load_text(search_dirs=[tmp_path])
    assert corpus.text == TEXT and corpus.source.endswith("input.txt")
    other = tmp_path / "other.txt"
    other.write_text("abcabc")
    assert len(load_text(other).vocabulary) == 3
    with pytest.raises(FileNotFoundError):
        load_text(tmp_path / "missing.txt")


def test_load_text_fallback_says_so(tmp_path, capsys):
    corpus = load_text(search_dirs=[tmp_path])
    assert "tiny-shakespeare not found" in capsys.readouterr().err
    assert len(corpus.text) > 50_000  # enough for the LSTM example's quick and tour settings
    assert "Beautiful is better than ugly." in corpus.text


def test_sequence_batches_are_time_major_and_shifted():
    ids = np.arange(1000, dtype=np.int32)
    batches = list(sequence_batches(ids, seq_len=9, batch_size=4, rng=np.random.default_rng(0)))
    # 1000 // 10 windows at most, grouped by 4, incomplete batch dropped.
    assert len(batches) in (24, 25)
    seen = []
    for x, y in batches:
        assert x.shape == y.shape == (9, 4) and x.dtype == np.int32
        np.testing.assert_array_equal(y[:-1], x[1:])  # targets are the inputs shifted by one step
        np.testing.assert_array_equal(y[-1], x[-1] + 1)
        seen += list(x[0])
    assert len(set(seen)) == len(seen)  # windows do not overlap
    assert len(list(sequence_batches(ids, 9, 4, max_batches=3))) == 3


def test_stream_batches_continue_each_column():
    ids = np.arange(500, dtype=np.int32)
    batches = list(stream_batches(ids, seq_len=10, batch_size=3))
    for (x0, y0), (x1, _) in zip(batches, batches[1:]):
        np.testing.assert_array_equal(x1[0], x0[-1] + 1)  # the next batch continues each stream
        np.testing.assert_array_equal(y0, x0 + 1)


def test_split_and_errors():
    train, valid = split_ids(np.arange(100), 0.1)
    assert len(train) == 90 and valid[0] == 90
    with pytest.raises(ValueError, match="too short"):
        next(sequence_batches(np.arange(10), seq_len=8, batch_size=4))
    with pytest.raises(ValueError, match="valid_fraction"):
        split_ids(np.arange(10), 1.5)
