"""RASP, the programming language of transformers: parser, IR, interpreter and environment."""

from .build import Applied, Function
from .env import Environment
from .errors import RaspError, RaspEvalError, RaspNameError, RaspSyntaxError, RaspTypeError

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
