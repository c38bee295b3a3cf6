"""The `digitgan` command: local training and evaluation, the service, and remote control."""
