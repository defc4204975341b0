"""What counts as correct, as data: the policy's bounds, the known deviations and the platforms'
declared behaviour (TOML files beside this module), and which failing elements they explain; and a
project's declarations file, read and validated the same way."""
