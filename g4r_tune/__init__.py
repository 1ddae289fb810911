"""g4r-tune: hyperparameter search for GRU4Rec session-based recommenders."""

__version__ = "0.1.0"
