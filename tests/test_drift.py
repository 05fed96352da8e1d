"""The source-definitions scanner (interface drift), in-process: signature
changes, renames, removals and uses per language; body, comment and
formatting edits are not interface changes."""

import textwrap

import pytest

import agent_sync as drift


def d(text):
    return textwrap.dedent(text).lstrip("\n")


def names(old, new, path):
    return [name for name, _, _ in drift.interface_changes(d(old), d(new), path)]


PY = """
    MAX_SIZE = 10

    def login(user, password=None):
        # check it
        return check(user, password)

    class Session(Base):
        def open(self, path):
            return path
    """


@pytest.mark.parametrize(
    "new, expected",
    [
        (PY.replace("password=None", "password, otp"), ["login"]),
        (PY.replace("def login(", "def _hidden("), ["login"]),
        (PY.replace("    def open(self, path):\n            return path\n", "    pass\n"), ["Session.open"]),
        (PY.replace("def open(self, path)", "def open(self, path, mode='r')"), ["Session.open"]),
        (PY.replace("Session(Base)", "Session(Base, Mixin)"), ["Session"]),
        (PY.replace("MAX_SIZE = 10", "LIMIT = 10"), ["MAX_SIZE"]),
        (PY.replace("return check(user, password)", "return verify(user)"), []),
        (PY.replace("# check it", "# verify it"), []),
        (PY.replace("(user, password=None)", "(\n        user,\n        password = None,\n    )"), []),
        (PY.replace("MAX_SIZE = 10", "MAX_SIZE = 20"), []),
        (PY + "\ndef added(x):\n    return x\n", []),
    ],
)
def test_python(new, expected):
    assert names(PY, new, "m.py") == expected


def test_python_rename_pairs_old_and_new():
    new = PY.replace("def login(user", "def signin(user")
    assert drift.interface_changes(d(PY), d(new), "m.py") == [
        ("login", "def login(user, password=None)", "def signin(user, password=None)")
    ]


def test_python_fragment_and_broken_input():
    old = "    def open(self, path):\n        return path\n"
    assert names(old, old.replace("path)", "path, mode)"), "m.py") == ["open"]
    assert drift.interface_changes("def f(:\n", "def g():\n  pass\n", "m.py") == []
    assert drift.definitions("def f(:\n", "m.py") == {}


TS = """
    import {x} from './x.js';

    export function request(url: string, options?: Options): Promise<Response> {
        const a = {b: 1};
        return fetch(url);
    }

    export interface Options {
        retry?: number;
        parseJson?: (text: string) => unknown;
    }

    export class Client {
        #secret = 1;
        private hidden(): void {}
        async send(body: string): Promise<void> {
            if (body) { return; }
        }
    }

    export const create = (defaults?: Options): Client => new Client();
    export type Method = 'get' | 'post';
    """


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("url: string, options", "url: string | URL, options", ["request"]),
        ("export function request(", "export function fetchIt(", ["request"]),
        (
            "parseJson?: (text: string) => unknown;",
            "parseJson?: (text: string, ctx: Ctx) => unknown;",
            ["Options.parseJson"],
        ),
        ("retry?: number;", "", ["Options.retry"]),
        ("async send(body: string)", "async send(body: Blob)", ["Client.send"]),
        ("(defaults?: Options): Client", "(defaults: Options): Client", ["create"]),
        ("'get' | 'post'", "'get' | 'post' | 'query'", ["Method"]),
        ("private hidden(): void {}", "private hidden(x: number): void {}", []),
        ("return fetch(url);", "return fetch(url, options);", []),
        ("const a = {b: 1};", "// const a = {b: 1};", []),
        ("(url: string, options?: Options)", "(\n    url: string,\n    options?: Options,\n)", []),
        (
            "export const create = (defaults?: Options): Client => new Client();",
            "export const create = (defaults?: Options): Client => Client.make();",
            [],
        ),
    ],
)
def test_typescript(old, new, expected):
    assert old in d(TS)
    assert names(TS, d(TS).replace(old, new), "src/a.ts") == expected


def test_typescript_definitions():
    defs = drift.definitions(d(TS), "a.ts")
    assert defs["request"] == "export function request(url: string, options?: Options): Promise<Response>"
    assert defs["Client.send"] == "async send(body: string): Promise<void>"
    assert "Client.hidden" not in defs and "a" not in defs


