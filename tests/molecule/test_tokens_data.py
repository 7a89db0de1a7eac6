import subprocess
import sys
from pathlib import Path

import pytest
import torch
from rdkit import Chem

from lebm.core.errors import DataError, ModelLoadError
from lebm.molecule.data import (
    ZINC_SPLITS,
    Standardise,
    canonical,
    clean,
    moses_smiles,
    read_smiles_file,
    standardise,
    zinc250k_assignment,
    zinc250k_file,
    zinc250k_smiles,
    zinc250k_table,
)
from lebm.molecule.tokens import Vocabulary, to_representation, to_smiles, tokenize

DATA = Path(__file__).parent / "data"


def test_round_trip_on_moses():
    smiles = moses_smiles("train")[:3000]
    vocab = Vocabulary.build(smiles)
    ids = vocab.encode(smiles, 60)
    assert vocab.decode(ids) == smiles
    assert all("".join(tokenize(s)) == s for s in smiles)
    assert {"Cl", "Br", "[nH]"} <= set(vocab.tokens) and "l" not in vocab.tokens and "r" not in vocab.tokens


@pytest.mark.parametrize(
    "smiles, tokens",
    [
        ("C[C@@H](N)C(=O)[O-]", ["C", "[C@@H]", "(", "N", ")", "C", "(", "=", "O", ")", "[O-]"]),
        (
            "O=[N+]([O-])c1ccc(Br)cc1",
            ["O", "=", "[N+]", "(", "[O-]", ")", "c", "1", "c", "c", "c", "(", "Br", ")", "c", "c", "1"],
        ),
        ("C%10CCCCCCCCC%10", ["C", "%10", *["C"] * 9, "%10"]),
        ("[13CH3]Cl", ["[13CH3]", "Cl"]),
        ("F/C=C\\F", ["F", "/", "C", "=", "C", "\\", "F"]),
        ("[Na+].[Cl-]", ["[Na+]", ".", "[Cl-]"]),
        ("C#N", ["C", "#", "N"]),
    ],
)
def test_awkward_smiles_tokens(smiles, tokens):
    assert tokenize(smiles) == tokens
    vocab = Vocabulary.build([smiles])
    assert vocab.decode(vocab.encode([smiles], 40)) == [smiles]


def test_selfies_round_trip():
    for smiles in moses_smiles("test")[:200]:
        text = to_representation(smiles, "selfies")
        assert "".join(tokenize(text, "selfies")) == text
        assert canonical(to_smiles(text, "selfies")) == canonical(smiles)


def test_vocabulary_errors(tmp_path):
    vocab = Vocabulary.build(["CCO"])
    assert vocab.unknown("CCN") == ["N"]
    with pytest.raises(DataError, match="more than max_len = 2"):
        vocab.encode(["CCO"], 2)
    with pytest.raises(DataError, match="outside the SMILES alphabet"):
        tokenize("CC&O")
    vocab.save(tmp_path / "vocab.json")
    assert Vocabulary.load(tmp_path / "vocab.json").tokens == vocab.tokens
    (tmp_path / "vocab.json").write_text("{")
    with pytest.raises(ModelLoadError, match="vocab.json is corrupt"):
        Vocabulary.load(tmp_path / "vocab.json")


def test_clean_counts_every_reject(tmp_path):
    raw = read_smiles_file(DATA / "tiny.csv")
    report = clean(raw, max_len=100)
    assert report.counts == {"empty": 1, "unparseable": 2, "duplicate": 1, "too long": 1}
    assert len(report.kept) == 302 and report.kept == [canonical(s) for s in report.kept]
    report.write_rejects(tmp_path / "rejects.csv")
    lines = (tmp_path / "rejects.csv").read_text().splitlines()
    assert lines[0] == "row,input,reason" and len(lines) == 6
    vocab = Vocabulary.build(moses_smiles("train")[:300])
    assert clean(["[Pt]", "CCO"], vocab=vocab).counts == {"unknown token [Pt]": 1}
    assert torch.equal(vocab.encode(["CCO"], 5), vocab.encode(clean(["OCC"]).kept, 5))


def test_file_errors(tmp_path):
    assert len(read_smiles_file(DATA / "tiny.smi")) == 50
    with pytest.raises(DataError, match="does not exist"):
        read_smiles_file(tmp_path / "none.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty.csv is empty"):
        read_smiles_file(tmp_path / "empty.csv")
    with pytest.raises(DataError, match="has no column 'structure'"):
        read_smiles_file(DATA / "tiny.csv", "structure")
    (tmp_path / "header.csv").write_text("smiles\n")
    with pytest.raises(DataError, match="has no rows"):
        read_smiles_file(tmp_path / "header.csv")
    (tmp_path / "x.sdf").write_text("x")
    with pytest.raises(DataError, match="unknown file type"):
        read_smiles_file(tmp_path / "x.sdf")


def test_the_smiles_column_is_found_in_any_letter_case(tmp_path):
    expected = read_smiles_file(DATA / "tiny.csv")
    assert read_smiles_file(DATA / "tiny.csv", "SMILES") == expected  # the file says 'smiles'
    (tmp_path / "upper.csv").write_text("ID,SMILES\n1,CCO\n2,c1ccccc1\n")
    assert (
        read_smiles_file(tmp_path / "upper.csv")
        == read_smiles_file(tmp_path / "upper.csv", "smiles")
        == ["CCO", "c1ccccc1"]
    )
    (tmp_path / "both.csv").write_text("Smiles,SMILES\nCCO,CCN\n")
    with pytest.raises(DataError, match="several columns named 'smiles' up to case"):
        read_smiles_file(tmp_path / "both.csv")
    report = clean(expected, max_len=100)
    report.write_rejects(tmp_path / "rejects.csv")  # the suite's own rejects file reads back
    assert len(read_smiles_file(tmp_path / "rejects.csv")) == 5


