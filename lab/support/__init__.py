"""PROVIDED support code: you do not edit anything in lab/support/.

Starting Redis, running the API and a worker in the background from a notebook,
generating stubs, checking progress and the benchmark live here. Your files are lab/*.py.
"""
