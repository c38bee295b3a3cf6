"""What the API (`app`) and the worker (`worker`) share: settings and the Redis records."""
