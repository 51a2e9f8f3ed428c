#!/usr/bin/env python3
"""GCC 12 miscompiles a lambda temporary whose captures are not trivially
copyable when it appears inside a co_await expression: the closure is moved
from the wrong address into the awaiter (strings free a bogus pointer,
shared_ptrs lose or gain counts). Captures by reference and `this` are safe.
Anything else must be a named lambda first:
    auto fn = [c, name] { ... };
    auto r = co_await io::offload(std::move(fn));
Braced temporaries (`Holder{sp, str}`) break the same way; plain function
arguments do not. A braced temporary holding only trivially copyable values
is allowed when its line carries the marker `coawait-trivial`.
Prints each offending site and exits 1 if there is one."""
import pathlib
import re
import sys

INTRO_PREV = set("(,={?:") | {""}


def strip(text):
    # Blank out comments and string/char literals, keeping offsets.
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            for k in range(i, j):
                out[k] = " "
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                if out[k] != "\n":
                    out[k] = " "
            i = j
        elif c == 'R' and text.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', text[i:])
            if not m:
                i += 1
                continue
            end = text.find(")" + m.group(1) + '"', i)
            end = n if end < 0 else end + len(m.group(1)) + 2
            for k in range(i, end):
                if out[k] != "\n":
                    out[k] = " "
            i = end
        elif c in "\"'":
            if c == "'" and i > 0 and text[i - 1].isalnum():  # digit separator
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            for k in range(i + 1, min(j, n)):
                out[k] = " "
            i = j + 1
        else:
            i += 1
    return "".join(out)


def expr_end(s, start):
    depth = 0
    for i in range(start, len(s)):
        c = s[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth < 0:
                return i
        elif c == ";" and depth == 0:
            return i
    return len(s)


def body_end(s, close):
    # The end of the lambda body after its capture list ends at close.
    brace = s.find("{", close)
    if brace < 0:
        return close
    depth = 0
    for k in range(brace, len(s)):
        if s[k] == "{":
            depth += 1
        elif s[k] == "}":
            depth -= 1
            if depth == 0:
                return k
    return len(s)


def matching(s, open_pos):
    depth = 0
    for k in range(open_pos, len(s)):
        if s[k] == "{":
            depth += 1
        elif s[k] == "}":
            depth -= 1
            if depth == 0:
                return k
    return len(s)


def bad_captures(caps):
    bad = []
    depth = 0
    cur = ""
    parts = []
    for c in caps:
        if c in "([{<":
            depth += 1
        elif c in ")]}>":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    for p in parts:
        p = p.strip()
        if not p or p.startswith("&") or p == "this":
            continue
        bad.append(p)
    return bad


def check(path):
    text = path.read_text(errors="replace")
    s = strip(text)
    found = []
    for m in re.finditer(r"(?<!operator )\bco_await\b", s):
        end = expr_end(s, m.end())
        seg_start = m.end()
        i = seg_start
        while i < end:
            if s[i] == "[":
                j = i - 1
                while j >= 0 and s[j] in " \t\n":
                    j -= 1
                prev = s[j] if j >= 0 else ""
                if prev in INTRO_PREV or s[j - 7 : j + 1] == "co_await" or s[j - 5:j + 1] == "return":
                    close = s.find("]", i)
                    after = s[close + 1 :].lstrip()
                    if close > 0 and re.match(r"(\(|\{|mutable\b|->)", after):
                        bad = bad_captures(s[i + 1 : close])
                        if bad:
                            line = text.count("\n", 0, i) + 1
                            found.append((line, ", ".join(bad)))
                        i = body_end(s, close)
            elif s[i] == "{":
                # A braced temporary (aggregate or list-initialised object)
                # suffers the same miscompilation unless all it holds is
                # trivially copyable; such a line says so with a marker.
                line = text.count("\n", 0, i) + 1
                src_line = text.split("\n")[line - 1]
                if "coawait-trivial" not in src_line:
                    found.append((line, None))
                i = matching(s, i)
            i += 1
    return found


def main():
    roots = sys.argv[1:] or ["core", "io", "layers", "api", "tools", "bench", "tests"]
    status = 0
    for root in roots:
        for p in sorted(pathlib.Path(root).rglob("*")):
            if p.suffix not in (".cc", ".h") or not p.is_file():
                continue
            for line, caps in check(p):
                if caps is None:
                    print(f"{p}:{line}: braced temporary inside co_await; name it first, or mark "
                          "the line `// coawait-trivial` if it holds only trivially copyable "
                          "values (GCC 12 moves it from the wrong address)", file=sys.stderr)
                else:
                    print(f"{p}:{line}: lambda capturing by value ({caps}) inside co_await; "
                          "name the lambda first (GCC 12 moves it from the wrong address)",
                          file=sys.stderr)
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