GO = """
    package cobra

    const (
        ShellCompDirectiveError ShellCompDirective = 1 << iota
        internalThing = 2
    )

    type Command struct {
        Use string
        hidden bool
    }

    // Execute runs the command.
    func (c *Command) Execute(args []string) error {
        s := "func (c *Command) Fake() {"
        return nil
    }

    func NoArgs(cmd *Command, args []string) error {
        return nil
    }
    """


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("func NoArgs(cmd *Command, args []string) error", "func NoArgs(cmd *Command) error", ["NoArgs"]),
        ("Execute(args []string) error", "Execute(ctx context.Context, args []string) error", ["Command.Execute"]),
        ("Use string", "Use []string", ["Command.Use"]),
        ("func NoArgs(", "func NoArguments(", ["NoArgs"]),
        (
            "ShellCompDirectiveError ShellCompDirective",
            "ShellCompDirectiveErr ShellCompDirective",
            ["ShellCompDirectiveError"],
        ),
        ("hidden bool", "hidden int", []),
        ("return nil\n}\n\nfunc NoArgs", 'return errors.New("x")\n}\n\nfunc NoArgs', []),
        ("// Execute runs the command.", "// Execute runs it.", []),
        ("func (c *Command) Execute(args []string) error {", "func (c *Command) Execute(args  []string)  error {", []),
    ],
)
def test_go(old, new, expected):
    assert old in d(GO)
    assert names(GO, d(GO).replace(old, new), "cmd.go") == expected


def test_go_rename_reports_new_signature():
    new = d(GO).replace("func NoArgs(", "func NoArguments(")
    assert drift.interface_changes(d(GO), new, "cmd.go") == [
        (
            "NoArgs",
            "func NoArgs(cmd *Command, args []string) error",
            "func NoArguments(cmd *Command, args []string) error",
        )
    ]


@pytest.mark.parametrize(
    "path, source, old, new, expected",
    [
        (
            "lib.rs",
            """
        pub struct Config {
            pub name: String,
            secret: u8,
        }
        impl Config {
            pub fn new(name: &str) -> Self { Self { name: name.into(), secret: 0 } }
            fn private(&self) {}
        }
        pub fn parse<'a>(s: &'a str) -> Config { let c = '{'; Config::new(s) }
        """,
            "pub fn new(name: &str)",
            "pub fn new(name: String)",
            ["Config.new"],
        ),
        ("lib.rs", "pub fn parse<'a>(s: &'a str) -> u8 { let c = '{'; 1 }\n", "let c = '{'; 1", "let c = '}'; 2", []),
        (
            "A.java",
            """
        public class Account {
            public static final int LIMIT = 3;
            private int balance;
            public void deposit(int amount) {
                balance += amount;
            }
        }
        """,
            "deposit(int amount)",
            "deposit(long amount)",
            ["Account.deposit"],
        ),
        (
            "A.kt",
            """
        class Account(val owner: String) {
            fun deposit(amount: Int): Int {
                return amount
            }
            private fun audit() {}
        }
        """,
            "deposit(amount: Int)",
            "deposit(amount: Long)",
            ["Account.deposit"],
        ),
        (
            "A.cs",
            """
        namespace Bank
        {
            public class Account
            {
                public int Balance { get; set; }
                public void Deposit(int amount)
                {
                    Balance += amount;
                }
            }
        }
        """,
            "Deposit(int amount)",
            "Deposit(decimal amount)",
            ["Account.Deposit"],
        ),
        (
            "api.h",
            """
        #define API_VERSION(x) ((x) + 1)
        struct point {
            int x;
        };
        int add_point(struct point *p, int dx);
        """,
            "int add_point(struct point *p, int dx);",
            "int add_point(struct point *p);",
            ["add_point"],
        ),
        (
            "a.rb",
            """
        module Bank
          class Account
            LIMIT = 3
            def deposit(amount)
              @balance += amount
            end
          end
        end
        """,
            "def deposit(amount)",
            "def deposit(amount, note = nil)",
            ["Bank.Account.deposit"],
        ),
        (
            "a.php",
            """
        <?php
        class Account {
            public function deposit(int $amount): void {
                $this->balance += $amount;
            }
            private function audit() {}
        }
        """,
            "deposit(int $amount)",
            "deposit(float $amount)",
            ["Account.deposit"],
        ),
        ("a.php", "<?php\nclass A {\n    private function audit() {}\n}\n", "audit()", "audit($x)", []),
    ],
)
def test_other_languages(path, source, old, new, expected):
    assert old in d(source)
    assert names(source, d(source).replace(old, new), path) == expected