@pytest.mark.parametrize(
    "raw, expected, changes, how",
    [
        ("CC(=O)[O-].[Na+]", "CC(=O)O", ["largest fragment kept", "neutralised"], {}),  # sodium acetate
        ("c1ccccc1C(=O)O.O.O", "O=C(O)c1ccccc1", ["largest fragment kept"], {}),  # a hydrate
        ("C[NH3+].[Cl-]", "CN", ["largest fragment kept", "neutralised"], {}),  # methylamine hydrochloride
        ("C[N+](C)(C)C", "C[N+](C)(C)C", [], {}),  # a quaternary ammonium has no neutral form
        ("C[C@H](N)C(=O)O", "C[C@H](N)C(=O)O", [], {}),  # stereo kept by default
        ("C[C@H](N)C(=O)O", "CC(N)C(=O)O", ["stereo dropped"], {"stereo": True}),
        ("[13CH3]O", "CO", ["isotopes dropped"], {"isotopes": True}),
        ("CCO", "CCO", [], {"stereo": True, "isotopes": True}),
    ],
)
def test_standardisation_of_salts_charges_stereo_and_isotopes(raw, expected, changes, how):
    mol, made = standardise(Chem.MolFromSmiles(raw), Standardise(**how))
    assert Chem.MolToSmiles(mol) == canonical(expected) and made == changes


def test_training_data_is_standardised_by_default_and_changes_are_counted(tmp_path):
    raw = ["CC(=O)[O-].[Na+]", "CC(=O)O", "C[NH3+].[Cl-]", "c1ccccc1", "not a molecule"]
    report = clean(raw, max_len=100, standard=Standardise())
    assert report.kept == ["CC(=O)O", "CN", "c1ccccc1"]  # the acetate salt became acetic acid: a duplicate
    assert report.counts == {"duplicate": 1, "unparseable": 1}
    assert report.changed == {"largest fragment kept": 2, "neutralised": 2}
    assert "standardised: 2 largest fragment kept, 2 neutralised" in report.summary()
    assert clean(raw, max_len=100).kept[0] == canonical("CC(=O)[O-].[Na+]")  # off: as given


def test_zinc250k_split_is_fixed_by_the_seed_and_disjoint():
    first = zinc250k_assignment(1000)
    assert (first == zinc250k_assignment(1000)).all()
    assert [(first == k).sum() for k in (0, 1, 2)] == [850, 50, 100]
    rows = [line for line in zinc250k_file().read_text().splitlines()[:600]] + ["CC(=O)[O-].[Na+]", "CC(=O)O", "xx"]
    table = zinc250k_table(rows, jobs=1)
    assert table.equals(zinc250k_table(rows, jobs=2))  # the same with worker processes
    assert table.smiles.is_unique and set(table.split) <= set(ZINC_SPLITS) and "xx" not in set(table.smiles)
    assert (table.smiles == "CC(=O)O").sum() == 1  # the salt standardises to the acid: kept once
    assert any("@" in s for s in table.smiles) and any("+" in s for s in table.smiles)  # stereo, charges kept


@pytest.mark.slow  # minutes: run by `make test-slow` (.ci/run, after `make test`)
def test_the_full_zinc250k_split_is_the_recorded_one():
    test, valid, train = (zinc250k_smiles(split) for split in ("test", "valid", "train"))
    assert (len(train), len(valid), len(test)) == (212019, 12473, 24945)
    assert test[0] == "Cc1c(NC(=O)CSc2nc3sc4c(c3c(=O)[nH]2)CCCC4)c(=O)n(-c2ccccc2)n1C"
    assert valid[0] == "Cc1ccc(CNC(=O)c2ccccc2NC(=O)[C@@H]2CC(=O)N(c3ccc(C)cc3)C2)cc1"
    assert not (set(test) & set(train)) and not (set(valid) & set(train)) and not (set(test) & set(valid))


def test_a_token_the_model_lacks_is_named_and_counted():
    vocab = Vocabulary.build(["CC(N)C(=O)O", "c1ccccc1"])  # no stereo, no charges
    report = clean(
        ["C[C@H](N)C(=O)O", "C[C@@H](N)C(=O)O", "C[N+](C)(C)C", "CC(N)C(=O)O"], vocab=vocab, standard=Standardise()
    )
    assert report.counts == {"unknown token [C@H]": 1, "unknown token [C@@H]": 1, "unknown token [N+]": 1}
    assert "unknown token [C@H]" in report.summary() and len(report.kept) == 1


def test_rdkit_logging_is_left_to_the_user():
    """Importing the library leaves RDKit's error log on (a notebook user's setting is theirs); the library's own
    parsing is quiet about SMILES that do not parse (an expected outcome of decoding), RDKit's own calls are not."""
    code = (
        "import sys\n"
        "from rdkit import Chem, rdBase\n"
        "import lebm.molecule.data, lebm.molecule.metrics, lebm.molecule.oracles, lebm.molecule.scoring\n"
        "print(rdBase.LogStatus())\n"
        "rdBase.LogToPythonStderr()\n"
        "assert lebm.molecule.data.parse('C1CC') is None and lebm.molecule.data.canonical('C1CC') is None\n"
        "print('-- plain RDKit', file=sys.stderr, flush=True)\n"
        "Chem.MolFromSmiles('C1CC')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "rdApp.error:enabled" in run.stdout
    quiet, plain = run.stderr.split("-- plain RDKit")
    assert "Parse Error" not in quiet and "Parse Error" in plain
