import pytest
import torch

from lebm.core.errors import ConfigError, DataError
from lebm.text.data import bbc_news, decode, encode, load_tokenizer, read_text_file, train_tokenizer

TEXTS = ["The cat sat on the mat.", "A dog barked at the cat!", "Cats and dogs, together?", "the end"]


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_tokenizer_round_trip_through_transformers(tmp_path, kind):
    from transformers import PreTrainedTokenizerFast

    tok = train_tokenizer(TEXTS * 5, kind, vocab_size=300 if kind == "bpe" else 50)
    assert [tok.convert_tokens_to_ids(t) for t in ["<pad>", "<bos>", "<eos>", "<unk>"]] == [0, 1, 2, 3]
    tok.save_pretrained(str(tmp_path / "tok"))
    again = load_tokenizer(tmp_path / "tok")
    assert isinstance(again, PreTrainedTokenizerFast)
    a, b = encode(tok, TEXTS, 20), encode(again, TEXTS, 20)
    assert torch.equal(a.ids, b.ids)
    texts = decode(again, b.ids)
    if kind == "word":
        assert texts[0] == "the cat sat on the mat ."  # lower-cased, punctuation split
    else:
        assert texts == TEXTS  # byte-level BPE is lossless


def test_bpe_round_trip_on_arbitrary_unicode():
    """Byte-level BPE trained on English gives back any string: scripts it never saw, emoji, combining marks,
    ligatures and compatibility characters (no normalisation), runs of spaces and tabs, control characters."""
    import random

    rng = random.Random(0)
    ranges = [
        (0x20, 0x7E),
        (0xA0, 0x24F),
        (0x300, 0x36F),
        (0x370, 0x3FF),
        (0x400, 0x4FF),
        (0x590, 0x6FF),
        (0x900, 0x97F),
        (0x3040, 0x30FF),
        (0x4E00, 0x9FFF),
        (0xAC00, 0xD7A3),
        (0xFB00, 0xFB06),
        (0x1D400, 0x1D7FF),
        (0x1F300, 0x1FAFF),
        (0x1, 0x1F),
    ]
    texts = ["ﬁnal ½ café ｆｕｌｌ", "e\u0301 vs \u00e9", "a  b\t\tc", "😀👍🏽 👨‍👩‍👧", "مرحبا بالعالم", "東京タワー"]  # noqa: RUF001 (fullwidth on purpose)
    texts += ["".join(chr(rng.randint(*rng.choice(ranges))) for _ in range(rng.randint(1, 40))) for _ in range(200)]
    texts = [t for t in texts if t.strip()]
    tok = train_tokenizer(TEXTS * 20, "bpe", vocab_size=300)
    enc = encode(tok, texts, 1000)
    assert len(enc.kept) == len(texts)
    assert not (enc.ids == 3).any()  # nothing is unknown
    assert decode(tok, enc.ids) == [t.strip() for t in texts]


def test_word_vocabulary_cap_maps_rare_words_to_unk():
    tok = train_tokenizer(["a a a b b c"], "word", vocab_size=6)  # 4 specials + 2 words
    assert len(tok) == 6
    ids = encode(tok, ["a b c"], 5).ids[0].tolist()
    assert ids[:5] == [1, tok.convert_tokens_to_ids("a"), tok.convert_tokens_to_ids("b"), 3, 2]


def test_encode_skips_or_truncates_overlong_texts_and_counts_them():
    tok = train_tokenizer(TEXTS, "word", 100)
    skipped = encode(tok, TEXTS, 5, "skip")
    assert skipped.counts["overlong_skipped"] == 3 and skipped.kept == [3]
    cut = encode(tok, TEXTS, 5, "truncate")
    assert cut.counts["overlong_truncated"] == 3 and len(cut.kept) == 4
    assert cut.ids.shape == (4, 7) and (cut.ids[:, 6] != 0).sum() == 3  # <eos> after 5 tokens
    with pytest.raises(DataError, match="no text fits"):
        encode(tok, TEXTS[:3], 2, "skip")
    with pytest.raises(ConfigError, match="overlong"):
        encode(tok, TEXTS, 5, "drop")


def test_read_text_file_counts_empty_lines_bad_bytes_and_labels(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"pos\tgood film\n\n   \nneg\tbad \xff film\nno label here\n")
    corpus = read_text_file(path)
    assert corpus.texts == ["good film", "bad \ufffd film", "no label here"]
    assert corpus.labels == ["pos", "neg", None]
    assert corpus.counts == {"lines": 5, "empty": 2, "undecodable": 1, "texts": 3}


@pytest.mark.parametrize(
    "content, message",
    [(None, "does not exist"), (b"", "is empty"), (b"\n \n", "is empty"), (b"lab\t\n", "no non-empty lines")],
)
def test_read_text_file_errors(tmp_path, content, message):
    path = tmp_path / "x.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_text_file(path)


def test_bbc_splits_are_deterministic_disjoint_and_labeled():
    train, valid, test = (bbc_news(s) for s in ("train", "valid", "test"))
    docs = train.counts["documents"] + valid.counts["documents"] + test.counts["documents"]
    assert docs + train.counts["repeated_documents_dropped"] == 2225 and docs > 2000
    assert len(train.texts) > 20000 and len(valid.texts) > 2500 and len(test.texts) > 2500
    assert set(test.labels) == {"business", "entertainment", "politics", "sports", "tech"}
    assert bbc_news("test").texts == test.texts
    shared = set(test.texts) & set(train.texts)  # only stock phrases may repeat across documents
    assert len(shared) < 0.02 * len(set(test.texts)), sorted(shared)[:5]
    with pytest.raises(ConfigError):
        bbc_news("dev")


def test_bpe_model_never_emits_unknown_tokens_or_pieces_of_characters():
    """A BPE model's decoding leaves out <unk> and tokens that hold part of a UTF-8 character, so even an untrained
    model's samples are clean text; with only <pad> and <bos> left out, the same samples are not."""
    from lebm.text.model import TextConfig, TextModel

    torch.manual_seed(0)
    tok = train_tokenizer(TEXTS * 5 + ["Café £5 — naïve résumé, 東京 😀"] * 5, "bpe", vocab_size=280)
    model = TextModel(TextConfig(tokenizer="bpe", max_len=30), tok).eval()
    z = torch.randn(200, model.prior.latent_dim)
    clean = model.decode_latents(z, "sample")
    assert not any("\ufffd" in t or "<unk>" in t for t in clean)
    model.generator.never_emitted = [0, 1]
    assert sum("\ufffd" in t for t in model.decode_latents(z, "sample")) > 20
