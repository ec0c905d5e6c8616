#!/bin/sh
# Generates docs/api.md, the API reference, from the comments of the public
# headers: include/vidaction.h, then include/vidaction/*.h in the umbrella's
# #include order, then any header the umbrella does not include, by name.
#
#   sh test/doc/gen-api.sh [--check] [--include DIR] [--output FILE]
#
# Per header: its top-of-file comment, then each declaration (VIDA_API
# functions, typedefs, enums, #define constants) as a C block, whole and as
# written, under the comment that documents it. A comment block directly
# above a declaration documents it, and also every declaration that follows
# with no blank line between (a _create/_free pair, an enum and its getter).
#
# --check writes nothing: exit 1 listing every VIDA_API function that no
# comment documents (header, line, name), and exit 1 when FILE differs from
# what the headers give now (run `make api-docs`); exit 0 otherwise.
# --include and --output point at another header tree (holding vidaction.h
# and vidaction/) and output file (the test uses them). Exit 2 on a usage
# error or a header this script cannot read. Python 3, standard library only.
exec "${PYTHON:-python3}" - "$0" "$@" <<'PYEOF'
import difflib
import os
import re
import sys

PROG = "gen-api.sh"
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Fail(Exception):
    pass


class Item:
    def __init__(self, kind, first, last, **kw):
        self.kind = kind  # blank, comment, pp, decl
        self.first = first  # line index (0-based) of the item's first and last line
        self.last = last
        self.__dict__.update(kw)


def comment_text(lines):
    """The text of a /* */ block given as its lines: markers gone, ' * ' prefixes gone,
    indentation beyond them kept, blank lines at both ends dropped."""
    body = "\n".join(lines)
    body = body[body.index("/*") + 2:body.rindex("*/")]
    out = []
    for k, line in enumerate(body.split("\n")):
        line = line.rstrip()
        if k > 0:
            line = line.lstrip()
            if line.startswith("*"):
                line = line[1:]
                if line.startswith(" "):
                    line = line[1:]
        else:
            line = line.strip()
        out.append(line)
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return out


def scan_statement(lines, i, where):
    """Reads the declaration starting at line i up to its ';' (or the '}' that
    closes a function body). Returns (last line index, code without comments,
    trailing comment lines or None)."""
    depth = 0
    in_comment = False
    code = []
    j = i
    while j < len(lines):
        line = lines[j]
        k = 0
        while k < len(line):
            c = line[k]
            if in_comment:
                if line.startswith("*/", k):
                    in_comment = False
                    k += 2
                    code.append(" ")
                    continue
                k += 1
                continue
            if line.startswith("/*", k):
                in_comment = True
                k += 2
                continue
            if line.startswith("//", k):
                break
            if c == '"':
                end = line.find('"', k + 1)
                code.append(line[k:end + 1 if end >= 0 else len(line)])
                k = end + 1 if end >= 0 else len(line)
                continue
            code.append(c)
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            ended = (c == ";" and depth == 0) or (
                c == "}" and depth == 0 and re.search(r"\)\s*\{", "".join(code)) and
                not re.match(r"\s*(typedef|struct|enum|union)\b", "".join(code)))
            if ended:
                return finish_statement(lines, j, line[k + 1:], "".join(code), where)
            k += 1
        code.append("\n")
        j += 1
    raise Fail("%s:%d: a declaration with no end (';')" % (where, i + 1))


def finish_statement(lines, j, rest, code, where):
    rest = rest.strip()
    if not rest:
        return j, code, None
    if not rest.startswith("/*"):
        raise Fail("%s:%d: more than one declaration on a line" % (where, j + 1))
    tail = [rest]
    while "*/" not in tail[-1][2 if len(tail) == 1 else 0:]:
        j += 1
        if j >= len(lines):
            raise Fail("%s: a comment with no end" % where)
        tail.append(lines[j])
    if tail[-1][tail[-1].rindex("*/") + 2:].strip():
        raise Fail("%s:%d: code after a comment" % (where, j + 1))
    return j, code, comment_text(tail)


def enum_label(names):
    if not names:
        return "enum"
    if len(names) == 1:
        return "`%s`" % names[0]
    prefix = os.path.commonprefix(names)
    prefix = prefix[:prefix.rfind("_") + 1]
    if len(prefix) > len("VIDA_"):
        return "`%s*`" % prefix
    return "`%s` … `%s`" % (names[0], names[-1])


