"""The parts of `python -m mirrorgan_train.diagnose` (diagnose.py runs them; its docstring describes each part)."""


def log(msg):
    print(msg, flush=True)
