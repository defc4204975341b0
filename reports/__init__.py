"""Comparison reports built from results files, and measurements committed with their date and
device (design: reports/)."""