def classify(code, where, line_no):
    """kind (function, define, typedef, enum, other) and the names of a declaration."""
    flat = " ".join(code.split())
    tokens = IDENT.findall(flat)
    if "VIDA_API" in tokens:
        if tokens.count("VIDA_API") > 1:
            raise Fail("%s:%d: two VIDA_API declarations in one statement" % (where, line_no))
        m = re.search(r"\b(?!VIDA_API\b|__attribute__\b)([A-Za-z_]\w*)\s*\(", flat)
        if m:
            return "function", [m.group(1)]
        m = re.search(r"(\w+)\s*(\[[^\]]*\]\s*)*;\s*$", flat)
        return "other", [m.group(1) if m else "?"]
    if re.match(r"(_Static_assert|static_assert)\b", flat):
        return "skip", []
    if tokens and tokens[0] == "typedef":
        m = re.search(r"\(\s*\*\s*(\w+)\s*\)\s*\(", flat)
        if m:
            return "typedef", [m.group(1)]
        m = re.search(r"(\w+)\s*(\[[^\]]*\]\s*)*;\s*$", flat)
        if not m:
            raise Fail("%s:%d: a typedef whose name this script cannot find" % (where, line_no))
        return "typedef", [m.group(1)]
    if tokens and tokens[0] == "enum":
        m = re.match(r"enum\s+(\w+)\s*\{", flat)
        if m:
            return "enum", ["enum " + m.group(1)]
        body = flat[flat.find("{") + 1:flat.rfind("}")]
        names = [part.split("=")[0].strip() for part in body.split(",") if part.strip()]
        return "enum", [enum_label(names)]
    m = re.search(r"(\w+)\s*(\[[^\]]*\]\s*)*;\s*$", flat)
    return "other", [m.group(1) if m else "declaration"]


