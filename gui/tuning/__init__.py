"""Hyperparameter search and ensembles in the app: the tuning dock, the search-dimension
editor used by the inspector, and the ensemble dialog."""
