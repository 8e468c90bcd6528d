"""geomclaims probe (issue 28): a tiny saved model runs the claims that apply to it end to end; every refusal is
one line naming the input, before anything is written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import probe_models as pm
import pytest

from geomclaims import registry
from geomclaims.cli import main
from geomclaims.plugin import PluginError, ProbeSpec
from geomclaims.probe import patch_settings, probe_cases
from geomclaims.resources import local

# The ci settings shrunk to seconds (3 seeds, 2 epochs, 8 texts per source): plumbing of the real code path.
SMALL = {
    "stratified": dict(
        seeds=[0, 1, 2],
        n_per_source=8,
        n_pool_per_source=10,
        n_null_draws=3,
        n_untrained_draws=2,
        n_scatter=20,
        min_stratum_size=2,
        pca_dim=8,
    ),
    "signature": dict(n_null=50),
}
CONFTEST = f"""
from geomclaims import registry
for study, small in {SMALL!r}.items():
    registry.load_study(study)
    registry._PROFILES[study]["ci"].update(small)
st = registry._PROFILES["stratified"]["ci"]
st["moe"] = {{**st["moe"], "epochs": 2}}
sg = registry._PROFILES["signature"]["ci"]
sg["pretrained"] = {{**sg["pretrained"], "max_bytes_per_corpus": 3000, "top_c": 20}}
"""


@pytest.fixture
def small_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Shrunk ci settings, a private results store, no local registrations left from another test."""
    for study, small in SMALL.items():
        registry.load_study(study)
        settings = {**registry._PROFILES[study]["ci"], **small}
        monkeypatch.setitem(registry._PROFILES[study], "ci", settings)
    st, sg = registry._PROFILES["stratified"]["ci"], registry._PROFILES["signature"]["ci"]
    st["moe"] = {**st["moe"], "epochs": 2}
    sg["pretrained"] = {**sg["pretrained"], "max_bytes_per_corpus": 3000, "top_c": 20}
    monkeypatch.setenv("GEOMCLAIMS_RESULTS_CACHE", str(tmp_path / "store"))
    monkeypatch.setenv(local.ENV, "")  # registrations made during the test are undone with it
    return tmp_path


def _texts(path: Path, n: int, n_sources: int = 2) -> Path:
    path.write_text("\n".join(pm.sample_texts(n, n_sources)) + "\n", encoding="utf-8")
    return path


def _probe(tmp: Path, model: Path, *extra: str) -> tuple[int, Path]:
    out = tmp / "out"
    rc = main(["probe", "--model", str(model), "--out", str(out), "--device", "cpu", *extra])
    return rc, out


@pytest.mark.parametrize("kind", ["encoder", "decoder"])
def test_a_tiny_saved_model_runs_end_to_end(small_ci: Path, kind: str, capsys: pytest.CaptureFixture) -> None:
    model = (pm.save_encoder if kind == "encoder" else pm.save_decoder)(small_ci / kind)
    corpus = _texts(small_ci / "texts.txt", 40)
    rc, out = _probe(small_ci, model, "--corpus", str(corpus))
    assert rc == 0
    results = json.loads((out / "results.json").read_text())
    probe = results["probe"]
    name = probe["model"]["name"]
    assert name.startswith("local-") and probe["model"]["sha256"].startswith(name[len("local-") :])
    assert set(probe["model"]["weights"]) == {"model.safetensors"}
    assert probe["corpus"]["per_source"] == {"src0": 20, "src1": 20}
    entries = {e["id"]: e for e in results["claims"]}
    assert "S3-dim-spread-text" in {e["claim_id"] for e in entries.values()}
    assert all(e["verdict"] != "error" for e in entries.values())
    assert not any("expected_verdict" in e for e in entries.values())  # the suite's expectations do not apply
    # per-model claims carry the user's model; pair and synthetic claims do not apply
    assert all(name in e["id"] for e in entries.values() if e["study"] == "stratified")
    assert not {"S6-model-size-nmi", "S9-recover-ari"} & {e["claim_id"] for e in entries.values()}
    p11 = entries["P11"]
    if kind == "encoder":
        assert p11["verdict"] == "untestable" and "needs a decoder" in p11["explanation"]
    else:
        assert p11["verdict"] != "untestable" and p11["details"]["model"] == name
    assert (small_ci / "store" / "embeddings").glob(f"{name}-*.npy")  # cached by the model's content name
    report = (out / "REPORT.md").read_text()
    assert "**Probe of your model**" in report and probe["model"]["sha256"] in report
    err = capsys.readouterr().err
    assert "embedded local-" in err and f"case {len(entries)}/{len(entries)}" in err
    # resumable: the same command takes every judged case from the store and gives the same results
    rc2, _ = _probe(small_ci, model, "--corpus", str(corpus))
    again = json.loads((out / "results.json").read_text())
    assert rc2 == 0 and [e["measured"] for e in again["claims"]] == [e["measured"] for e in results["claims"]]
    assert "computing" not in capsys.readouterr().err


