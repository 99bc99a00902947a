"""Files that run *inside* a function process (stdlib only). The executor imports bootstrap.py only for its
frame-protocol constants, so both ends share one definition."""
