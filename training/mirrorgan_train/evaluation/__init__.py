"""The parts of `python -m mirrorgan_train.evaluate` (evaluate.py runs them; its docstring gives the protocols)."""
