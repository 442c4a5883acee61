"""The reference solutions: complete versions of the modules you write in lab/.

The stubs in lab/ are generated from these files (`python -m lab dev stubs`): each region
between `# BEGIN SOLUTION` and `# END SOLUTION` becomes a TODO. Try the exercise in
lab/ before you read the answer here.
"""
