"""Files that run *inside* a function process (stdlib only, never imported by the harness or LocalStack)."""
