"""SMILES and SELFIES tokenisation and the vocabulary saved with a model.

SMILES tokens: bracket atoms ([nH], [C@@H], [O-], [13CH3]) whole, the two-letter organic atoms
Cl and Br, two-digit ring closures %nn, and every other character (atoms, bonds, branches,
single-digit ring closures) alone. SELFIES tokens are the [..] symbols of `selfies`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

import selfies as sf
import torch

from lebm.core.errors import DataError, ModelLoadError

Representation = Literal["smiles", "selfies"]
SMILES_TOKEN = re.compile(r"\[[^\[\]]+\]|Br|Cl|%\d{2}|[BCNOPSFIbcnops]|[0-9]|[=#\-+\\/:~@?>*$.()]")
PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
SPECIALS = [PAD, BOS, EOS]


def tokenize(text: str, representation: Representation = "smiles") -> list[str]:
    """Split a SMILES (or SELFIES) string into tokens; raises DataError on characters it cannot place."""
    if representation == "selfies":
        tokens = list(sf.split_selfies(text))
        if "".join(tokens) != text:
            raise DataError(f"not a SELFIES string: {text!r}")
        return tokens
    tokens = SMILES_TOKEN.findall(text)
    if "".join(tokens) != text:
        raise DataError(f"SMILES {text!r} has characters outside the SMILES alphabet")
    return tokens


def to_representation(smiles: str, representation: Representation) -> str:
    """The training string for a canonical SMILES: itself, or its SELFIES encoding."""
    if representation == "selfies":
        encoded = sf.encoder(smiles)
        if encoded is None:
            raise DataError(f"SMILES {smiles!r} has no SELFIES encoding")
        return encoded
    return smiles


def to_smiles(text: str, representation: Representation) -> str:
    """Back from the model's string to SMILES (SELFIES always decodes to some molecule)."""
    if representation == "selfies":
        try:
            return sf.decoder(text) or ""
        except sf.DecoderError:
            return ""
    return text


class Vocabulary:
    """Token <-> id map. Ids 0, 1, 2 are <pad>, <bos>, <eos>."""

    def __init__(self, tokens: list[str], representation: Representation = "smiles"):
        if tokens[: len(SPECIALS)] != SPECIALS or len(set(tokens)) != len(tokens):
            raise DataError("a vocabulary starts with <pad>, <bos>, <eos> and lists each token once")
        self.tokens, self.representation = list(tokens), representation
        self.index = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(cls, texts: list[str], representation: Representation = "smiles") -> Vocabulary:
        seen: set[str] = set()
        for text in texts:
            seen.update(tokenize(text, representation))
        return cls(SPECIALS + sorted(seen), representation)

    def __len__(self) -> int:
        return len(self.tokens)

    def unknown(self, text: str) -> list[str]:
        """Tokens of `text` this vocabulary cannot represent."""
        return [t for t in tokenize(text, self.representation) if t not in self.index]

    def encode(self, texts: list[str], max_len: int) -> torch.Tensor:
        """[B, max_len + 2] ids: <bos> tokens <eos> <pad>...; texts must fit and use known tokens."""
        out = torch.zeros(len(texts), max_len + 2, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [self.index[t] for t in tokenize(text, self.representation)]
            if len(ids) > max_len:
                raise DataError(f"{text!r} has {len(ids)} tokens, more than max_len = {max_len}")
            out[row, : len(ids) + 2] = torch.tensor([1, *ids, 2])
        return out

    def decode(self, ids: torch.Tensor) -> list[str]:
        """Strings from id rows, read up to the first <eos> (a leading <bos> is skipped)."""
        texts = []
        for row in ids.tolist():
            parts = []
            for i in row[1:] if row and row[0] == 1 else row:
                if i == 2:
                    break
                if i > 2:
                    parts.append(self.tokens[i])
            texts.append("".join(parts))
        return texts

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"representation": self.representation, "tokens": self.tokens}, indent=1))

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        if not path.is_file():
            raise ModelLoadError(f"{path} is missing")
        try:
            data = json.loads(path.read_text())
            return cls(data["tokens"], data["representation"])
        except (json.JSONDecodeError, KeyError, TypeError, DataError) as e:
            raise ModelLoadError(f"{path} is corrupt ({e})") from None
