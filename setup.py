"""The one C extension's build (everything else is in pyproject.toml, where setuptools' own
table for extensions is still experimental). Optional: without a C compiler the install goes
on and `compiler/codec.py` reads token lists in pure Python."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("compiler._token_ids", ["compiler/_token_ids.c"], optional=True)])
