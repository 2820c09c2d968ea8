"""Ensembles of trials: top-k, snapshot and seed ensembles, across input sizes and families.

``graph`` builds the one Keras model (per-member Resizing inside, Keras' own layers only), ``aggregate``
fits the mean / greedy selection / stacking on the validation split, ``build`` writes an ensemble folder
and judges it on the test split, ``figure`` draws accuracy against the number of members.
"""
