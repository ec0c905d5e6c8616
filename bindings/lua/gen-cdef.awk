# Part of gen-cdef.sh: turns preprocessed vidaction.h (with line markers) into
# ffi.cdef text. Top-level declarations are split at ';' (and at the '}' that
# ends a function body), whitespace is normalised, struct and enum bodies are
# written one member per line, and a comment names the header each run of
# declarations comes from. Lines `vida_cdef_define "NAME" value ;` (added by
# gen-cdef.sh for #define constants) become one enum at the end.
# Variable inc: the include directory with a trailing '/', cut from file names.

function trim(s) {
    sub(/^ +/, "", s)
    sub(/ +$/, "", s)
    return s
}

# One canonical spacing: single spaces, none inside () [] or before , ; and one after ','.
function norm(s) {
    gsub(/[ \t]+/, " ", s)
    gsub(/ ?, ?/, ", ", s)
    gsub(/ ;/, ";", s)
    gsub(/\( /, "(", s)
    gsub(/ \)/, ")", s)
    gsub(/ ?\[ ?/, "[", s)
    gsub(/ \]/, "]", s)
    return trim(s)
}

# Splits s at the separator character sep where no bracket is open; parts into a[1..n].
function split_top(s, sep, a,    n, i, c, d, cur) {
    n = 0
    d = 0
    cur = ""
    for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (c == "{" || c == "(" || c == "[")
            d++
        else if (c == "}" || c == ")" || c == "]")
            d--
        if (c == sep && d == 0) {
            a[++n] = cur
            cur = ""
        } else
            cur = cur c
    }
    if (trim(cur) != "")
        a[++n] = cur
    return n
}

function emit(text, multi) {
    if (stmt_file != last_file) {
        printf "%s/* %s */\n", (n_out ? "\n" : ""), stmt_file
        last_file = stmt_file
    } else if (multi || last_multi)
        printf "\n"
    printf "%s\n", text
    n_out++
    last_multi = multi
}

function finish(s,    op, cl, head, body, tail, n, i, parts, m, text, is_enum, name, t) {
    s = trim(s)
    if (s == "" || s == ";")
        return
    if (s ~ /^vida_cdef_define "/) {
        name = s
        sub(/^vida_cdef_define "/, "", name)
        sub(/".*$/, "", name)
        s = norm(substr(s, length("vida_cdef_define \"") + length(name) + 2))
        sub(/;$/, "", s)
        s = trim(s)
        # integer constant expressions only: integers, VIDA_* enum constants, operators
        t = s
        gsub(/VIDA_[A-Za-z0-9_]+/, "0", t)
        gsub(/0[xX][0-9A-Fa-f]+[uUlL]*/, "0", t)
        gsub(/[0-9]+[uUlL]*/, "0", t)
        if (t ~ /0/ && t ~ /^[-+*\/%()<>|&^~!?: 0]+$/)
            defines[++n_defines] = name " = " s
        return
    }
    if (s ~ /^(static|_Static_assert|static_assert|inline|__inline)[ (]/)
        return
    if (is_definition)
        return
    op = index(s, "{")
    if (op == 0) {
        emit(norm(s), 0)
        return
    }
    # a struct, union or enum with a body: head { members } tail;
    cl = length(s)
    while (cl > 0 && substr(s, cl, 1) != "}")
        cl--
    head = norm(substr(s, 1, op - 1))
    body = substr(s, op + 1, cl - op - 1)
    tail = norm(substr(s, cl + 1))
    is_enum = head ~ /(^| )enum( |$)/
    n = split_top(body, is_enum ? "," : ";", parts)
    text = head " {"
    m = 0
    for (i = 1; i <= n; i++) {
        parts[i] = norm(parts[i])
        if (parts[i] == "")
            continue
        if (m++)
            text = text (is_enum ? "," : "")
        text = text "\n    " parts[i] (is_enum ? "" : ";")
    }
    text = text "\n}" (tail ~ /^;/ ? "" : " ") tail
    emit(text, 1)
}

BEGIN {
    cur = ""
    depth = 0
    in_str = 0
    n_defines = 0
    n_out = 0
    file = ""
    stmt_file = ""
    last_file = ""
    last_multi = 0
    is_definition = 0
}

# line markers: # LINE "FILE" FLAGS
/^#/ {
    f = $0
    if (f ~ /^# *[0-9]+ "/) {
        sub(/^# *[0-9]+ "/, "", f)
        sub(/".*$/, "", f)
        if (index(f, inc) == 1)
            f = substr(f, length(inc) + 1)
        file = f
    }
    next
}

{
    line = $0 " "
    for (i = 1; i <= length(line); i++) {
        c = substr(line, i, 1)
        if (c == "\t")
            c = " "
        if (in_str) {
            cur = cur c
            if (c == "\\") {
                i++
                cur = cur substr(line, i, 1)
            } else if (c == in_str)
                in_str = 0
            continue
        }
        if (c == " ") {
            if (cur != "" && substr(cur, length(cur), 1) != " ")
                cur = cur " "
            continue
        }
        if (trim(cur) == "")
            stmt_file = file
        if (c == "\"" || c == "'") {
            in_str = c
            cur = cur c
            continue
        }
        if (c == "{") {
            # a body after ')' at the top level is a function definition, not a type
            if (depth == 0 && trim(cur) ~ /\)$/)
                is_definition = 1
            depth++
        } else if (c == "}")
            depth--
        cur = cur c
        if ((c == ";" && depth == 0) || (c == "}" && depth == 0 && is_definition)) {
            finish(cur)
            cur = ""
            is_definition = 0
        }
    }
}

END {
    if (trim(cur) != "") {
        print "gen-cdef: unterminated declaration at the end: " trim(cur) > "/dev/stderr"
        exit 1
    }
    if (n_defines) {
        stmt_file = "#define constants (integer object-like macros)"
        text = "enum {"
        for (i = 1; i <= n_defines; i++)
            text = text "\n    " defines[i] (i < n_defines ? "," : "")
        emit(text "\n};", 1)
    }
}
