"""PROVIDED: Processes the workbook starts: a local Redis (no Docker, no root), a one-node
cluster, and the API or workers in the background.
"""
