"""The ground truth: SymPy derivations, the correctly rounded mpmath oracle, error metrics."""
