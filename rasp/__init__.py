"""RASP, the programming language of transformers: parser, IR, interpreter and environment."""

from rasp.build import Applied, Function
from rasp.env import Environment
from rasp.errors import RaspError, RaspEvalError, RaspNameError, RaspSyntaxError, RaspTypeError

__all__ = [
    "Applied",
    "Environment",
    "Function",
    "RaspError",
    "RaspEvalError",
    "RaspNameError",
    "RaspSyntaxError",
    "RaspTypeError",
]