def parse_header(path, name):
    """The header's intro, its entries (in order) and the undocumented functions."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    items = []
    i = 0
    depth = 0
    guard = None
    while i < len(lines):
        s = lines[i].strip()
        if not s:
            items.append(Item("blank", i, i))
            i += 1
            continue
        if s.startswith("/*"):
            j = i
            start = lines[i].index("/*") + 2
            while "*/" not in lines[j][start if j == i else 0:]:
                j += 1
                if j >= len(lines):
                    raise Fail("%s:%d: a comment with no end" % (path, i + 1))
            if lines[j][lines[j].rindex("*/") + 2:].strip():
                raise Fail("%s:%d: code after a comment on one line" % (path, j + 1))
            items.append(Item("comment", i, j, text=comment_text(lines[i:j + 1])))
            i = j + 1
            continue
        if s.startswith("//"):
            raise Fail("%s:%d: a // comment (the headers use /* */)" % (path, i + 1))
        if s.startswith("#"):
            j = i
            while lines[j].rstrip().endswith("\\") and j + 1 < len(lines):
                j += 1
            m = re.match(r"#\s*(\w+)\s*(\w*)", s)
            directive, arg = (m.group(1), m.group(2)) if m else ("", "")
            item = Item("pp", i, j)
            if directive in ("if", "ifdef", "ifndef"):
                depth += 1
                if guard is None and directive == "ifndef" and depth == 1:
                    guard = arg
            elif directive == "endif":
                depth -= 1
            elif directive == "define" and arg != guard and arg != "VIDA_API" and depth <= 1:
                item = Item("decl", i, j, code="", kind2="define", names=[arg], trailing=None)
            elif directive == "include":
                item.include = True
            items.append(item)
            i = j + 1
            continue
        if depth > 1 and s in ('extern "C" {', "}"):
            items.append(Item("pp", i, i))
            i += 1
            continue
        j, code, trailing = scan_statement(lines, i, path)
        kind, names = classify(code, path, i + 1)
        if kind == "skip":
            items.append(Item("pp", i, j))
        else:
            items.append(Item("decl", i, j, code=code, kind2=kind, names=names, trailing=trailing))
        i = j + 1

    intro = []
    if items and items[0].kind == "comment":
        intro = items.pop(0).text

    # Entries: ("group", doc lines or None, [decl items]) or ("note", comment lines).
    entries = []
    pending = None  # a comment directly above what comes next
    group = None  # the group a declaration on the next line joins
    for it in items:
        if it.kind == "decl":
            if pending is not None:
                group = ["group", pending.text, [it]]
                entries.append(group)
                pending = None
            elif group is not None:
                group[2].append(it)
            else:
                group = ["group", it.trailing, [it]]
                entries.append(group)
            continue
        if pending is not None:
            entries.append(["note", pending.text])
            pending = None
        group = None
        if it.kind == "comment":
            pending = it
    if pending is not None:
        entries.append(["note", pending.text])

    undocumented = []
    for e in entries:
        if e[0] == "group" and not e[1]:
            for d in e[2]:
                if d.kind2 == "function" and not d.trailing:
                    undocumented.append((path, d.first + 1, d.names[0]))
    includes = [lines[it.first] for it in items if getattr(it, "include", False)]
    return {"name": name, "lines": lines, "intro": intro, "entries": entries,
            "undocumented": undocumented, "includes": includes}


# --- markdown ----------------------------------------------------------------

# An identifier (a.b and a->b chains too), with "*" in front when it is a
# dereference (*p), "()" or a "*" pattern (VIDA_E*) after it.
INLINE_IDENT = re.compile(
    r"(?<![\w`\\#*])((?<![^\s(\[])\*)?([A-Za-z_][A-Za-z0-9_]*(?:(?:->|\.)[A-Za-z_][A-Za-z0-9_]*)*)"
    r"(\(\))?(\*(?!\w))?")


def inline(text):
    """Comment prose as markdown: identifiers with '_' or '->' become code spans,
    the rest is escaped so that it reads as written."""
    out = []
    for k, part in enumerate(re.split(r"(`[^`]*`)", text)):
        if k % 2 == 1:
            out.append(part)
            continue
        pieces = []
        pos = 0
        for m in INLINE_IDENT.finditer(part):
            word = m.group(2)
            if m.group(1) or ("_" in word and re.search(r"[A-Za-z0-9]", word)) or "->" in word:
                pieces.append(escape(part[pos:m.start()]))
                pieces.append("`%s`" % m.group(0))
                pos = m.end()
        pieces.append(escape(part[pos:]))
        out.append("".join(pieces))
    line = "".join(out)
    if line[:1] in ("#", ">", "+", "-", "=", "|"):
        line = "\\" + line
    line = re.sub(r"^(\d+)([.)])(\s|$)", r"\1\\\2\3", line)
    return line


def escape(s):
    s = s.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")
    return re.sub(r"<(?=[A-Za-z/!?])", r"\\<", s)


def prose(text):
    """Comment lines as markdown: paragraphs as text, indented runs (tables,
    formulas, examples) as preformatted blocks."""
    out = []
    k = 0
    while k < len(text):
        line = text[k]
        if not line.strip():
            k += 1
            continue
        if line[0] in " \t":
            run = []
            while k < len(text) and (text[k][:1] in (" ", "\t") or
                                     (not text[k].strip() and k + 1 < len(text) and
                                      text[k + 1][:1] in (" ", "\t"))):
                run.append(text[k])
                k += 1
            pad = min(len(l) - len(l.lstrip()) for l in run if l.strip())
            out += ["```text"] + [l[pad:] for l in run] + ["```", ""]
            continue
        while k < len(text) and text[k].strip() and text[k][0] not in " \t":
            out.append(inline(text[k]))
            k += 1
        out.append("")
    return out


def slugger():
    seen = {}

    def slug(heading):
        base = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        n = seen.get(base, 0)
        seen[base] = n + 1
        return base if n == 0 else "%s-%d" % (base, n)
    return slug


def render(headers):
    slug = slugger()
    toc = []
    body = []
    for h in headers:
        title = h["name"]
        toc.append("- [%s](#%s)" % (title, slug(title)))
        body += ["## %s" % title, ""]
        body += prose(h["intro"])
        if not any(e[0] == "group" for e in h["entries"]) and h["includes"]:
            body += ["```c"] + h["includes"] + ["```", ""]
        for e in h["entries"]:
            if e[0] == "note":
                body += prose(e[1])
                continue
            names = []
            for d in e[2]:
                names += ["`%s`" % n if not n.startswith("`") else n for n in d.names]
            heading = ", ".join(names)
            toc.append("  - [%s](#%s)" % (heading, slug(heading)))
            body += ["### %s" % heading, ""]
            if e[1]:
                body += prose(e[1])
            code = [h["lines"][n].rstrip() for n in range(e[2][0].first, e[2][-1].last + 1)]
            body += ["```c"] + code + ["```", ""]
    head = [
        "<!-- generated by test/doc/gen-api.sh from the headers; do not edit -->",
        "# libvidaction API reference",
        "",
        "> Generated by `test/doc/gen-api.sh` from the comments of the public headers",
        "> (`include/vidaction.h`, `include/vidaction/*.h`); do not edit. Change the",
        "> header comments and run `make api-docs`; `make check` fails when this file is",
        "> stale or a public function has no comment.",
        "",
        "## Contents",
        "",
    ]
    text = head + toc + [""] + body
    while text and text[-1] == "":
        text.pop()
    return "\n".join(text) + "\n"


def header_files(inc):
    umbrella = os.path.join(inc, "vidaction.h")
    if not os.path.isfile(umbrella):
        raise Fail("%s not found" % umbrella)
    sub = os.path.join(inc, "vidaction")
    present = sorted(f for f in os.listdir(sub) if f.endswith(".h")) if os.path.isdir(sub) else []
    with open(umbrella, encoding="utf-8") as f:
        included = re.findall(r'^\s*#\s*include\s*"vidaction/([^"/]+\.h)"', f.read(), re.M)
    order = []
    for n in included + present:
        if n in present and n not in order:
            order.append(n)
    return [(umbrella, "vidaction.h")] + [(os.path.join(sub, n), "vidaction/" + n) for n in order]


def shown(path):
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def main(argv):
    here = os.path.dirname(os.path.abspath(argv[0]))
    root = os.path.normpath(os.path.join(here, "..", ".."))
    inc = os.path.join(root, "include")
    out = os.path.join(root, "docs", "api.md")
    check = False
    args = argv[1:]
    while args:
        a = args.pop(0)
        if a == "--check":
            check = True
        elif a in ("--include", "--output"):
            if not args:
                print("%s: %s needs a value" % (PROG, a), file=sys.stderr)
                return 2
            if a == "--include":
                inc = args.pop(0)
            else:
                out = args.pop(0)
        elif a in ("-h", "--help"):
            with open(argv[0], encoding="utf-8") as f:
                for line in f.read().split("\n")[1:19]:
                    print(re.sub(r"^# ?", "", line))
            return 0
        else:
            print("%s: unknown argument '%s' (see --help)" % (PROG, a), file=sys.stderr)
            return 2
    try:
        headers = [parse_header(p, n) for p, n in header_files(inc)]
    except (Fail, OSError, UnicodeDecodeError) as e:
        print("%s: %s" % (PROG, e), file=sys.stderr)
        return 2
    text = render(headers)

    if not check:
        try:
            with open(out, encoding="utf-8") as f:
                if f.read() == text:
                    return 0
        except OSError:
            pass
        with open(out + ".tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(out + ".tmp", out)
        return 0

    rc = 0
    undocumented = [u for h in headers for u in h["undocumented"]]
    if undocumented:
        rc = 1
        print("%s: %d public function(s) with no documenting comment (a comment block directly "
              "above the declaration, or above the declarations it follows with no blank line):"
              % (PROG, len(undocumented)))
        for path, line, name in undocumented:
            print("%s:%d: %s" % (shown(path), line, name))
    try:
        with open(out, encoding="utf-8") as f:
            old = f.read()
    except OSError:
        old = None
    if old != text:
        rc = 1
        if old is None:
            print("%s: %s is missing: run `make api-docs` (sh test/doc/gen-api.sh)" % (PROG, shown(out)))
        else:
            print("%s: %s is stale: it differs from what the headers give now; run `make api-docs` "
                  "(sh test/doc/gen-api.sh) and commit the result. Difference:" % (PROG, shown(out)))
            diff = list(difflib.unified_diff(old.split("\n"), text.split("\n"), "committed",
                                             "generated", lineterm=""))
            for line in diff[2:42]:
                print("    " + line)
    return rc


sys.exit(main(sys.argv[1:]))
PYEOF
