"""PROVIDED: the workbook's workers: RQ's classes extended by subclassing, and the command
lines of `python -m lab.worker` and `python -m lab.periodic`.
"""
