"""``geomclaims probe --model DIR``: the claims that apply to a pretrained model, judged on the user's own model
(issue 28; the plan and the session are ``geomclaims.probe``, the model checks ``geomclaims.probe_model``).

Every check (model folder, architecture, tokenizer, memory, text file, claim ids, profile, ``--out``) runs before
anything is written; then results.json and REPORT.md are written in the usual layout. Progress goes to stderr: one
line per embedded chunk of texts and one per judged case. Exit 0 when every case was judged (whatever the verdicts:
they are findings about the model), 1 when a case errored or nothing was judged, 2 for an unusable input, 130 on
Ctrl-C (what was judged is written; the same command resumes from the experiment store).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from geomclaims.cli_common import Exit, emit_json, positive_int


def add_probe_parser(sub: Any) -> None:
    p = sub.add_parser(
        "probe",
        help="judge the claims that apply to a pretrained model on your own model folder",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model", required=True, help="a Hugging Face model folder (save_pretrained): encoder or decoder"
    )
    p.add_argument("--tokenizer", help="the tokenizer's folder (default: the model folder)")
    p.add_argument(
        "--corpus",
        help="a UTF-8 text file, one text per line (`source<TAB>text` names a source), or the name of a suite corpus "
        "a claim reads (P11: an LM corpus, e.g. python_docs); default: the suite's corpora",
    )
    p.add_argument(
        "--claims",
        nargs="+",
        action="extend",
        help="claim ids, case ids or * ? patterns among the claims that apply (default: all of them)",
    )
    p.add_argument(
        "--profile", choices=("ci", "full"), default="ci", help="the studies' settings (default: ci)"
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default: auto)")
    p.add_argument("--out", required=True, help="output directory for results.json and REPORT.md")
    p.add_argument("--no-cache", action="store_true", help="recompute every experiment and embedding")
    p.add_argument(
        "--workers", type=positive_int, default=1, help="local Dask worker processes (default 1: serial)"
    )
    p.add_argument("--threads-per-worker", type=positive_int, default=1, help="torch/BLAS threads per job")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=cmd_probe)


def cmd_probe(args: argparse.Namespace) -> int:
    from geomclaims.claims import load_all
    from geomclaims.cli_run import _check_environment, _check_out_dir, _environment_error
    from geomclaims.executor import executor_for, run_cases
    from geomclaims.probe import ProbeSession, check_profile, corpus_names, probe_cases
    from geomclaims.probe_model import inspect_corpus, inspect_model, register
    from geomclaims.runner import refuse_committed_baseline_dir, resolve_device
    from geomclaims.store import Store, clean_stale_tmp

    check_profile(args.profile)
    _check_environment()
    out = Path(args.out)
    refuse_committed_baseline_dir(out, "--out")
    device = resolve_device(args.device)
    papers = load_all(args.claims_dir)
    note(f"checking {args.model} (config, architecture, tokenizer, memory) and hashing its files")
    info = inspect_model(args.model, args.tokenizer, device)
    corpus = inspect_corpus(args.corpus, corpus_names(papers)) if args.corpus else None
    register(info)
    cases = probe_cases(papers, info.name, args.claims)
    _check_out_dir(out)  # the first write: every input check above has passed
    store = Store(enabled=not args.no_cache)
    session = ProbeSession(
        profile=args.profile,
        store=store,
        device=device,
        threads=args.threads_per_worker,
        model=info,
        corpus=corpus,
    )
    runnable = session.plan(cases)
    kind = "decoder" if info.decoder else "encoder"
    note(
        f"{Path(info.dir).name} = {info.name} ({info.model_type} {kind}, {info.n_parameters:,} parameters, "
        f"~{info.memory_needed / 2**30:.1f} GiB); corpus: {(corpus.path or corpus.name) if corpus else 'the suite corpora'}; "
        f"{len(cases)} claim case(s): {len(runnable)} to run, {len(session.untestable)} untestable before running"
    )
    if store.enabled:
        clean_stale_tmp(store.root)
    done = [0]

    def judged(entry: dict[str, Any]) -> None:
        session.record(entry)
        done[0] += 1
        stability = "" if entry.get("stability") is None else f" (stability {entry['stability']:.2f})"
        note(f"case {done[0]}/{len(cases)}: {entry['id']}  {entry['verdict']}{stability}")

    for case in cases:
        if case.case_id in session.untestable:
            judged(session.evaluate_untestable(case))
    handler = _chunk_progress()
    try:
        with executor_for(
            "dask", workers=args.workers, threads_per_worker=args.threads_per_worker, device=device
        ) as ex:
            if ex is not None:
                session.executor_info = ex.describe()
            outcome = run_cases(
                session,
                runnable,
                ex,
                keep_going=True,
                on_entry=judged,
                progress=False,
                stop_on=_environment_error,
            )
    except KeyboardInterrupt:
        if session.entries:
            _write(session, out, args.claims_dir)
        note(f"interrupted: {len(session.entries)} case(s) written to {out}; the same command resumes")
        return Exit.INTERRUPTED
    finally:
        logging.getLogger("geomclaims.resources.embeddings").removeHandler(handler)
    if not session.entries:
        note("error: the probe judged nothing; no results written")
        return Exit.ERROR
    results, report = _write(session, out, args.claims_dir)
    errored = [case_id for case_id, _ in outcome.errors] + [case_id for case_id, _ in outcome.skipped]
    for case_id, message in [*outcome.errors, *outcome.skipped]:
        note(f"{case_id}: {message}")
    code = Exit.ERROR if errored else Exit.OK
    if args.json:
        emit_json(_summary(results, out, code))
    else:
        print(summary_table(results))
        print(f"results: {out / 'results.json'}\nreport:  {report}")
    return code


def note(text: str) -> None:
    print(f"[geomclaims] probe: {text}", file=sys.stderr, flush=True)


def _chunk_progress() -> logging.Handler:
    """One stderr line per embedded chunk of texts (``resources.embeddings`` logs each at INFO)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[geomclaims] probe: %(message)s"))
    logger = logging.getLogger("geomclaims.resources.embeddings")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler


def _write(session: Any, out: Path, claims_dir: Any) -> tuple[dict[str, Any], Path]:
    from geomclaims.report import render_report
    from geomclaims.runner import write_results

    results = session.results()
    write_results(results, out / "results.json")
    return results, render_report(results, out, claims_dir)


def summary_table(results: dict[str, Any]) -> str:
    """One row per case: verdict, measured value [95% CI], the null's median, stability."""
    from tabulate import tabulate

    rows = []
    for e in results["claims"]:
        m = e.get("measured") or {}
        ci = m.get("ci") or [None, None]
        value = "-" if m.get("value") is None else f"{m['value']:.3g}"
        if ci[0] is not None and ci[0] != ci[1]:
            value += f" [{ci[0]:.3g}, {ci[1]:.3g}]"
        null = (e.get("null") or {}).get("median")
        rows.append(
            [
                e["id"],
                e["verdict"],
                value,
                "-" if null is None else f"{null:.3g}",
                "-" if e.get("stability") is None else f"{e['stability']:.2f}",
            ]
        )
    return tabulate(rows, headers=["claim case", "verdict", "measured [95% CI]", "null median", "stability"])


def _summary(results: dict[str, Any], out: Path, code: Exit) -> dict[str, Any]:
    return {
        "exit_code": int(code),
        "results": str(out / "results.json"),
        "report": str(out / "REPORT.md"),
        "probe": results["probe"],
        "cases": [
            {
                "id": e["id"],
                "verdict": e["verdict"],
                "stability": e.get("stability"),
                "explanation": e["explanation"],
            }
            for e in results["claims"]
        ],
    }