def _fails(tmp: Path, model: Path, capsys: pytest.CaptureFixture, *extra: str) -> str:
    rc, out = _probe(tmp, model, *extra)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert not out.exists()  # nothing written
    return err


def test_not_a_model_directory(small_ci: Path, capsys: pytest.CaptureFixture) -> None:
    assert "no such directory" in _fails(small_ci, small_ci / "nope", capsys)
    (small_ci / "empty").mkdir()
    assert "not a model directory: no config.json" in _fails(small_ci, small_ci / "empty", capsys)
    weightless = pm.save_encoder(small_ci / "enc")
    (weightless / "model.safetensors").unlink()
    assert "not a model directory: no weight file" in _fails(small_ci, weightless, capsys)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"model_type": "no_such_type"}, "unsupported architecture: model_type 'no_such_type'"),
        (
            {"model_type": "t5", "is_encoder_decoder": True},
            "unsupported architecture 't5': an encoder-decoder",
        ),
    ],
)
def test_unsupported_architecture(
    small_ci: Path, capsys: pytest.CaptureFixture, config: dict, message: str
) -> None:
    folder = pm.save_encoder(small_ci / "enc")
    (folder / "config.json").write_text(json.dumps(config))
    assert message in _fails(small_ci, folder, capsys)


def test_missing_tokenizer_and_a_separate_tokenizer_folder(
    small_ci: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = pm.save_decoder(small_ci / "dec", tokenizer=False)
    err = _fails(small_ci, folder, capsys)
    assert f"--model {folder}: missing tokenizer" in err and "pass --tokenizer DIR" in err
    assert "missing tokenizer" in _fails(small_ci, folder, capsys, "--tokenizer", str(small_ci))
    tok = small_ci / "tok"
    pm.save_tokenizer(tok, bert=False)
    rc, out = _probe(
        small_ci, folder, "--tokenizer", str(tok), "--corpus", str(_texts(small_ci / "t.txt", 40))
    )
    assert rc == 0
    assert json.loads((out / "results.json").read_text())["probe"]["model"]["tokenizer"] == str(tok)


def test_model_too_large_for_memory(small_ci: Path, capsys: pytest.CaptureFixture, monkeypatch) -> None:
    from geomclaims import probe_model

    monkeypatch.setattr(probe_model, "available_memory", lambda device: 2**20)
    err = _fails(small_ci, pm.save_encoder(small_ci / "enc"), capsys)
    # 9,920 parameters counted from the safetensors header, before any load
    assert "model too large for the memory at hand" in err and "9,920 parameters" in err


def test_too_few_texts_and_one_source_make_claims_untestable(small_ci: Path) -> None:
    model = pm.save_decoder(small_ci / "dec")
    few = _texts(small_ci / "few.txt", 6)  # 3 per source, the claims draw 8 per source per seed
    rc, out = _probe(small_ci, model, "--corpus", str(few), "--claims", "S3-dim-spread-text", "P11")
    entries = {e["claim_id"]: e for e in json.loads((out / "results.json").read_text())["claims"]}
    assert rc == 0 and set(entries) == {"S3-dim-spread-text", "P11"}
    s3 = entries["S3-dim-spread-text"]
    assert s3["verdict"] == "untestable"
    assert (
        "too few texts" in s3["explanation"]
        and "'src0': 3" in s3["explanation"]
        and "n_per_source=8" in s3["explanation"]
    )
    assert entries["P11"]["verdict"] != "untestable"  # P11 reads the file's bigrams, not a per-source sample
    one = _texts(small_ci / "one.txt", 20, n_sources=1)
    rc, out = _probe(
        small_ci, model, "--corpus", str(one), "--claims", "S5-source-strata-text", "S4-sparsity-spread-text"
    )
    entries = {e["claim_id"]: e for e in json.loads((out / "results.json").read_text())["claims"]}
    assert entries["S5-source-strata-text"]["verdict"] == "untestable"
    assert "has one source" in entries["S5-source-strata-text"]["explanation"]
    assert entries["S4-sparsity-spread-text"]["verdict"] not in ("untestable", "error")


def test_bad_claims_profile_and_corpus_are_usage_errors(
    small_ci: Path, capsys: pytest.CaptureFixture
) -> None:
    model = pm.save_encoder(small_ci / "enc")
    err = _fails(small_ci, model, capsys, "--claims", "E1-effective-rank")
    assert "no claim that applies to a pretrained model matches" in err and "S3-dim-spread-text" in err
    assert "no such file" in _fails(small_ci, model, capsys, "--corpus", str(small_ci / "missing.txt"))
    err = _fails(small_ci, model, capsys, "--corpus", "nosuchcorpus")
    assert "neither a text file nor a corpus" in err and "python_docs" in err
    (small_ci / "blank.txt").write_text("\n \n")
    assert "no texts" in _fails(small_ci, model, capsys, "--corpus", str(small_ci / "blank.txt"))
    with pytest.raises(SystemExit):  # argparse: smoke never reads a model
        main(["probe", "--model", str(model), "--out", str(small_ci / "o"), "--profile", "smoke"])


def test_probe_cases_replace_the_model_parameter_once_per_distinct_case() -> None:
    from geomclaims.claims import load_all

    cases = probe_cases(load_all(), "local-x")
    ids = [c.case_id for c in cases]
    assert len(ids) == len(set(ids))
    assert "S3-dim-spread-text[local-x-text]" in ids and "P11" in ids
    assert not [i for i in ids if "minilm" in i]
    assert {c.claim.experiment for c in cases} == {"stratified/strata", "signature/pretrained"}
    picked = [c.case_id for c in probe_cases(load_all(), "local-x", ["S3-dim-spread-*"])]
    assert picked == [i for i in ids if i.startswith("S3-dim-spread-")]


def test_patch_settings_and_probe_spec_checks() -> None:
    spec = ProbeSpec(experiments=("a/b",), model_settings=("models", "pre.model"), corpus_settings=("data",))
    settings = {"models": ["m1", "m2"], "pre": {"model": "m1", "k": 1}, "data": "real"}
    patched = patch_settings(settings, spec, "local-x", "textfile-y", "s")
    assert patched == {"models": ["local-x"], "pre": {"model": "local-x", "k": 1}, "data": "textfile-y"}
    assert settings["models"] == ["m1", "m2"]  # a copy
    assert patch_settings(settings, spec, "local-x", None, "s")["data"] == "real"
    with pytest.raises(ValueError, match=r"settings have no key 'pre\.nope'"):
        patch_settings(
            settings, ProbeSpec(experiments=("a/b",), model_settings=("pre.nope",)), "m", None, "s"
        )
    with pytest.raises(PluginError, match="unknown model properties"):
        ProbeSpec(experiments=("a/b",), model_param="model", needs={"a/b": ("wings",)})
    with pytest.raises(PluginError, match="model_param or model_settings"):
        ProbeSpec(experiments=("a/b",))


def test_pytest_claims_model_runs_the_probe_cases_as_items(small_ci: Path) -> None:
    model = pm.save_decoder(small_ci / "dec")
    corpus = _texts(small_ci / "texts.txt", 40)
    (small_ci / "conftest.py").write_text(CONFTEST)
    (small_ci / "test_mine.py").write_text(
        "import pytest\npytestmark = [pytest.mark.claims('stratified_manifolds')]\n\n"
        "def test_claim(claim_case, check_claim):\n    check_claim(claim_case)\n"
    )
    run = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(small_ci / "test_mine.py")),
            *("--claims-model", str(model), "--claims-corpus", str(corpus), "--claims-executor", "serial"),
            *("--claims-results", str(small_ci / "res" / "results.json"), "-k", "S10 or S3-dim-spread-text"),
        ],
        cwd=small_ci,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = run.stdout + run.stderr
    entries = json.loads((small_ci / "res" / "results.json").read_text())["claims"]
    ids = {e["id"] for e in entries}
    assert any(i.startswith("S10-descriptive-text[local-") for i in ids), out
    assert "passed" in out and "S10-descriptive-text[local-" in out
    # an item fails exactly when its claim does not hold for the model
    failed = {e["id"] for e in entries if e["verdict"] not in ("verified", "replicated")}
    assert out.count("FAILED") == len(failed), out


