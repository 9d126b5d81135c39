"""The Dockerfile parser against the reference's examples and its corner cases."""

from __future__ import annotations

import pytest

from lamina.build.dockerfile import parse
from lamina.build.stages import plan
from lamina.errors import DockerfileError


def nodes(text: str) -> list[tuple[str, tuple[str, ...]]]:
    return [(n.keyword, n.args) for n in parse(text).nodes]


# --- parser directives -------------------------------------------------------------------

def test_directives_at_the_top() -> None:
    df = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM x\n")
    assert df.directives == {"syntax": "docker/dockerfile:1", "escape": "`"}
    assert df.escape == "`"


def test_directive_keys_are_case_insensitive_and_spaces_allowed() -> None:
    df = parse("#  ESCAPE = `\nFROM x\n")
    assert df.escape == "`"


@pytest.mark.parametrize("text", [
    "FROM x\n# escape=`\nRUN a\n",  # after an instruction: a comment
    "# comment\n# escape=`\nFROM x\n",  # after a comment: a comment
    "\n# escape=`\nFROM x\n",  # after an empty line: a comment
    "# unknowndirective=value\n# escape=`\nFROM x\n",  # an unknown one ends the directives
])
def test_directives_end_at_the_first_other_line(text: str) -> None:
    assert parse(text).escape == "\\"


def test_directive_twice_is_an_error() -> None:
    with pytest.raises(DockerfileError, match="only one escape parser directive can be used"):
        parse("# escape=\\\n# escape=`\nFROM x\n")


def test_invalid_escape_token() -> None:
    with pytest.raises(DockerfileError, match="invalid escape token 'x' does not match ` or"):
        parse("# escape=x\nFROM x\n")


def test_backtick_escape_windows_example() -> None:
    df = parse("# escape=`\n\nFROM microsoft/nanoserver\nCOPY testfile.txt c:\\\nRUN dir c:\\\n")
    assert [(n.keyword, n.args) for n in df.nodes] == [
        ("from", ("microsoft/nanoserver",)),
        ("copy", ("testfile.txt", "c:\\")),
        ("run", ("dir c:\\",)),
    ]


# --- lines, comments, continuations ------------------------------------------------------

def test_comments_and_blank_lines_are_dropped() -> None:
    assert nodes("# c\n\nFROM x\n   # indented comment\nRUN echo hello # not a comment\n") == [
        ("from", ("x",)), ("run", ("echo hello # not a comment",))]


def test_line_continuation_keeps_the_next_lines_whitespace() -> None:
    assert nodes("FROM x\nRUN echo a \\\n    && echo b\n") == [
        ("from", ("x",)), ("run", ("echo a     && echo b",))]


def test_comments_inside_a_continued_line_are_dropped() -> None:
    text = "FROM x\nRUN apt-get update \\\n# a comment\n    && apt-get install\n"
    assert nodes(text)[1] == ("run", ("apt-get update     && apt-get install",))


def test_empty_continuation_lines_are_skipped_with_a_warning() -> None:
    df = parse("FROM x\nRUN a \\\n\n b\n")
    assert df.nodes[1].args == ("a  b",)
    assert df.warnings


def test_continuation_with_trailing_spaces_after_the_escape() -> None:
    assert nodes("FROM x\nRUN a \\  \n b\n")[1] == ("run", ("a  b",))


def test_instructions_are_case_insensitive_and_lines_are_counted() -> None:
    df = parse("from x\n\nrun a \\\n b\nCmd c\n")
    assert [(n.keyword, n.start_line, n.end_line) for n in df.nodes] == [
        ("from", 1, 1), ("run", 3, 4), ("cmd", 5, 5)]


def test_byte_order_mark_is_ignored() -> None:
    assert nodes("\ufeffFROM x\n") == [("from", ("x",))]


# --- forms -------------------------------------------------------------------------------

