"""Every program that tortie, its tests, bench/ and scripts/ run is in scripts/programs.txt,
which scripts/setup.sh installs from (issue 11 item 1).

A static scan finds what the sources execute: argument lists given to subprocess, the
lab's and the dataplane's runners, os.execvp and shutil.which, and the commands of the
shell scripts. A site whose program is computed (a variable, a format string) cannot be
read statically: it is listed in DYNAMIC with the programs it can run, and a new such site
fails the scan until it is listed, so nothing runs unlisted.
"""

from __future__ import annotations

import ast
import itertools
import re
import shlex
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "scripts" / "programs.txt"
RUNNERS = {("subprocess", name) for name in ("run", "Popen", "check_output", "check_call", "call")} | {
    ("asyncio", "create_subprocess_exec")}
NETNS_HELPERS = {"_in", "in_ns"}  # helpers that prefix "ip netns exec NS" to a command
OURS = {"TORTIE", "tortie"}  # the project's own entry point, installed into .venv by setup

# Sites that compute their program: "<file>:<function>" -> what they can run.
DYNAMIC = {
    "tortie/dataplane/commands.py:run": set(),  # Runner.run runs what its callers give it: they are scanned
    "tortie/dataplane/commands.py:save": {f"{ip}tables-{backend}-save" for ip in ("ip", "ip6")
                                          for backend in ("nft", "legacy")},
    "tortie/dataplane/commands.py:restore": {f"{ip}tables-{backend}-restore" for ip in ("ip", "ip6")
                                             for backend in ("nft", "legacy")},
    "tortie/dataplane/backend.py:save": {"iptables-nft-save", "iptables-legacy-save"},
    "tortie/lab/etcd.py:start": {"etcd"},
    "bench/cli.py:wall_time": {"python3"},
    "tests/test_logs.py:test_cli_closed_pipe_and_exit_statuses": {"bash", "head"},  # a shell pipeline
    "tests/test_dataplane_kernel.py:_cali_lines": {"iptables-nft-save", "iptables-legacy-save"},
    "tests/test_dataplane_kernel.py:test_tampering_is_repaired_and_foreign_rules_stay": {"iptables-nft", "ipset"},
    "tests/test_exclusion.py:test_a_policy_iptables_restore_refuses_is_found_denies_and_the_rest_converges": {
        "iptables-nft-save", "iptables-legacy-save"},
}


def listed() -> dict[str, tuple[str, str]]:
    """program -> (Debian package, when: run or tests), from scripts/programs.txt."""
    out = {}
    for line in PROGRAMS.read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            program, package, when = words
            out[program] = (package, when)
    return out


class _Scan(ast.NodeVisitor):
    """The programs one Python file runs, and its sites whose program it cannot read."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.function = "<module>"
        self.programs: set[str] = set()
        self.dynamic: set[str] = set()
        self.assigned: dict[str, ast.expr] = {}

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:  # noqa: N802 - ast's name
        outer, self.function = self.function, node.name
        self.generic_visit(node)
        self.function = outer

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]  # noqa: N815

    def visit_Assign(self, node: ast.Assign) -> None:  # noqa: N802
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.assigned[target.id] = node.value
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:  # noqa: N802
        if node.args:
            callee = ast.unparse(node.func)
            if callee in ("shutil.which", "os.execvp", "os.execv"):
                self.add(node.args[0])
            elif callee.rpartition(".")[::2] in RUNNERS or callee.endswith("runner.run"):
                self.argv(node.args[0])
            elif callee in NETNS_HELPERS and len(node.args) > 1:
                self.netns_exec(node.args[1:])
        self.generic_visit(node)

    def netns_exec(self, command: list[ast.expr]) -> None:
        """``ip netns exec NS COMMAND...``: ip, and COMMAND's program (a caller's, if starred)."""
        self.programs.add("ip")
        first = command[0]
        if isinstance(first, (ast.List, ast.Tuple, ast.BinOp)):
            self.argv(first)
        elif not isinstance(first, ast.Starred):
            self.add(first)

    def argv(self, expr: ast.expr) -> None:
        if isinstance(expr, ast.Call) and ast.unparse(expr.func) in NETNS_HELPERS and len(expr.args) > 1:
            self.netns_exec(expr.args[1:])
        elif isinstance(expr, ast.BinOp):
            self.argv(expr.left)
        elif isinstance(expr, ast.Name) and expr.id in self.assigned:
            self.argv(self.assigned[expr.id])
        elif isinstance(expr, (ast.List, ast.Tuple)) and expr.elts:
            self.add(expr.elts[0])
            words = [e.value if isinstance(e, ast.Constant) else None for e in expr.elts[:3]]
            if words == ["ip", "netns", "exec"] and len(expr.elts) > 4:
                self.netns_exec(expr.elts[4:])
        else:
            self.dynamic.add(f"{self.path}:{self.function}")

    def add(self, expr: ast.expr) -> None:
        names = _constant_strings(expr)
        if names is not None:
            self.programs |= {n for n in names if n not in OURS}
        elif not _is_ours(expr):
            self.dynamic.add(f"{self.path}:{self.function}")


def _constant_strings(expr: ast.expr) -> set[str] | None:
    """Every value a string expression can have, when it is built from constants only."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return {expr.value}
    if isinstance(expr, ast.IfExp):
        a, b = _constant_strings(expr.body), _constant_strings(expr.orelse)
        return a | b if a is not None and b is not None else None
    if isinstance(expr, ast.JoinedStr):
        parts = []
        for value in expr.values:
            inner = value.value if isinstance(value, ast.FormattedValue) else value
            options = _constant_strings(inner)
            if options is None:
                return None
            parts.append(sorted(options))
        return {"".join(combo) for combo in itertools.product(*parts)}
    return None


