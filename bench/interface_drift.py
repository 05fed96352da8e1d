#!/usr/bin/env python3
"""Accuracy of interface-drift detection, replayed over a real git history.

    python3 bench/interface_drift.py --repo GIT_DIR --lang python|typescript|go
        [--commits N] [--labels FILE] [--module PATH] [--json OUT] [--verbose]

For each of the last N non-merge commits touching the language (or each
commit of --labels FILE), every changed non-test file of the language is
passed, before and after, to `interface_changes(old, new, path)`.  Each
reported (file, name) is scored against the truth: for Python an `ast`
comparison written here (public top-level functions and classes, methods of
public top-level classes, ALL_CAPS constants; signatures compared as
`ast.dump` of arguments, returns, bases and annotations, independently of
the drift module's strings); for other languages a hand-labelled file
{"repo": ..., "commits": {sha: [[path, name], ...]}}.  For each reported
change, `uses(text, name, path)` counts the other files of the language in
the tree at that commit that a notice would name.

The drift functions come from --module PATH, else from `agent_sync` at the
repository root.  Reads the git dir only (`git show`, `git cat-file`); no work
tree is needed.  It reports; it never fails because a number is low.
"""

import argparse
import ast
import importlib.util
import json
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  #: repository root, where agent_sync.py lives
LANGUAGE_GLOBS = {
    "python": ("*.py",),
    "typescript": ("*.ts", "*.tsx", "*.mts", "*.cts"),
    "go": ("*.go",),
}  #: pathspecs of each benchmarked language
TEST_PATH = re.compile(
    r"(^|/)(tests?|__tests__|testdata|testing)/|_test\.(go|py)$|(^|/)test_[^/]*\.py$"
    r"|\.(test|spec)\.[cm]?[jt]sx?$"
)  #: test files: scored as dependents, not as interfaces
DEFAULT_COMMITS = 60  #: commits replayed without --labels
DRIFT_FUNCTIONS = ("interface_changes", "uses", "language_of")  #: what the bench calls


