"""PROVIDED: `python -m lab soak`: keyed POSTs under chaos, then an audit of what was lost."""