def _is_ours(expr: ast.expr) -> bool:
    """sys.executable, or the tortie entry point next to it."""
    if isinstance(expr, ast.Attribute) and expr.attr == "executable":
        return True
    return isinstance(expr, ast.Name) and expr.id in OURS


def python_sites() -> tuple[set[str], set[str]]:
    programs: set[str] = set()
    dynamic: set[str] = set()
    for path in sorted(itertools.chain(*(ROOT.glob(f"{d}/**/*.py") for d in ("tortie", "tests", "bench")))):
        relative = str(path.relative_to(ROOT))
        scan = _Scan(relative)
        scan.visit(ast.parse(path.read_text()))
        programs |= scan.programs
        dynamic |= scan.dynamic
    return programs, dynamic


SHELL_WORDS = {"if", "then", "else", "elif", "fi", "for", "do", "done", "while", "until", "case", "esac", "in",
               "function", "return", "exit", "set", "cd", "echo", "printf", "export", "local", "declare", "read",
               "trap", "shift", "exec", "source", "true", "false", "test", "command", "break", "continue", "wait",
               "kill", "eval", "unset", "type", "time"}
_SEPARATORS = set(";&|()\n")


def shell_commands(text: str, functions: frozenset[str] = frozenset()) -> Iterator[str]:
    """The words in command position of a shell script (after line starts, ;, &, |, ( and
    inside $(...)), less keywords, builtins, the script's functions (and ``functions``, those
    of the script a $(...) is in), assignments, loop variables and paths."""
    functions |= set(re.findall(r"^\s*([A-Za-z_][\w-]*)\s*\(\)", text, re.MULTILINE))
    text = re.sub(r"<<-?'?(\w+)'?\n.*?\n\s*\1\n", "\n", text, flags=re.DOTALL)  # here-documents are data
    text = re.sub(r"\$\(\(.*?\)\)", "0", text)  # arithmetic
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|()\n")
    lexer.whitespace = " \t"
    lexer.wordchars += "$-{}[]!*%+,./:=@^~"
    start, after = True, ""
    for token in lexer:
        if set(token) <= _SEPARATORS:
            after = "=(" if token == "(" and after.endswith("=") else ""
            start = after != "=("  # an array assignment's values are no command
            continue
        for inner in re.findall(r"\$\(([^()]*)\)", token):
            yield from shell_commands(inner, functions)
        if start and after != "for":
            if re.fullmatch(r"[A-Za-z_][\w\[\]$]*\+?=.*", token) or token in ("then", "do", "else", "!", "{"):
                after = token
                continue
            start = False
            if re.fullmatch(r"[a-z][a-z0-9+._-]*", token) and token not in SHELL_WORDS | functions:
                yield token
        after = token


def shell_sites() -> set[str]:
    return {c for path in sorted((ROOT / "scripts").glob("*.sh")) for c in shell_commands(path.read_text())} - OURS


def test_every_program_the_sources_run_is_listed_for_setup() -> None:
    programs, dynamic = python_sites()
    assert dynamic <= DYNAMIC.keys(), f"list what these sites run in DYNAMIC: {sorted(dynamic - DYNAMIC.keys())}"
    assert DYNAMIC.keys() <= dynamic, f"stale DYNAMIC entries: {sorted(DYNAMIC.keys() - dynamic)}"
    run = programs | set().union(*DYNAMIC.values()) | shell_sites()
    missing = run - listed().keys()
    assert not missing, f"run but not in scripts/programs.txt (so never installed by setup): {sorted(missing)}"


def test_the_scan_finds_the_programs_we_know_are_run() -> None:
    programs, _ = python_sites()
    run = programs | set().union(*DYNAMIC.values()) | shell_sites()
    assert {"ip", "iptables-nft-restore", "ip6tables-legacy-save", "ipset", "conntrack", "etcd", "etcdctl",
            "openssl", "promtool", "iperf3", "rsyslogd", "unshare", "sysctl", "apt-get"} <= run


def test_setup_installs_from_the_list() -> None:
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "scripts/programs.txt" in setup
    assert "declare -A" not in setup  # no second list
    assert ("etcd-client", "tests") == listed()["etcdctl"]
