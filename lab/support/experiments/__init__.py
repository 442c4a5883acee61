"""PROVIDED: the experiments: `python -m lab bench ...`, `python -m lab soak`, and the
trust-boundary demonstration.
"""