def test_exec_and_shell_forms() -> None:
    df = parse('FROM x\nCMD ["echo", "hi"]\nCMD echo hi\nRUN ["a b"]\nENTRYPOINT [ "x" ]\n')
    assert [(n.args, n.json) for n in df.nodes[1:]] == [
        (("echo", "hi"), True), (("echo hi",), False), (("a b",), True), (("x",), True)]


def test_invalid_json_falls_back_to_the_shell_form() -> None:
    df = parse("FROM x\nCMD [\"echo\", 'hi']\nRUN [\"unterminated\"\nRUN {\"a\": 1}\n")
    assert [(n.args, n.json) for n in df.nodes[1:]] == [
        (("[\"echo\", 'hi']",), False), (('["unterminated"',), False),
        (('{"a": 1}',), False)]


def test_json_array_of_other_things_than_strings_is_an_error() -> None:
    with pytest.raises(DockerfileError, match="line 2: when using JSON array syntax, arrays "
                                              "must be comprised of strings only"):
        parse("FROM x\nRUN [1, 2]\n")


def test_an_escaped_escape_at_the_end_of_a_line_does_not_continue_it() -> None:
    text = ("FROM x\nENV C trailing\\\\backslash\\\\\nENV D not appended\n"
            "ENV E hello\\\n\\\nworld\n")
    assert nodes(text)[1:] == [("env", ("C", "trailing\\\\backslash\\\\")),
                               ("env", ("D", "not appended")), ("env", ("E", "helloworld"))]


def test_tabs_separate_like_spaces() -> None:
    assert nodes("FROM\tubuntu:14.04\nLABEL\tmaintainer\tA B <a@b> (@c)\nENV\tPATH\t/go:$PATH\n") \
        == [("from", ("ubuntu:14.04",)), ("label", ("maintainer", "A B <a@b> (@c)")),
            ("env", ("PATH", "/go:$PATH"))]


@pytest.mark.parametrize(("text", "words"), [
    ("a=1 b='x y' c=\"p q\"", ["a=1", "b='x y'", 'c="p q"']),
    ("a='x\\' b=2", ["a='x\\'", "b=2"]),  # no escapes inside single quotes
    ('a="x\\" y" b=2', ['a="x\\" y"', "b=2"]),
    ('a="" b=\'\'', ['a=""', "b=''"]),
    ("a=b\\ c d", ["a=b\\ c", "d"]),
    ("a=b\\", ["a=b"]),  # an escape ending the text is dropped
])
def test_key_value_words(text: str, words: list[str]) -> None:
    from lamina.build.dockerfile import split_quoted

    assert split_quoted(text, "\\") == words


def test_copy_and_volume_lists() -> None:
    assert nodes('FROM x\nCOPY a b /c/\nCOPY ["a b", "/c d"]\nVOLUME /a /b\nVOLUME ["/v"]\n')[1:] \
        == [("copy", ("a", "b", "/c/")), ("copy", ("a b", "/c d")), ("volume", ("/a", "/b")),
            ("volume", ("/v",))]


def test_flags_are_split_from_arguments() -> None:
    node = parse("FROM x\nCOPY --from=build --chown=1:2 a /b\n").nodes[1]
    assert node.flags == ("--from=build", "--chown=1:2")
    assert node.args == ("a", "/b")


def test_env_forms() -> None:
    assert nodes('FROM x\nENV A=1 B="two words" C=three\\ words\nENV MY_NAME John Doe\n')[1:] \
        == [("env", ("A", "1", "B", '"two words"', "C", "three\\ words")),
            ("env", ("MY_NAME", "John Doe"))]


def test_label_forms() -> None:
    assert nodes('FROM x\nLABEL "com.example.vendor"="ACME" version=1.0 \\\n  a=b\n')[1] == (
        "label", ('"com.example.vendor"', '"ACME"', "version", "1.0", "a", "b"))


def test_onbuild_carries_its_trigger() -> None:
    node = parse("FROM x\nONBUILD ADD . /app/src\n").nodes[1]
    assert node.args == ("ADD . /app/src",)
    assert node.sub is not None and node.sub.keyword == "add"


