"""The environment's own contract, apart from any REPL: the running example it checks new
s-ops on, loads that keep going, and the names each statement's `Echo` reports."""

import pytest

import rasp
from rasp.env import Echo
from rasp.scope import Scope
from rasp.source import normalise_input, resolve_load
from rasp.values import builtin, unpack


def test_without_a_running_example_nothing_is_checked():
    env = rasp.Environment()
    assert env.example is None
    (echo,) = env.run("x = indices / 0;")  # would fail on any input: bound, unchecked
    assert echo.names == ("x",)
    with pytest.raises(rasp.RaspError, match="division by zero"):
        env.evaluate("x", "ab")


def test_a_running_example_checks_every_new_sop_where_it_is_written():
    env = rasp.Environment()
    env.example = "hello"
    with pytest.raises(rasp.RaspError, match="division by zero") as info:
        env.run("y = 1;\nx = 2 + (indices / 0);")
    assert (info.value.line, info.value.column) == (2, 10)  # the s-op, not `x = `
    assert "x" not in env.top.vars
    with pytest.raises(rasp.RaspError, match="invalid literal for int"):
        env.run("z = tokens_int;")  # "hello" is no list of ints
    env.example = [1, 2]
    (echo,) = env.run("z = tokens_int;")
    assert echo.bindings() == [("z", env.top.vars["z"])]


def test_set_example_is_the_languages_when_a_running_example_is_kept(tmp_path, monkeypatch):
    (tmp_path / "ints.rasp").write_text("set example [3, 1]\nn = tokens_int + 1;\n")
    monkeypatch.chdir(tmp_path)
    env = rasp.Environment()
    env.example = "hello"
    (load,) = env.run('load "ints";')
    assert env.example == [3, 1]  # the file's own next line was checked on it, and passed
    command = load.value[0]
    assert (command.kind, command.names, command.value) == ("command", ("set_example",), [3, 1])
    (echo,) = env.run("set selector example [7]")
    assert echo.value == [7] and env.example == [3, 1]  # only an s-op example is checked on
    with pytest.raises(rasp.RaspError, match="example not iterable: 5"):
        env.run("set example 5")
    script = rasp.Environment()  # no running example: the command is left to the host
    (echo,) = script.run("set example 5")
    assert echo.value is None and script.example is None


def test_a_load_stops_at_its_first_error_unless_it_keeps_going(tmp_path, monkeypatch):
    (tmp_path / "inner.rasp").write_text("i = undefined_name;\nj = 2;\n")
    (tmp_path / "outer.rasp").write_text('a = (1 +;\nload "inner";\nb = 3;\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(rasp.RaspSyntaxError):
        rasp.Environment().run('load "outer";')
    env = rasp.Environment(keep_going=True)
    (echo,) = env.run('load "outer";')
    assert [(e.path, e.line) for e in echo.errors] == [("outer.rasp", 1), ("inner.rasp", 1)]
    assert env.evaluate("b") == 3 and env.evaluate("j") == 2
    assert echo.names == ("outer",) and [e.kind for e in echo.value] == ["load", "assign"]
    assert echo.value[0].errors == echo.errors[1:]


def test_echo_names_are_a_tuple_never_joined_text():
    env = rasp.Environment()
    (pair,) = env.run("a, b = 1, [2, 3];")
    assert pair.names == ("a", "b") and pair.bindings() == [("a", 1), ("b", [2, 3])]
    (fn,) = env.run("def f(x) {\n return x;\n}")
    assert fn.bindings() == [("f", env.top.vars["f"])]
    (expr,) = env.run("1 + 1;")
    assert expr == Echo("expr", ("out",), 2, expr.statement) and expr.bindings() == []


def test_scopes_chain_and_export_public_names():
    base = Scope(vars={"lib": 1})
    caller = Scope(parent=base)
    file_scope = Scope(parent=base, exports=caller)
    for name in ("x", "_private", "out"):
        file_scope.set(name, 2)
    assert file_scope.lookup("lib") == 1 and set(caller.vars) == {"x"}
    with pytest.raises(rasp.RaspNameError, match="Undefined variable: y"):
        caller.lookup("y")


def test_value_rules_on_hand_built_values():
    assert unpack(["a"], [1, 2]) == [[1, 2]] and unpack(["a", "b"], [[1, 2]]) == [1, 2]
    with pytest.raises(rasp.RaspTypeError, match="expected 2 values, but got: 3"):
        unpack(["a", "b"], [1, 2, 3])
    names = rasp.Environment().display
    assert builtin("zip", [[1, 2], ["a", "b"]], names) == [[1, "a"], [2, "b"]]
    with pytest.raises(rasp.RaspEvalError, match="too long"):
        builtin("range", [10**9], names)
    assert normalise_input({"k": 1}) == ["k"]
    with pytest.raises(rasp.RaspNameError, match="could not find file: nowhere.rasp"):
        resolve_load("nowhere", None)
