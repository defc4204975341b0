"""Speed: every implementation timed beside the copy and fused-pass walls of its device
(``bcebench bench``); pytest-benchmark times the cases in supervised child processes."""
