"""Exhaustive sweeps: an implementation at every bit pattern of a dtype, sharded over Dask
(``bcebench sweep``), with statistics that merge exactly."""