def load_drift(module_path):
    """The module holding interface_changes, uses and language_of."""
    if module_path:
        spec = importlib.util.spec_from_file_location("drift_under_test", module_path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    sys.path.insert(0, str(ROOT))
    import agent_sync

    missing = [f for f in DRIFT_FUNCTIONS if not hasattr(agent_sync, f)]
    if missing:
        sys.exit(f"agent_sync has no {', '.join(missing)} yet: pass --module PATH")
    return agent_sync


class Git:
    """Blob reads through one `git cat-file --batch` process."""

    def __init__(self, git_dir):
        self.git_dir = git_dir
        self.batch = subprocess.Popen(
            ["git", "--git-dir", git_dir, "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.cache = {}

    def run(self, *args):
        return subprocess.run(
            ["git", "--git-dir", self.git_dir, *args], capture_output=True, text=True, check=True
        ).stdout

    def read(self, rev):
        """Text of `commit:path` or a blob id; '' when missing."""
        if rev in self.cache:
            return self.cache[rev]
        self.batch.stdin.write(rev.encode() + b"\n")
        self.batch.stdin.flush()
        header = self.batch.stdout.readline().split()
        if len(header) < 3:
            text = ""
        else:
            data = self.batch.stdout.read(int(header[2]))
            self.batch.stdout.read(1)
            text = data.decode("utf-8", "replace")
        self.cache[rev] = text
        return text

    def tree(self, sha):
        """[(path, blob id)] of the commit."""
        rows = self.run("ls-tree", "-r", sha).splitlines()
        return [(line.split("\t", 1)[1], line.split()[2]) for line in rows if " blob " in line]


def commits(git, language, count, labels):
    if labels:
        return list(labels["commits"])
    return git.run("log", "--no-merges", "--format=%H", f"-{count}", "--", *LANGUAGE_GLOBS[language]).split()


def changed_files(git, sha, drift, language):
    """Non-test files of the language that the commit changed (renames as delete + add)."""
    out = git.run("show", "--format=", "--name-only", "--no-renames", sha)
    return [p for p in out.splitlines() if p and drift.language_of(p) == language and not TEST_PATH.search(p)]


def _public(name):
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


def _function_key(node):
    returns = ast.dump(node.returns) if node.returns else ""
    return ("function", type(node).__name__, ast.dump(node.args), returns)


def python_api(text):
    """name -> comparable key of each public definition, or None when it does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    api = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _public(node.name):
            api[node.name] = _function_key(node)
        elif isinstance(node, ast.ClassDef) and _public(node.name):
            api[node.name] = ("class", tuple(ast.dump(b) for b in node.bases + node.keywords))
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and _public(sub.name):
                    api[f"{node.name}.{sub.name}"] = _function_key(sub)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name) and t.id.isupper()]
            if len(names) == 1:
                annotation = getattr(node, "annotation", None)
                api[names[0]] = ("constant", ast.dump(annotation) if annotation else "")
    return api


def python_truth(old, new):
    """Names whose key changed or that went away; nothing if either side does not parse."""
    before, after = python_api(old), python_api(new)
    if before is None or after is None:
        return set()
    return {name for name, key in before.items() if after.get(name) != key}


def dependents(git, drift, sha, path, name, language, tree_cache):
    """Other files of the language at the commit that use the name."""
    if sha not in tree_cache:
        tree_cache[sha] = [(p, blob) for p, blob in git.tree(sha) if drift.language_of(p) == language]
    word = name.rpartition(".")[2]
    return sum(
        1 for p, blob in tree_cache[sha] if p != path and word in git.read(blob) and drift.uses(git.read(blob), name, p)
    )


def replay(git, drift, language, shas, labels):
    """Per commit: predicted and true (path, name) pairs, dependents per notice, seconds in drift."""
    rows, tree_cache = [], {}
    for sha in shas:
        predicted, truth, fanout, seconds = set(), set(), [], 0.0
        for path in changed_files(git, sha, drift, language):
            old, new = git.read(f"{sha}^:{path}"), git.read(f"{sha}:{path}")
            start = time.perf_counter()
            found = drift.interface_changes(old, new, path)
            seconds += time.perf_counter() - start
            predicted |= {(path, name) for name, _, _ in found}
            fanout += [dependents(git, drift, sha, path, name, language, tree_cache) for name, _, _ in found]
            if labels is None:
                truth |= {(path, name) for name in python_truth(old, new)}
        if labels is not None:
            truth = {tuple(pair) for pair in labels["commits"][sha]}
        rows.append(
            {
                "sha": sha,
                "predicted": sorted(predicted),
                "truth": sorted(truth),
                "dependents": fanout,
                "seconds": seconds,
            }
        )
    return rows


def _ratio(a, b):
    return round(a / b, 3) if b else None


def score(rows):
    tp = sum(len(set(map(tuple, r["predicted"])) & set(map(tuple, r["truth"]))) for r in rows)
    predicted = sum(len(r["predicted"]) for r in rows)
    truth = sum(len(r["truth"]) for r in rows)
    commit_tp = sum(1 for r in rows if r["predicted"] and r["truth"])
    fanout = [n for r in rows for n in r["dependents"]]
    return {
        "commits": len(rows),
        "true_pairs": truth,
        "predicted_pairs": predicted,
        "tp": tp,
        "fp": predicted - tp,
        "fn": truth - tp,
        "precision": _ratio(tp, predicted),
        "recall": _ratio(tp, truth),
        "commit_precision": _ratio(commit_tp, sum(1 for r in rows if r["predicted"])),
        "commit_recall": _ratio(commit_tp, sum(1 for r in rows if r["truth"])),
        "dependents_per_notice": _ratio(sum(fanout), len(fanout)),
        "ms_per_commit": round(1000 * sum(r["seconds"] for r in rows) / max(1, len(rows)), 2),
    }


def print_report(args, git, shas, result, rows):
    first, last = (git.run("log", "-1", "--format=%h %cs", s).strip() for s in (shas[-1], shas[0]))
    print(f"{args.lang}: {args.repo}  {len(shas)} commits  {first} .. {last}")
    keys = [
        "commits",
        "true_pairs",
        "predicted_pairs",
        "tp",
        "fp",
        "fn",
        "precision",
        "recall",
        "commit_precision",
        "commit_recall",
        "dependents_per_notice",
        "ms_per_commit",
    ]
    width = max(map(len, keys))
    for key in keys:
        print(f"  {key:<{width}}  {result[key]}")
    if args.verbose:
        for r in rows:
            predicted, truth = set(map(tuple, r["predicted"])), set(map(tuple, r["truth"]))
            for pair in sorted(predicted - truth):
                print(f"  FP {r['sha'][:7]} {pair[0]} {pair[1]}")
            for pair in sorted(truth - predicted):
                print(f"  FN {r['sha'][:7]} {pair[0]} {pair[1]}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", required=True, help="git dir of the replayed repository")
    parser.add_argument("--lang", required=True, choices=sorted(LANGUAGE_GLOBS))
    parser.add_argument("--commits", type=int, default=DEFAULT_COMMITS)
    parser.add_argument("--labels", help="hand labels (required for languages other than python)")
    parser.add_argument("--module", help="file defining the drift functions (default: agent_sync)")
    parser.add_argument("--json", help="write the result and per-commit rows here")
    parser.add_argument("--verbose", action="store_true", help="list false positives and negatives")
    args = parser.parse_args(argv)
    if args.lang != "python" and not args.labels:
        parser.error("--labels is required for " + args.lang)
    drift = load_drift(args.module)
    labels = json.loads(Path(args.labels).read_text()) if args.labels else None
    git = Git(args.repo)
    shas = commits(git, args.lang, args.commits, labels)
    rows = replay(git, drift, args.lang, shas, labels)
    result = score(rows)
    print_report(args, git, shas, result, rows)
    if args.json:
        Path(args.json).write_text(json.dumps({"repo": args.repo, "lang": args.lang, **result, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
