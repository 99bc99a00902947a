"""The host side of embedded mode (harness venv): start, find and stop LocalStack; provision its venv."""
