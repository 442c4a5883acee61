"""PROVIDED: the course machinery: the steps, the progress check, stubs, notebooks, and
helpers for notebooks.
"""
