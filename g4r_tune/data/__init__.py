"""The data layer: loading, preparation protocols, splits, statistics, subsets and the synthetic generator."""
