"""One module per framework behind one small interface (design: adapters/).

Each adapter says which implementations of BCE it offers, on which devices and dtypes; converts
arrays to and from NumPy without changing a bit; computes gradients and Hessians through the
framework's own autodiff; and synchronises for timing. A framework is imported only when its
adapter is used, and a missing one is reported as unavailable.
"""