def test_an_untied_decoder_makes_the_tied_embedding_claims_untestable(
    small_ci: Path, capsys: pytest.CaptureFixture
) -> None:
    model = pm.save_decoder(small_ci / "dec", tied=False)
    corpus = str(_texts(small_ci / "t.txt", 40))
    rc, out = _probe(small_ci, model, "--corpus", corpus, "--claims", "P11*", "--json")
    entries = json.loads((out / "results.json").read_text())["claims"]
    assert rc == 0 and {e["claim_id"] for e in entries} == {"P11", "P11-digits", "P11-digits-tilde"}
    assert all("needs tied input/output embeddings" in e["explanation"] for e in entries)
    summary = json.loads(capsys.readouterr().out)  # --json: one document on stdout
    assert summary["exit_code"] == 0 and summary["results"] == str(out / "results.json")
    assert {c["verdict"] for c in summary["cases"]} == {"untestable"} and summary["probe"]["model"]["decoder"]


def test_a_corpus_name_feeds_the_claims_that_read_it(small_ci: Path) -> None:
    from geomclaims.resources import list_sources

    if "python_docs" not in {r["name"] for r in list_sources() if r.get("cached")}:
        pytest.skip("python_docs is not in the fetch cache (geomclaims fetch --profile ci)")
    model = pm.save_decoder(small_ci / "dec")
    rc, out = _probe(small_ci, model, "--corpus", "python_docs", "--claims", "P11", "S3-dim-spread-text")
    results = json.loads((out / "results.json").read_text())
    entries = {e["claim_id"]: e for e in results["claims"]}
    assert rc == 0 and results["probe"]["corpus"]["name"] == "python_docs"
    assert entries["P11"]["verdict"] != "untestable" and entries["P11"]["details"]["corpus_bytes"] > 0
    assert "reads its own corpus or a text file" in entries["S3-dim-spread-text"]["explanation"]