def test_healthcheck_forms() -> None:
    df = parse('FROM x\nHEALTHCHECK --interval=5m --timeout=3s CMD curl -f http://localhost/\n'
               'HEALTHCHECK NONE\nHEALTHCHECK CMD ["true"]\n')
    assert [(n.args, n.flags) for n in df.nodes[1:]] == [
        (("CMD", "curl -f http://localhost/"), ("--interval=5m", "--timeout=3s")),
        (("NONE",), ()), (("CMD", "true"), ())]


# --- heredocs ----------------------------------------------------------------------------

def test_run_heredoc() -> None:
    df = parse("FROM x\nRUN <<EOF\napt-get update\napt-get install -y vim\nEOF\nCMD x\n")
    run = df.nodes[1]
    assert run.heredocs[0].name == "EOF"
    assert run.heredocs[0].content == "apt-get update\napt-get install -y vim\n"
    assert (run.start_line, run.end_line) == (2, 5)
    assert df.nodes[2].keyword == "cmd"


@pytest.mark.parametrize(("word", "expected"), [
    ("<<EOF", ("EOF", False, True)),
    ("<<-EOF", ("EOF", True, True)),
    ('<<"EOF"', ("EOF", False, False)),
    ("<<'EOF'", ("EOF", False, False)),
    ('<<E"O"F', ("EOF", False, False)),
    ("<<-'END OF'", ("END OF", True, False)),
    ("<<", None),
    ("<<<EOF", None),
    ("a<<EOF", None),
])
def test_heredoc_words(word: str, expected: tuple[str, bool, bool] | None) -> None:
    from lamina.build.dockerfile import parse_heredoc

    assert parse_heredoc(word) == expected


def test_several_heredocs_and_quoted_delimiters() -> None:
    df = parse("FROM x\nCOPY <<FILE1 <<'FILE2' /dest/\n$A\nFILE1\n$B\nFILE2\n")
    docs = df.nodes[1].heredocs
    assert [(d.name, d.content, d.expand) for d in docs] == [
        ("FILE1", "$A\n", True), ("FILE2", "$B\n", False)]


def test_chomped_heredoc_strips_leading_tabs() -> None:
    doc = parse("FROM x\nRUN <<-EOT sh\n\techo hi\n\tEOT\n").nodes[1].heredocs[0]
    assert doc.chomp and doc.text() == "echo hi\n"


def test_heredoc_in_json_form_is_not_a_heredoc() -> None:
    assert parse('FROM x\nRUN ["cat", "<<EOF"]\n').nodes[1].heredocs == ()


def test_unterminated_heredoc() -> None:
    with pytest.raises(DockerfileError, match="line 2: unterminated heredoc"):
        parse("FROM x\nRUN <<EOF\necho\n")