def test_unknown_language_and_fragments_never_raise():
    assert drift.language_of("README.md") is None
    assert drift.interface_changes("a", "b", "README.md") == []
    for path in ("a.ts", "a.go", "a.rs", "a.rb", "a.py", "a.h"):
        drift.interface_changes('"unterminated {', "/* open comment", path)
        drift.uses("}}} ((( '", "x", path)
        drift.touches_definition("", "}", path)


def test_touches_definition():
    body_old, body_new = "    x = compute(a)\n", "    x = compute(a, b)\n"
    assert not drift.touches_definition(body_old, body_new, "m.py")
    assert drift.touches_definition("def f(a):\n", "def f(a, b):\n", "m.py")
    header = "def f(\n    a,\n    b,\n):\n"
    assert drift.touches_definition(header, header.replace("    b,", "    c,"), "m.py")
    assert not drift.touches_definition("\treturn nil\n", "\treturn err\n", "a.go")
    assert drift.touches_definition("func F(a int) {\n", "func F(a string) {\n", "a.go")
    assert not drift.touches_definition("same", "same", "a.txt")


def test_uses_skips_comments_strings_and_definition():
    py = 'def login(u):\n    pass\n\nlogin(1)  # login\ns = "login"\nrelogin = 2\nx.login()\n'
    assert drift.uses(py, "login", "m.py") == [4, 7]
    ts = (
        "export function login(u: string) {}\n// login here\nconst s = 'login';\n"
        "/* login\n login */\nlogin('a');\nconst t = `login`;\n"
    )
    assert drift.uses(ts, "Auth.login", "a.ts") == [6]
    go = 'func (c *C) Run() {}\n// Run it\nx := "Run"\nc.Run()\n'
    assert drift.uses(go, "C.Run", "a.go") == [4]
    assert drift.uses("no match", "login", "a.ts") == []


def test_a_body_edit_is_judged_without_importing_re():
    """Importing re costs a hook 3 ms: an edit that touches no definition
    line is told apart by words and shapes alone, in every language."""
    import subprocess
    import sys
    from pathlib import Path

    body_edits = {
        "a.py": ("    return user\n", "    return user.strip()\n"),
        "a.ts": ("  return get(id);\n", "  return get(id, 2);\n"),
        "a.go": ("\treturn nil\n", "\treturn err\n"),
        "a.rs": ("    let x = 1;\n", "    let x = 2;\n"),
        "A.java": ("        count += 1;\n", "        count += 2;\n"),
        "a.kt": ("    println(x)\n", "    println(y)\n"),
        "a.cs": ("        Console.WriteLine(x);\n", "        Console.WriteLine(y);\n"),
        "a.rb": ("    puts x\n", "    puts y\n"),
        "a.php": ("    echo $x;\n", "    echo $y;\n"),
    }
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r}); import agent_sync as a\n"
        f"edits = {body_edits!r}\n"
        "touched = [p for p, (o, n) in edits.items() if a.touches_definition(o, n, p)]\n"
        "print(touched, 're' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] False", out


#: the pattern python_hint stands in for, string methods instead of re (a hook's first look)
PY_HINT = __import__("re").compile(r"\s*(?:async\s+def|def|class)\s|[A-Z_][A-Z0-9_]*\s*[:=]")


@pytest.mark.parametrize(
    "line",
    [
        "def f(x):",
        "  async  def g()",
        "async with x:",
        "class\tB(C):",
        "classic = 1",
        "FOO: int = 1",
        "  FOO = 1",
        "_X=1",
        "Foo = 1",
        "X == 1",
        "1A = 2",
        "FOO.bar = 1",
        "BAR : int",
        "def",
        "",
    ],
)
def test_python_hint_says_what_the_pattern_says(line):
    assert drift.python_hint(line) == bool(PY_HINT.match(line))


def test_python_hint_agrees_with_the_pattern_on_any_line():
    from hypothesis import given
    from hypothesis import strategies as st

    words = st.sampled_from(["def", "class", "async", "FOO", "_B2", "x", " ", "\t", "=", ":", "(", "1", "é", "\u00a0"])

    @given(st.lists(words, max_size=8).map("".join))
    def agree(line):
        assert drift.python_hint(line) == bool(PY_HINT.match(line)), repr(line)

    agree()