# --- errors name the line ----------------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ("FROM x\nRUN a\nFRM y\n", "dockerfile parse error on line 3: unknown instruction: FRM"),
    ("FROM x\n\nRUN a \\\n b\nBOGUS\n", "on line 5: unknown instruction: BOGUS"),
    ("FROM x\nENV\n", "on line 2: ENV requires at least one argument"),
    ("FROM x\nENV A\n", "on line 2: ENV must have two arguments"),
    ("FROM x\nENV A=1 B\n", 'on line 2: Syntax error - can\'t find = in "B". Must be of '
                            "the form: name=value"),
    ("FROM x\nLABEL a\n", "on line 2: LABEL requires at least two arguments"),
    ("FROM x\nENV =1\n", "on line 2: ENV names can not be blank"),
    ("FROM x\nONBUILD ONBUILD RUN a\n", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("FROM x\nONBUILD FROM y\n", "FROM isn't allowed as an ONBUILD trigger"),
    ("FROM x\nONBUILD MAINTAINER y\n", "MAINTAINER isn't allowed as an ONBUILD trigger"),
])
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(DockerfileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(text)


@pytest.mark.parametrize(("text", "message"), [
    ("RUN a\n", "line 1: no build stage in current context"),
    ("ARG A\nENV B=1\nFROM x\n", "line 2: no build stage in current context"),
    ("FROM a b\n", "line 1: FROM requires either one or three arguments"),
    ("FROM a AT b\n", "line 1: second argument should be AS"),
    ("FROM a AS 1b\n", 'invalid name for build stage: "1b"'),
    ("FROM a AS b\nFROM c AS b\n", 'line 2: duplicate stage name "b"'),
    ("FROM x\nCOPY a\n", "line 2: COPY requires at least two arguments, but only one"),
    ("FROM x\nCOPY --bogus=1 a b\n", "line 2: unknown flag: bogus"),
    ("FROM x\nCOPY --from a b\n", "line 2: missing a value on flag: from"),
    ("FROM x\nRUN --chown=1 a\n", "line 2: unknown flag: chown"),
    ("FROM x\nSHELL /bin/bash -c\n", "line 2: SHELL requires the arguments to be in JSON form"),
    ("FROM x\nUSER\n", "line 2: USER requires at least one argument"),
    ("FROM x\nCMD\n", "line 2: CMD requires at least one argument"),
    ("FROM x\nRUN\n", "line 2: RUN requires at least one argument"),
    ("FROM x\nCOPY --link=maybe a b\n", "expecting boolean value for flag link"),
    ("FROM x\nHEALTHCHECK FOO x\n", 'line 2: Unknown type "FOO" in HEALTHCHECK'),
    ("FROM x\nHEALTHCHECK\n", "line 2: HEALTHCHECK requires at least one argument"),
    ("FROM x\nHEALTHCHECK CMD\n", "line 2: Missing command after HEALTHCHECK CMD"),
    ("FROM x\nHEALTHCHECK NONE x\n", "line 2: HEALTHCHECK NONE takes no arguments"),
    ("FROM x\nCOPY a <<EOF\nx\nEOF\n", "line 2: COPY cannot accept a heredoc as a destination"),
    ("", "file with no instructions"),
    ("# just a comment\n", "file with no instructions"),
])
def test_plan_errors(text: str, message: str) -> None:
    with pytest.raises(DockerfileError, match=message):
        plan(parse(text))


def test_stages_and_meta_args() -> None:
    p = plan(parse("ARG V=1\nFROM --platform=linux/amd64 base:$V AS Build\nRUN a\n"
                   "FROM scratch\nCOPY --from=build /x /x\n"))
    assert [n.args for n in p.meta_args] == [("V=1",)]
    assert [(s.index, s.base, s.name, s.platform, len(s.instructions)) for s in p.stages] == [
        (0, "base:$V", "build", "linux/amd64", 1), (1, "scratch", None, None, 1)]
    assert p.stages[1].display == "stage-1"


def test_reference_example_dockerfile() -> None:
    text = """\
# syntax=docker/dockerfile:1
FROM ubuntu:22.04 AS base
LABEL org.opencontainers.image.authors="org@example.com"
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && \\
    apt-get install -y --no-install-recommends \\
        ca-certificates curl && \\
    rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --chmod=755 <<EOF /app/run.sh
#!/bin/sh
echo "hello"
EOF
EXPOSE 80/tcp 443
VOLUME ["/data"]
USER nobody:nogroup
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s CMD ["/app/run.sh"]
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENTRYPOINT ["/app/run.sh"]
CMD ["--help"]
"""
    df = parse(text)
    p = plan(df)
    assert [n.keyword for n in p.stages[0].instructions] == [
        "label", "env", "run", "workdir", "copy", "expose", "volume", "user", "stopsignal",
        "healthcheck", "shell", "entrypoint", "cmd"]
    copy = p.stages[0].instructions[4]
    assert copy.heredocs[0].content == '#!/bin/sh\necho "hello"\n'
    assert copy.flags == ("--chmod=755",)
    assert p.stages[0].instructions[2].args == (
        "apt-get update &&     apt-get install -y --no-install-recommends         "
        "ca-certificates curl &&     rm -rf /var/lib/apt/lists/*",)
